"""Multiple choice (HellaSwag, Cosmos QA, CommonsenseQA): one score per choice, softmax over choices.

Canonical columns: context (optional), question (optional), choices (list of strings), label (int index
or None). Each choice is encoded as the pair (context [+ question], choice); a linear head on the first
token gives its score; cross-entropy runs over the choices of an example. Predictions are choice indices.
"""

from __future__ import annotations

from typing import Any

from harness.errors import UserError
from harness.hparams import Hparams
from harness.kinds.base import Kind, encode
from harness.kinds.submission import LabelPerLine
from harness.spec import TaskSpec

MASKED_SCORE = -1e4
"""Score of padding choices (examples with fewer choices than the widest in the batch)."""


def _firsts(columns: dict[str, list]) -> list[str]:
    """context [+ " " + question] per example."""
    parts = [columns[c] for c in ("context", "question") if c in columns]
    if not parts:
        raise UserError("multiple_choice: the task maps neither `context` nor `question`; map at least one")
    return [" ".join(p for p in row if p) for row in zip(*parts, strict=True)]


class MultipleChoiceKind(LabelPerLine, Kind):
    name = "multiple_choice"

    def featurize(self, columns, tokenizer, task: TaskSpec, hp: Hparams, with_labels=True) -> list[dict]:
        firsts, choices = _firsts(columns), columns["choices"]
        flat_a = [a for a, cs in zip(firsts, choices, strict=True) for _ in cs]
        flat_b = [c for cs in choices for c in cs]
        enc = tokenizer(flat_a, flat_b, truncation=True, max_length=hp.max_seq_length) if flat_a else None
        ids = enc["input_ids"] if enc is not None else []
        features, start = [], 0
        for i, cs in enumerate(choices):
            features.append({"input_ids": ids[start:start + len(cs)], "example": i})
            start += len(cs)
        if with_labels:
            for i, (f, label) in enumerate(zip(features, columns["label"], strict=True)):
                if label is None or not 0 <= int(label) < len(choices[i]):
                    raise UserError(f"task '{task.name}': example {i} has label {label!r}, not "
                                    f"an index into its {len(choices[i])} choices; check the field mapping")
                f["labels"] = int(label)
        return features

    @staticmethod
    def length(feature: dict) -> int:
        return max(len(ids) for ids in feature["input_ids"])

    def collate(self, features: list[dict], pad_id: int) -> dict:
        """input_ids/attention_mask [batch, choices, longest]; choice_mask marks real choices."""
        import numpy as np
        import torch

        n_choices = max(len(f["input_ids"]) for f in features)
        width = max(self.length(f) for f in features)
        ids = np.full((len(features), n_choices, width), pad_id, dtype=np.int64)
        mask = np.zeros_like(ids)
        real = np.zeros((len(features), n_choices), dtype=bool)
        for i, f in enumerate(features):
            for j in range(n_choices):
                row = f["input_ids"][j] if j < len(f["input_ids"]) else f["input_ids"][0]
                ids[i, j, : len(row)] = row
                mask[i, j, : len(row)] = 1
                real[i, j] = j < len(f["input_ids"])
        batch = {"input_ids": torch.from_numpy(ids), "attention_mask": torch.from_numpy(mask),
                 "choice_mask": torch.from_numpy(real)}
        if "labels" in features[0]:
            batch["labels"] = torch.tensor([f["labels"] for f in features], dtype=torch.long)
        return batch

    def build_head(self, hidden_size: int, task: TaskSpec, hp: Hparams):
        from torch import nn

        return nn.Sequential(nn.Dropout(hp.head_dropout), nn.Linear(hidden_size, 1))

    def forward(self, encoder, head, batch) -> Any:
        b, c, width = batch["input_ids"].shape
        flat = {"input_ids": batch["input_ids"].view(b * c, width),
                "attention_mask": batch["attention_mask"].view(b * c, width)}
        scores = head(encode(encoder, flat)[:, 0]).view(b, c)
        return scores.masked_fill(~batch["choice_mask"], MASKED_SCORE)

    def loss(self, logits, batch):
        import torch.nn.functional as F

        return F.cross_entropy(logits.float(), batch["labels"])

    def decode(self, outputs, features, columns, task: TaskSpec, settings=None) -> list[str]:
        return [str(int(o.argmax())) for o in outputs]

    def gold(self, columns, task: TaskSpec, settings=None) -> list[str] | None:
        labels = columns.get("label")
        if not labels or any(label is None for label in labels):
            return None
        return [str(int(label)) for label in labels]
