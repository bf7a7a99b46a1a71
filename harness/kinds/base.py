"""The kind interface: Example columns -> features -> batches -> outputs -> predictions.

A feature is a dict of plain Python values (token ids unpadded); `collate` pads a list of them into
tensors dynamically. Decoding maps per-feature outputs back to one prediction per example, in the
objects the metric functions and the submission layout use.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from harness.hparams import Hparams
from harness.spec import TaskSpec


class Kind:
    """Base class; subclasses set `name` and implement the abstract methods.

    Evaluation (harness.evaluation, the one path for stages, dev scoring and `xstilts evaluate`) calls
    `resolve_settings` once, `prepare` per language, then `predict` and `gold` per split and language.
    """

    name = ""
    submission_ext = "tsv"
    trains_head = True
    """Whether tasks of this kind train a head in the target phase; False: the encoder is evaluated as it
    is (retrieval), with no target phase and straight from `xstilts evaluate`."""

    def resolve_settings(self, model: Any, spec: TaskSpec, settings: dict) -> dict:
        """Kind settings with defaults filled in and model-dependent choices made (recorded in results)."""
        return settings

    def prepare(self, model: Any, tokenizer: Any, spec: TaskSpec, hp: Hparams, lang: str, settings: dict,
                load: Any) -> dict:
        """Settings for one language, e.g. calibrated on its dev split (`load(split, lang)` -> columns)."""
        return settings

    def predict(self, model: Any, tokenizer: Any, spec: TaskSpec, columns: dict[str, list], hp: Hparams,
                lang: str, settings: dict) -> Any:
        """Predictions for one split of one language, in the metric's format: the trained head's outputs
        over the featurised examples, decoded."""
        from harness.predict import predict

        features = self.featurize(columns, tokenizer, spec, hp, with_labels=False)
        outputs = predict(model, spec.name, self, features, hp, tokenizer.pad_token_id)
        return self.decode(outputs, features, columns, spec, settings)

    def featurize(self, columns: dict[str, list], tokenizer: Any, task: TaskSpec, hp: Hparams,
                  with_labels: bool = True) -> list[dict]:
        raise NotImplementedError

    def build_head(self, hidden_size: int, task: TaskSpec, hp: Hparams):
        raise NotImplementedError

    def forward(self, encoder: Any, head: Any, batch: dict) -> Any:
        raise NotImplementedError

    def loss(self, logits: Any, batch: dict) -> Any:
        raise NotImplementedError

    def decode(self, outputs: list, features: list[dict], columns: dict[str, list], task: TaskSpec,
               settings: dict | None = None) -> Any:
        raise NotImplementedError

    def gold(self, columns: dict[str, list], task: TaskSpec, settings: dict | None = None) -> Any:
        """Gold labels in the metric's format, or None when the split is unlabelled."""
        raise NotImplementedError

    def collate_for_training(self, features: list[dict], pad_id: int, position: int) -> dict:
        """The training batch at `position` of the schedule. Kinds whose collation draws random numbers
        derive them from the position, so a resumed run, or any number of loader workers, sees the same
        batches as one uninterrupted run."""
        return self.collate(features, pad_id)

    def collate(self, features: list[dict], pad_id: int) -> dict:
        """Pad input_ids to the longest feature of the batch; copy every other int field as a tensor."""
        import torch

        width = max(len(f["input_ids"]) for f in features)
        ids = torch.full((len(features), width), pad_id, dtype=torch.long)
        mask = torch.zeros((len(features), width), dtype=torch.long)
        for i, f in enumerate(features):
            ids[i, : len(f["input_ids"])] = torch.tensor(f["input_ids"])
            mask[i, : len(f["input_ids"])] = 1
        batch = {"input_ids": ids, "attention_mask": mask}
        if "labels" in features[0]:
            batch["labels"] = torch.tensor([f["labels"] for f in features], dtype=torch.long)
        return batch

    @staticmethod
    def length(feature: dict) -> int:
        return len(feature["input_ids"])

    def write_predictions(self, path: Path, predictions: Any) -> None:
        """Write predictions in the XTREME submission layout (one item per line by default)."""
        if isinstance(predictions, dict):
            path.write_text(json.dumps(predictions, ensure_ascii=False, sort_keys=True), encoding="utf-8")
        else:
            path.write_text("".join(f"{p}\n" for p in predictions), encoding="utf-8")


def encode(encoder: Any, batch: dict) -> Any:
    """Last hidden states of the encoder for a padded batch."""
    return encoder(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).last_hidden_state
