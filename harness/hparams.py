"""Training hyper-parameters and how they are resolved.

Resolution order (later wins): the recipe defaults below (jiant's public XTREME recipe), the task's
`hparams`, the experiment's `hparams`, the experiment's `task_hparams[task]`, the arm's `hparams`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields
from functools import cache
from typing import Any, get_type_hints

from pydantic import TypeAdapter, ValidationError

from harness.errors import UserError, did_you_mean, first_validation_error


@dataclass(frozen=True)
class Hparams:
    """Every knob of one training or evaluation phase."""

    lr: float = 1e-5
    adam_eps: float = 1e-8
    weight_decay: float = 0.01
    """AdamW decoupled weight decay (jiant's recipe); never applied to biases or LayerNorm weights."""
    max_grad_norm: float = 1.0
    warmup_ratio: float = 0.1
    batch_size: int = 32
    """Effective batch size (micro-batch x grad_accum)."""
    grad_accum: int = 1
    epochs: float = 3.0
    max_steps: int | None = None
    """Optimizer steps; overrides epochs when set."""
    max_seq_length: int = 256
    doc_stride: int = 128
    eval_batch_size: int = 64
    eval_every: int = 1000
    """Evaluate on the dev subset every N optimizer steps (and at the end)."""
    eval_examples: int = 500
    """Size of the dev subset used for early stopping."""
    patience: int = 30
    """Stop after this many evaluations without improvement."""
    early_stop_on: str = "en"
    """"en" (English dev) or "target" (dev sets of the target languages)."""
    max_train_examples: int | None = None
    """Cap on training examples (debugging, smoke runs)."""
    mixed_precision: str = "auto"
    """"auto" (bf16 on a GPU that supports it, else fp32), "no", "bf16", "fp16"."""
    length_grouped: bool = True
    """Batch examples of similar length together (dynamic padding)."""
    num_workers: int = 0
    save_every: int = 1000
    """Write a resumable checkpoint every N optimizer steps."""
    head_dropout: float = 0.1

    def __post_init__(self) -> None:
        checks = [
            (self.lr > 0, "lr must be > 0"),
            (self.batch_size >= 1, "batch_size must be >= 1"),
            (self.grad_accum >= 1 and self.batch_size % self.grad_accum == 0,
             "grad_accum must divide batch_size"),
            (self.epochs > 0, "epochs must be > 0"),
            (self.max_steps is None or self.max_steps >= 1, "max_steps must be >= 1"),
            (0 <= self.warmup_ratio < 1, "warmup_ratio must be in [0, 1)"),
            (self.max_seq_length >= 8, "max_seq_length must be >= 8"),
            (self.early_stop_on in ("en", "target"), "early_stop_on must be 'en' or 'target'"),
            (self.mixed_precision in ("auto", "no", "bf16", "fp16"),
             "mixed_precision must be auto, no, bf16 or fp16"),
        ]
        for ok, message in checks:
            if not ok:
                raise UserError(message)

    @property
    def micro_batch_size(self) -> int:
        return self.batch_size // self.grad_accum

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


HPARAM_NAMES = tuple(f.name for f in fields(Hparams))


def check_hparams(values: Mapping[str, Any], where: str) -> None:
    """Raise a UserError, located at `where`, for an unknown name or a value of the wrong type in one
    override layer (rules across fields, e.g. grad_accum dividing batch_size, are checked once the layers
    are merged, by `resolve`)."""
    check_names(values, where)
    for name, value in values.items():
        try:
            _field_validator(name).validate_python(value)
        except ValidationError as exc:
            raise UserError(f"{where}.{name}: {first_validation_error(exc)[1]} (got {value!r})") from None


@cache
def _field_validator(name: str) -> TypeAdapter:
    return TypeAdapter(get_type_hints(Hparams)[name])


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
        return _validator().validate_python({**asdict(Hparams()), **merged})
    except ValidationError as exc:
        loc, msg = first_validation_error(exc)
        raise UserError(f"{where}: {loc}: {msg} (got {merged.get(loc.split('.')[0])!r})") from None
    except UserError as exc:
        raise UserError(f"{where}: {exc}") from None


@cache
def _validator() -> TypeAdapter:
    """Checks and converts values by the fields' types (lax: "1e-3", which YAML 1.1 reads as a string,
    is the number 0.001; "abc" for a number is an error)."""
    return TypeAdapter(Hparams)
