"""raie_core: the pure RAIE library (data, protocol, backbones, regions, adapters, metrics).

No prefect, no mlflow, no environment or argv, no file access except explicit
``load``/``save`` functions that take a path (HOUSE_STYLE, enforced by tests/test_architecture.py).
"""

__version__ = "0.1.0"
