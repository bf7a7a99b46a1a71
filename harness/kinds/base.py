"""The kind interface: Example columns -> features -> batches -> outputs -> predictions -> files.

A feature is a dict of plain Python values (token ids unpadded); `collate` pads a list of them into
tensors dynamically. Decoding maps per-feature outputs back to one prediction per example, in the
objects the metric functions use. A kind also owns its submission format: it writes its predictions and
reads prediction and gold files back for the scorer (helpers: harness.kinds.submission).

Kinds are plugins: a `Kind` subclass registered in the entry point group `xstilts.kinds`. A kind module
imports no torch at module level (planning imports it to ask `trains_head`).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from pathlib import Path
from typing import Any

from harness.hparams import Hparams
from harness.kinds.submission import SubmissionFile
from harness.spec import TaskSpec


class Kind(ABC):
    """Base class; subclasses set `name` and implement the abstract methods.

    Training calls `featurize`, `build_head`, `collate_for_training`, `forward` and `loss`. Evaluation
    (harness.evaluation, the one path for stages, dev scoring and `xstilts evaluate`) calls
    `resolve_settings` once, `prepare` per language, then `predict` and `gold` per split and language.
    The scorer (harness.scoring) calls `read_gold`, `read_submission` and `check_submission`.
    """

    name = ""
    submission_ext = "tsv"
    trains_head = True
    """Whether tasks of this kind train a head in the target phase; False: the encoder is evaluated as it
    is (retrieval), with no target phase and straight from `xstilts evaluate`."""
    text_fields: tuple[str, ...] = ()
    """The canonical columns of free text the kind reads (what a training-data augmentation may rewrite): a
    string per row, a list of words per row ("tokens", aligned with "tags"), or a list of strings ("choices");
    a span-QA "context" comes with "answers" whose offsets must follow it."""
    pool_columns: tuple[str, ...] = ()
    """Columns that hold a candidate pool rather than one value per example: a capped subset of a split
    (dev scoring during training, `eval_examples`) keeps them whole."""

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

    @abstractmethod
    def featurize(self, columns: dict[str, list], tokenizer: Any, task: TaskSpec, hp: Hparams,
                  with_labels: bool = True) -> list[dict]:
        """One feature or more per example (a dict with `input_ids` and `example`, labels if asked)."""

    @abstractmethod
    def build_head(self, hidden_size: int, task: TaskSpec, hp: Hparams) -> Any:
        """The task head (a torch module) on top of an encoder with `hidden_size`."""

    @abstractmethod
    def forward(self, encoder: Any, head: Any, batch: dict) -> Any:
        """The head's outputs (logits) for a collated batch."""

    @abstractmethod
    def loss(self, logits: Any, batch: dict) -> Any:
        """The training loss of `forward`'s outputs against the batch's labels."""

    @abstractmethod
    def decode(self, outputs: list, features: list[dict], columns: dict[str, list], task: TaskSpec,
               settings: dict | None = None) -> Any:
        """Per-feature outputs -> one prediction per example, in the metric's format."""

    @abstractmethod
    def gold(self, columns: dict[str, list], task: TaskSpec, settings: dict | None = None) -> Any:
        """Gold labels in the metric's format, or None when the split is unlabelled."""

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

    # ------------------------------------------------------------------ submission format

    @abstractmethod
    def write_predictions(self, path: Path, predictions: Any) -> None:
        """Write `predict`'s output for one split and language as a file of the XTREME submission layout."""

    @abstractmethod
    def read_submission(self, path: Path, task: TaskSpec) -> SubmissionFile:
        """A prediction file (as `write_predictions` writes it) read back: the metric's `pred` and the line
        of each item; a malformed file is a UserError naming file, line, what and the fix."""

    @abstractmethod
    def read_gold(self, path: Path, task: TaskSpec) -> SubmissionFile:
        """A gold file of the submission layout read back: the metric's `gold` and the line of each item."""

    @abstractmethod
    def check_submission(self, task: TaskSpec, pred: SubmissionFile, gold: SubmissionFile) -> None:
        """A UserError (file:line: what; fix) unless the predictions fit the gold file: counts, label
        sets, tags per token, question ids, whatever the metric needs to score them."""


def encode(encoder: Any, batch: dict) -> Any:
    """Last hidden states of the encoder for a padded batch."""
    return encoder(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).last_hidden_state
