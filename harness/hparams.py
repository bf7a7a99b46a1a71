"""Training hyper-parameters and how they are resolved.

Resolution order (later wins): the recipe defaults below (jiant's public XTREME recipe), the task's
`hparams`, the experiment's `hparams`, the experiment's `task_hparams[task]`, the arm's `hparams`.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import cache
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError, model_validator
from pydantic_core import PydanticCustomError

from harness.errors import UserError, did_you_mean, first_validation_error


class Hparams(BaseModel):
    """Every knob of one training or evaluation phase; each rule on a value is a constraint of its field.

    Values are read laxly: "1e-3", which YAML 1.1 reads as a string, is the number 0.001; "abc" for a
    number is an error.
    """

    model_config = ConfigDict(frozen=True, extra="forbid", use_attribute_docstrings=True)

    lr: float = Field(1e-5, gt=0)
    adam_eps: float = Field(1e-8, gt=0)
    weight_decay: float = Field(0.01, ge=0)
    """AdamW decoupled weight decay (jiant's recipe); never applied to biases or LayerNorm weights."""
    max_grad_norm: float = Field(1.0, gt=0)
    warmup_ratio: float = Field(0.1, ge=0, lt=1)
    batch_size: int = Field(32, ge=1)
    """Effective batch size (micro-batch x grad_accum)."""
    grad_accum: int = Field(1, ge=1)
    """Micro-batches per optimizer step; divides batch_size."""
    epochs: float = Field(3.0, gt=0)
    max_steps: int | None = Field(None, ge=1)
    """Optimizer steps; overrides epochs when set."""
    max_seq_length: int = Field(256, ge=8)
    doc_stride: int = Field(128, ge=0)
    eval_batch_size: int = Field(64, ge=1)
    eval_every: int = Field(1000, ge=1)
    """Evaluate on the dev subset every N optimizer steps (and at the end)."""
    eval_examples: int = Field(500, ge=1)
    """Size of the dev subset used for early stopping."""
    patience: int = Field(30, ge=1)
    """Stop after this many evaluations without improvement."""
    early_stop_on: Literal["en", "target"] = "en"
    """"en" (English dev) or "target" (dev sets of the target languages)."""
    max_train_examples: int | None = Field(None, ge=1)
    """Cap on training examples (debugging, smoke runs)."""
    mixed_precision: Literal["auto", "no", "bf16", "fp16"] = "auto"
    """"auto" (bf16 on a GPU that supports it, else fp32), "no", "bf16", "fp16"."""
    length_grouped: bool = True
    """Batch examples of similar length together (dynamic padding)."""
    num_workers: int = Field(0, ge=0)
    save_every: int = Field(1000, ge=1)
    """Write a resumable checkpoint every N optimizer steps."""
    head_dropout: float = Field(0.1, ge=0, lt=1)

    @model_validator(mode="after")
    def _grad_accum_divides_batch_size(self) -> Hparams:
        if self.batch_size % self.grad_accum:
            raise PydanticCustomError("grad_accum", "grad_accum must divide batch_size (batch_size {batch_size}, "
                                      "grad_accum {grad_accum})",
                                      {"batch_size": self.batch_size, "grad_accum": self.grad_accum})
        return self

    @property
    def micro_batch_size(self) -> int:
        return self.batch_size // self.grad_accum

    def to_dict(self) -> dict[str, Any]:
        return self.model_dump()


HPARAM_NAMES = tuple(Hparams.model_fields)


def check_hparams(values: Mapping[str, Any], where: str) -> None:
    """Raise a UserError, located at `where`, for an unknown name or an invalid value in one override layer
    (rules across fields, e.g. grad_accum dividing batch_size, are checked once the layers are merged, by
    `resolve`)."""
    check_names(values, where)
    for name, value in values.items():
        try:
            _field_validator(name).validate_python(value)
        except ValidationError as exc:
            raise UserError(f"{where}.{name}: {first_validation_error(exc)[1]} (got {value!r})") from None


@cache
def _field_validator(name: str) -> TypeAdapter:
    """The type and constraints of one Hparams field."""
    field = Hparams.model_fields[name]
    return TypeAdapter(Annotated[(field.annotation, *field.metadata)] if field.metadata else field.annotation)


def check_names(values: Mapping[str, Any], where: str) -> None:
    """Raise a UserError for an unknown hyper-parameter name in `values`."""
    for key in values:
        if key not in HPARAM_NAMES:
            raise UserError(f"{where}: unknown hyper-parameter '{key}'{did_you_mean(key, HPARAM_NAMES)}")


def resolve(*layers: Mapping[str, Any] | None, where: str = "hparams") -> Hparams:
    """Apply override layers in order over the recipe defaults."""
    merged: dict[str, Any] = {}
    for layer in layers:
        if layer:
            check_names(layer, where)
            merged.update(layer)
    try:
        return Hparams.model_validate(merged)
    except ValidationError as exc:
        loc, msg = first_validation_error(exc)
        if not loc:  # a rule across fields
            raise UserError(f"{where}: {msg}") from None
        raise UserError(f"{where}: {loc}: {msg} (got {merged.get(loc.split('.')[0])!r})") from None
