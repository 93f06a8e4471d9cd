"""DESIGN §10's quality bars and the fields they are judged on (headline, paired columns)."""

from __future__ import annotations

import argparse
from typing import Any

from raie_core import report

RETENTION_TOLERANCE = 0.02
"""DESIGN §10: RAIE's held-out S NDCG@10 may trail base's by at most this share."""
REFERENCE_CODE_NDCG = 0.0362
"""T NDCG@10 of the paper's public RAIE on ML-100K, paper preset, seqrec backbone, 3 seeds
(research/reference-run.md); only comparable on the whole data set."""
REFERENCE_FACTOR = 1.2
"""DESIGN §10: RAIE should reach this multiple of ``REFERENCE_CODE_NDCG``."""
DATA_BUDGETS = ("max_users", "max_windows", "max_update_windows", "max_eval_windows")


def headline_field(preset: str, validate: bool = False) -> str:
    """The field the bars are judged on: prequential (streaming), V (--validate) or T NDCG@10."""
    return f"{'P' if preset == 'streaming' else 'V' if validate else 'T'}_NDCG@10"


def paired_fields(result: dict[str, Any]) -> list[str]:
    """Columns of the paired table present in this run (method - base, raie - method)."""
    names = {k for row in result["paired"] for k in row if k != "method"}
    return [f for f in (f"{result['headline']} - base", "raie - method") if f in names]


def quality_bars(result: dict[str, Any], args: argparse.Namespace) -> list[dict[str, Any]]:
    """DESIGN §10's quality bars, judged on this run's seed means (none without raie and base).

    Each bar is {"bar": what is compared, "raie": RAIE's value, "target": the value to reach,
    "met": raie >= target}. The headline field is compared with the best other method
    (RAIE's ablations excluded) in the paper preset and with `lora` in the streaming preset;
    held-out S NDCG@10 with ``1 - RETENTION_TOLERANCE`` times base's; T NDCG@10 with
    ``REFERENCE_FACTOR`` times the paper's public code, on the whole ML-100K with seqrec only.
    The headline bar also carries the paired "raie - method" cell (seed s.e., user interval).
    """
    means = {
        str(r["method"]): {k: v["mean"] for k, v in r.items() if k != "method"}
        for r in result["rows"]
    }
    if "raie" not in means or "base" not in means:
        return []
    head, raie = result["headline"], means["raie"]
    streaming = args.preset == "streaming"
    why = "the streaming bar" if streaming else "best baseline"
    candidates = ["lora"] if streaming else list(means)
    rivals = [m for m in candidates if m in means and m != "raie" and not m.startswith("raie-")]
    bars = []
    if rivals:
        best = max(rivals, key=lambda m: means[m][head])
        paired = next(r for r in result["paired"] if r["method"] == best)
        bars.append(
            {
                **_bar(f"{head} >= {best} ({why})", raie[head], means[best][head]),
                "paired": paired.get("raie - method"),
            }
        )
    retention = (1 - RETENTION_TOLERANCE) * means["base"]["S_NDCG@10"]
    bars.append(
        _bar(f"S_NDCG@10 within {RETENTION_TOLERANCE:.0%} of base", raie["S_NDCG@10"], retention)
    )
    whole = all(getattr(args, name, None) is None for name in DATA_BUDGETS)
    if head == "T_NDCG@10" and args.dataset == "ml-100k" and args.backbone == "seqrec" and whole:
        target = REFERENCE_FACTOR * REFERENCE_CODE_NDCG
        text = f"T_NDCG@10 >= {REFERENCE_FACTOR}x the paper's public code ({REFERENCE_CODE_NDCG})"
        bars.append(_bar(text, raie[head], target))
    return bars


def _bar(text: str, value: float, target: float) -> dict[str, Any]:
    return {"bar": text, "raie": value, "target": target, "met": bool(value >= target)}


def format_bars(bars: list[dict[str, Any]]) -> list[str]:
    """One line per bar: met / NOT met, what, RAIE's value against the target."""
    lines = []
    for b in bars:
        verdict = "met" if b["met"] else "NOT met"
        line = f"{verdict:7s}  {b['bar']}: raie {b['raie']:.4f}, target {b['target']:.4f}"
        if b.get("paired"):
            line += f"; raie - method {report.cell_text(b['paired'])}"
        lines.append(line)
    return lines
