"""Task kinds: each owns featurisation, its head, its loss, decoding and how it is evaluated.

A kind is looked up by name from `KINDS` ("module:Class", imported lazily so that planning and
validation never import torch).
"""

from __future__ import annotations

from importlib import import_module

KINDS: dict[str, str] = {
    "classification": "harness.kinds.classification:ClassificationKind",
    "mlm": "harness.kinds.mlm:MLMKind",
    "retrieval": "harness.kinds.retrieval:RetrievalKind",
    "tagging": "harness.kinds.tagging:TaggingKind",
    "span_qa": "harness.kinds.span_qa:SpanQAKind",
    "multiple_choice": "harness.kinds.multiple_choice:MultipleChoiceKind",
}



def kind_class(name: str) -> type:
    """The kind class registered as `name` (its module imports no torch at import time)."""
    if name not in KINDS:
        raise KeyError(f"no kind named {name!r}; known: {sorted(KINDS)}")
    module, attr = KINDS[name].split(":")
    return getattr(import_module(module), attr)


def kind_trains(name: str) -> bool:
    """Whether tasks of this kind get a target training phase (the kind's `trains_head`)."""
    return bool(kind_class(name).trains_head)


def get_kind(name: str):
    """An instance of the kind registered as `name`."""
    return kind_class(name)()
