"""Official metrics, by name: plugins registered in the entry point group `xstilts.metrics`.

A metric is a callable (gold, pred, language) -> {name: percentage} (`Metric`). The objects are those of
the XTREME submission layout once read by the task's kind: label lists for classification and Tatoeba,
lists of tag sequences for tagging, {id: answer} with SQuAD-format gold for QA, (src, trg) id pairs for
BUCC. The pipeline scores its own predictions through these same functions.
"""

from __future__ import annotations

from typing import Any, Protocol

from harness import registry


class Metric(Protocol):
    """Scores predictions against gold in one language; every value is a percentage."""

    def __call__(self, gold: Any, pred: Any, language: str) -> dict[str, float]: ...


def metric(name: str) -> Metric:
    """The metric registered as `name`; an unknown name is a UserError with a suggestion."""
    return registry.get("metric", name)
