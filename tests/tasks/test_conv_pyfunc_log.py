"""Tracker.log_pyfunc: a model logged from code lands under its run with a signature; one
that cannot predict its own input example is refused (MLflow itself only warns)."""

from pathlib import Path

import pandas as pd
import pytest
import yaml

from raie_core.errors import RaieStateError
from tasks.tracking import Tracker

MODEL = """
import mlflow


class Model(mlflow.pyfunc.PythonModel):
    def predict(self, context, model_input, params=None):
        {body}


mlflow.models.set_model(Model())
"""


def _log(tmp_path: Path, body: str) -> tuple[Tracker, str, str]:
    code = tmp_path / "model.py"
    code.write_text(MODEL.format(body=body))
    t = Tracker(artifact_root=tmp_path / "mlartifacts", tracking_uri=f"sqlite:///{tmp_path}/m.db")
    run_id = t.start_run("raie-test", "run")
    example = pd.DataFrame({"items": [[1, 2, 3]]})
    uri = t.log_pyfunc(
        run_id, "model", python_model=str(code), input_example=example, pip_requirements=[]
    )
    return t, run_id, uri


def test_a_model_from_code_is_logged_with_its_signature(tmp_path: Path) -> None:
    t, run_id, uri = _log(tmp_path, "return model_input")
    assert uri == f"runs:/{run_id}/model"
    folder = Path(t.run_info(run_id)["artifact_uri"]) / "model"
    mlmodel = yaml.safe_load((folder / "MLmodel").read_text())
    assert "items" in mlmodel["signature"]["inputs"]
    assert not list(folder.rglob("*.pkl"))


@pytest.mark.reliability
def test_a_model_that_cannot_predict_is_refused(tmp_path: Path) -> None:
    with pytest.raises(RaieStateError, match="saved without a signature"):
        _log(tmp_path, "raise ValueError('broken')")
