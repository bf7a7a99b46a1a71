"""Multiple choice (HellaSwag, Cosmos QA, CommonsenseQA): one score per choice, softmax over choices.

Canonical columns: context (optional), question (optional), choices (list of strings), label (int index
or None). Each choice is encoded as the pair (context [+ question], choice); a linear head on the first
token gives its score; cross-entropy runs over the choices of an example. Predictions are choice indices.

Submission (XTREME-R's XCOPA, the benchmark's one multiple-choice task): `jsonl`, one JSON object per example
with the chosen index as an integer under "label" ({"label": 1}), in the gold order; google-research/xtreme's
evaluate.py (`read_xcopa`) reads the "label" of every line of prediction and gold files and compares them.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from harness.errors import UserError
from harness.hparams import Hparams
from harness.kinds.base import Kind, encode
from harness.kinds.submission import SubmissionFile, check_labels, lines, write_lines
from harness.spec import TaskSpec

MASKED_SCORE = -1e4
"""Score of padding choices (examples with fewer choices than the widest in the batch)."""


def _firsts(columns: dict[str, list]) -> list[str]:
    """context [+ " " + question] per example."""
    parts = [columns[c] for c in ("context", "question") if c in columns]
    if not parts:
        raise UserError("multiple_choice: the task maps neither `context` nor `question`; map at least one")
    return [" ".join(p for p in row if p) for row in zip(*parts, strict=True)]


def read_json_labels(path: Path) -> SubmissionFile:
    """The "label" of each line of a JSON-lines file, as the choice index in text ("1"); a line that is not a
    JSON object with an integer "label" (evaluate.py would fail on it or never match it) names file and line."""
    labels, numbers = [], []
    for number, line in enumerate(lines(path), start=1):
        try:
            row = json.loads(line)
        except json.JSONDecodeError as exc:
            raise UserError(f"{path}:{number}: not a JSON object ({exc.msg}); write one object per line, "
                            'e.g. {"label": 1}') from None
        label = row.get("label") if isinstance(row, dict) else None
        if not isinstance(label, int) or isinstance(label, bool):
            raise UserError(f"{path}:{number}: no integer \"label\" (got {label!r}); write the chosen index as a "
                            'JSON integer, e.g. {"label": 1}')
        labels.append(str(label))
        numbers.append(number)
    return SubmissionFile(path, labels, numbers)


class MultipleChoiceKind(Kind):
    name = "multiple_choice"
    text_fields = ("context", "question", "choices")
    submission_ext = "jsonl"

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

    # ------------------------------------------------------------------ submission format (jsonl)

    def write_predictions(self, path: Path, predictions: list[str]) -> None:
        """One {"label": index} object per line."""
        write_lines(path, (json.dumps({"label": int(p)}) for p in predictions))

    def read_submission(self, path: Path, task: TaskSpec) -> SubmissionFile:
        return read_json_labels(path)

    def read_gold(self, path: Path, task: TaskSpec) -> SubmissionFile:
        return read_json_labels(path)

    def check_submission(self, task: TaskSpec, pred: SubmissionFile, gold: SubmissionFile) -> None:
        """One object per gold line (choice indices need no label set)."""
        check_labels(pred, gold, task.labels)
