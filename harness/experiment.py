"""Experiment files: YAML -> validated, typed config. No network and no heavy imports.

```yaml
name: smoke
model: path/or/hub-id            # any HF encoder
seeds: [1, 2, 3]
arms:                            # an arm = an intermediate configuration
  - none                         # plain fine-tuning on the target
  - mnli                         # one intermediate task
  - name: multi                  # several tasks with a sampler
    tasks: [mnli, squad]
    sampler: {name: temperature, temperature: 2.0}
targets:
  - xnli
  - {task: pawsx, languages: [en, de]}
hparams: {lr: 1e-5}              # every phase
task_hparams: {xnli: {epochs: 2}}
data: {snapshot_root: /data/hub, revisions: {google/xtreme: <sha>}}
```
String values may use ${VAR} or ${VAR:-default}, expanded from the environment.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from harness import registry
from harness.data.settings import DataSettings
from harness.errors import UserError, did_you_mean, first_validation_error
from harness.hparams import check_names

NONE_ARM = "none"
_ENV_RE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class SamplerConfig(_Strict):
    """How a multi-task arm picks the task of each batch."""

    name: Literal["proportional", "temperature", "uniform", "capped"] = "proportional"
    temperature: float = 1.0
    cap: int | None = None
    """Examples per task for "capped" (and the size cap inside proportional/temperature if set)."""
    weights: dict[str, float] = Field(default_factory=dict)
    """Optional per-task multipliers of the sampling rule's value, e.g. {squad: 0.5}."""

    @field_validator("temperature")
    @classmethod
    def _positive(cls, v: float) -> float:
        if v <= 0:
            raise ValueError("temperature must be > 0")
        return v


class ArmConfig(_Strict):
    """One arm: the intermediate configuration the target phase starts from."""

    name: str
    tasks: list[str] = Field(default_factory=list)
    sampler: SamplerConfig = Field(default_factory=SamplerConfig)
    baseline: str | None = None
    """A baseline plugin (entry point group xstilts.baselines), e.g. mlm or translate_train."""
    settings: dict[str, Any] = Field(default_factory=dict)
    """Settings passed to the baseline plugin."""
    hparams: dict[str, Any] = Field(default_factory=dict)
    """Overrides for the intermediate phase of this arm."""


class TargetConfig(_Strict):
    task: str
    languages: list[str] | None = None
    hparams: dict[str, Any] = Field(default_factory=dict)


class DataConfig(_Strict):
    snapshots: dict[str, str] = Field(default_factory=dict)
    snapshot_root: str | None = None
    revisions: dict[str, str] = Field(default_factory=dict)
    data_dirs: dict[str, str] = Field(default_factory=dict)
    cache_dir: str | None = None

    def settings(self) -> DataSettings:
        return DataSettings(
            snapshots=dict(self.snapshots), snapshot_root=self.snapshot_root, revisions=dict(self.revisions),
            data_dirs=dict(self.data_dirs), cache_dir=self.cache_dir,
        )


class ExperimentConfig(_Strict):
    """The whole experiment: model x arms x targets x seeds."""

    name: str
    description: str = ""
    model: str
    trust_remote_code: bool = False
    seeds: list[int] = Field(default_factory=lambda: [1], min_length=1)
    arms: list[ArmConfig]
    targets: list[TargetConfig] = Field(min_length=1)
    hparams: dict[str, Any] = Field(default_factory=dict)
    task_hparams: dict[str, dict[str, Any]] = Field(default_factory=dict)
    task_settings: dict[str, dict[str, Any]] = Field(default_factory=dict)
    """Per-task overrides of kind settings, e.g. {tatoeba: {layer: 14, pooling: mean}}."""
    splits: list[Literal["dev", "test"]] = Field(default_factory=lambda: ["dev", "test"])
    data: DataConfig = Field(default_factory=DataConfig)
    output: str | None = None
    executor: str = "local"
    """Executor plugin (entry point group xstilts.executors): local (in this process) or docker."""
    executor_settings: dict[str, Any] = Field(default_factory=dict)
    """Settings of the executor, e.g. {image: xstilts:latest, gpus: all} for docker."""

    @field_validator("arms", mode="before")
    @classmethod
    def _arm_shorthand(cls, v: Any) -> Any:
        if not isinstance(v, list):
            return v
        return [{"name": a, "tasks": [] if a == NONE_ARM else [a]} if isinstance(a, str) else a for a in v]

    @field_validator("targets", mode="before")
    @classmethod
    def _target_shorthand(cls, v: Any) -> Any:
        if not isinstance(v, list):
            return v
        return [{"task": t} if isinstance(t, str) else t for t in v]


def expand_env(value: Any) -> Any:
    """Expand ${VAR} and ${VAR:-default} in every string of a YAML tree."""
    if isinstance(value, str):
        return _ENV_RE.sub(lambda m: os.environ.get(m.group(1), m.group(2) or ""), value)
    if isinstance(value, list):
        return [expand_env(v) for v in value]
    if isinstance(value, dict):
        return {k: expand_env(v) for k, v in value.items()}
    return value


def load_experiment(path: str | Path) -> ExperimentConfig:
    """Read, validate and semantically check an experiment file; every problem is a one-line UserError."""
    import yaml

    path = Path(path)
    if not path.is_file():
        raise UserError(f"experiment file not found: {path}; pass the path of a YAML file")
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{path}:{mark.line + 1}:{mark.column + 1}" if mark else str(path)
        raise UserError(f"{where}: malformed YAML ({getattr(exc, 'problem', exc)}); fix the syntax") from None
    if not isinstance(raw, dict):
        raise UserError(f"{path}: expected a mapping at the top level (name, model, arms, targets)")
    try:
        config = ExperimentConfig.model_validate(expand_env(raw))
    except ValidationError as exc:
        loc, msg = first_validation_error(exc)
        raise UserError(f"{path}: {loc or '(top level)'}: {msg}") from None
    check_semantics(config, str(path))
    return config


def check_semantics(config: ExperimentConfig, where: str) -> None:
    """Names that must exist in the registry, languages, hyper-parameter names, unique arm names."""
    seen: set[str] = set()
    for i, arm in enumerate(config.arms):
        loc = f"{where}: arms[{i}]"
        if arm.name in seen:
            raise UserError(f"{loc}.name: duplicate arm name '{arm.name}'; give each arm its own name")
        seen.add(arm.name)
        if arm.name == NONE_ARM and (arm.tasks or arm.baseline):
            raise UserError(f"{loc}: the arm 'none' means no intermediate training; rename this arm")
        for name in arm.sampler.weights:
            if name not in arm.tasks:
                raise UserError(f"{loc}.sampler.weights: task '{name}' is not one of this arm's tasks "
                                f"{arm.tasks}{did_you_mean(name, arm.tasks)}")
        for j, name in enumerate(arm.tasks):
            spec = _task(name, f"{loc}.tasks[{j}]")
            if spec.train is None:
                raise UserError(f"{loc}.tasks[{j}]: task '{name}' has no training split; it cannot be an "
                                "intermediate task")
        if arm.baseline is not None and arm.baseline not in registry.names("baseline"):
            raise UserError(f"{loc}.baseline: unknown baseline '{arm.baseline}'"
                            f"{did_you_mean(arm.baseline, registry.names('baseline'))}")
        if arm.baseline is not None:
            plugin = registry.get("baseline", arm.baseline)
            if hasattr(plugin, "check_settings"):
                plugin.check_settings(arm.settings, f"{loc}.settings")
        check_names(arm.hparams, f"{loc}.hparams")
    for i, target in enumerate(config.targets):
        loc = f"{where}: targets[{i}]"
        spec = _task(target.task, f"{loc}.task")
        for lang in target.languages or []:
            if lang not in spec.languages:
                raise UserError(f"{loc}.languages: '{lang}' is not a language of {spec.name}"
                                f"{did_you_mean(lang, spec.languages)}")
        check_names(target.hparams, f"{loc}.hparams")
    check_names(config.hparams, f"{where}: hparams")
    for name, values in config.task_hparams.items():
        _task(name, f"{where}: task_hparams")
        check_names(values, f"{where}: task_hparams.{name}")
    for name in config.task_settings:
        _task(name, f"{where}: task_settings")
    if config.executor not in registry.names("executor"):
        raise UserError(f"{where}: executor: unknown executor '{config.executor}'"
                        f"{did_you_mean(config.executor, registry.names('executor'))}")
    try:
        registry.get("executor", config.executor)(config.executor_settings, model=config.model)
    except UserError as exc:
        raise UserError(f"{where}: {exc}") from None


def _task(name: str, loc: str):
    try:
        return registry.task(name)
    except UserError as exc:
        raise UserError(f"{loc}: {exc}") from None
