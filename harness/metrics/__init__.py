"""Official metrics, by name. Every function takes (gold, pred, language) and returns percentages.

The objects are those of the XTREME submission layout once read: label lists for classification and
Tatoeba, lists of tag sequences for tagging, {id: answer} with SQuAD-format gold for QA, (src, trg) id
pairs for BUCC. The pipeline scores its own predictions through these same functions.
"""

from __future__ import annotations

from collections.abc import Callable
from importlib import import_module
from typing import Any

METRICS: dict[str, str] = {
    "accuracy": "harness.metrics.classification:accuracy",
    "seqeval_2020": "harness.metrics.tagging:seqeval_2020",
    "squad": "harness.metrics.qa:squad",
    "squad_v2": "harness.metrics.qa:squad_v2",
    "accuracy_f1": "harness.metrics.classification:accuracy_f1",
    "mlqa": "harness.metrics.qa:mlqa",
    "bucc_f1": "harness.metrics.pairs:bucc_f1",
}


def metric(name: str) -> Callable[[Any, Any, str], dict[str, float]]:
    """The metric function registered as `name`."""
    module, attr = METRICS[name].split(":")
    return getattr(import_module(module), attr)
