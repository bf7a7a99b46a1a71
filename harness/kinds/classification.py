"""Sentence and sentence-pair classification (NLI, paraphrase): a head on the first token."""

from __future__ import annotations

from typing import Any

from harness.errors import UserError
from harness.hparams import Hparams
from harness.kinds.base import Kind, encode
from harness.kinds.submission import LabelPerLine
from harness.spec import TaskSpec


def _head(hidden_size: int, n_out: int, dropout: float):
    from torch import nn

    return nn.Sequential(
        nn.Dropout(dropout), nn.Linear(hidden_size, hidden_size), nn.Tanh(), nn.Dropout(dropout),
        nn.Linear(hidden_size, n_out),
    )


def label_name(value: Any, labels: tuple[str, ...]) -> Any:
    """A raw label as the task's label name: "1" and 1 both mean label "1" (hub columns differ in type)."""
    if value in labels or value is None:
        return value
    return str(value) if str(value) in labels else value


class ClassificationKind(LabelPerLine, Kind):
    name = "classification"
    text_fields = ("text_a", "text_b")

    def featurize(self, columns, tokenizer, task: TaskSpec, hp: Hparams, with_labels=True) -> list[dict]:
        text_b = columns.get("text_b")
        enc = tokenizer(columns["text_a"], text_b, truncation=True, max_length=hp.max_seq_length)
        features = [{"input_ids": ids, "example": i} for i, ids in enumerate(enc["input_ids"])]
        if with_labels:
            index = {label: k for k, label in enumerate(task.labels)}
            for f, raw in zip(features, columns["label"], strict=True):
                label = label_name(raw, task.labels)
                if label not in index:
                    raise UserError(f"task '{task.name}': label {label!r} is not one of {list(task.labels)}; "
                                    "the data does not match the task's label set")
                f["labels"] = index[label]
        return features

    def build_head(self, hidden_size: int, task: TaskSpec, hp: Hparams):
        return _head(hidden_size, len(task.labels), hp.head_dropout)

    def forward(self, encoder, head, batch) -> Any:
        return head(encode(encoder, batch)[:, 0])

    def loss(self, logits, batch):
        import torch.nn.functional as F

        return F.cross_entropy(logits.float(), batch["labels"])

    def decode(self, outputs, features, columns, task: TaskSpec, settings=None) -> list[str]:
        return [task.labels[int(o.argmax())] for o in outputs]

    def gold(self, columns, task: TaskSpec, settings=None) -> list[str] | None:
        labels = columns.get("label")
        if not labels or any(label is None for label in labels):
            return None
        return [label_name(label, task.labels) for label in labels]
