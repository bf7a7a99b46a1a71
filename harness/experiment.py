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
data:
  snapshot_root: /data/hub
  revisions: {google/xtreme: <sha>}
  expected_rows:                 # row-count check against the public release (see below)
    pawsx: {dev: {de: 1999}}     # task -> split (train/dev/test) -> language -> rows; null: no check
    anli: {train: {en: {3: 549000}}}   # a concatenated split: {part index: rows} (anli train part 3: SNLI)
```
String values may use ${VAR} or ${VAR:-default}, expanded from the environment.

Every HF split that the task spec gives a public row count for (hub or local snapshot, any revision) must
have exactly that many rows, else loading stops with an error; `data.expected_rows` replaces the count for
one task, split and language (`null` switches the check off there). Synthetic fixture snapshots (written by
harness.data.snapshot.write_snapshot) are exempt from the public counts.

`xstilts run/validate FILE --set PATH=VALUE` (repeatable) edits the YAML tree before anything else:
PATH is dotted (`hparams.max_steps`), list items are addressed by index (`targets.0.languages`) or by
name (`arms.mnli.hparams.epochs`, `targets.xnli.languages`), missing mapping keys are created, and VALUE
is YAML (`seeds=[1]`, `model=/models/xlmr`).
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator, model_validator
from pydantic_core import PydanticCustomError

from harness import registry
from harness.data.settings import DataSettings
from harness.errors import UserError, did_you_mean, validated
from harness.hparams import check_hparams
from harness.languages import LanguageCode, distinct
from harness.spec import TrainChain

NONE_ARM = "none"
_ENV_RE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class SamplerConfig(_Strict):
    """How a multi-task arm picks the task of each batch (harness.train.sampling_weights applies it; the
    settings are checked here only)."""

    name: Literal["proportional", "temperature", "uniform", "capped"] = "proportional"
    temperature: float = Field(1.0, gt=0)
    cap: int | None = Field(None, ge=1)
    """Examples per task for "capped" (and the size cap inside proportional/temperature if set)."""
    weights: dict[str, float] = Field(default_factory=dict)
    """Optional per-task multipliers of the sampling rule's value, e.g. {squad: 0.5}."""

    @model_validator(mode="after")
    def _capped_has_cap(self) -> SamplerConfig:
        if self.name == "capped" and self.cap is None:
            raise PydanticCustomError("sampler", "'capped' needs cap (examples per task), e.g. "
                                      "{name: capped, cap: 20000}")
        return self


class AugmentConfig(BaseModel):
    """An augmentation of the target phase's training data: a plugin of the entry point group
    `xstilts.augmentations` by `name`, and its settings (every other key), checked by the plugin."""

    model_config = ConfigDict(extra="allow", frozen=True)
    name: str

    def settings(self) -> dict[str, Any]:
        """The plugin's settings: every key but `name`."""
        return dict(self.model_extra or {})


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
    task_settings: dict[str, dict[str, Any]] = Field(default_factory=dict)
    """Kind settings of this arm's intermediate tasks over the experiment's `task_settings`, e.g.
    {xnli_mt: {train_languages: [de, fr]}}: two arms can train one task in different ways."""
    augment: AugmentConfig | None = None
    """Augment the target phase's training data with a plugin, e.g. {name: code_switch, dictionaries: DIR}:
    combinable with intermediate tasks and with a baseline (it rewrites the English training rows, before
    translate-train adds its translations)."""

    @model_validator(mode="after")
    def _weights_name_tasks(self) -> ArmConfig:
        for name in self.sampler.weights:
            if name not in self.tasks:
                raise PydanticCustomError("sampler", "sampler.weights: task '{name}' is not one of this arm's tasks "
                                          "{tasks}{hint}", {"name": name, "tasks": self.tasks,
                                                            "hint": did_you_mean(name, self.tasks)})
        return self


class TargetConfig(_Strict):
    task: str
    languages: Annotated[list[LanguageCode], AfterValidator(distinct)] | None = None
    """Evaluation languages (default: all of the task's); ISO 639-3 codes are stored as 2-letter codes."""
    hparams: dict[str, Any] = Field(default_factory=dict)
    steps: dict[str, dict[str, Any]] = Field(default_factory=dict)
    """Per-step hparams of a task trained on a chain of training sets (e.g. {siqa: {epochs: 2}} for XCOPA),
    applied after every other layer to that step only."""
    encoder_from: str | None = None
    """A target that trains no head (retrieval) only: evaluate the encoder of a target training stage of this
    task (e.g. squad, as XTREME-R's Tatoeba) instead of the arm's intermediate encoder (or the pretrained one
    for `none`). That stage is planned like any target stage of the task (the grid's entry for it, when the
    task is also a target, so the two share one stage); the value is recorded in the evaluation's config,
    stage.json and metrics.json."""


Rows = Annotated[int, Field(ge=0)]
RowsOverride = Rows | None | dict[int, Rows | None]
"""Rows of one split in one language, None (no check), or {part index: rows or None} for a concatenated split."""


class DataConfig(_Strict):
    snapshots: dict[str, str] = Field(default_factory=dict)
    snapshot_root: str | None = None
    revisions: dict[str, str] = Field(default_factory=dict)
    data_dirs: dict[str, str] = Field(default_factory=dict)
    cache_dir: str | None = None
    expected_rows: dict[str, dict[Literal["train", "dev", "test"], dict[LanguageCode, RowsOverride]]] = Field(
        default_factory=dict)
    """task -> split -> language -> rows replacing the public count (None: no check), see DataSettings."""

    def settings(self) -> DataSettings:
        return DataSettings(
            snapshots=dict(self.snapshots), snapshot_root=self.snapshot_root, revisions=dict(self.revisions),
            data_dirs=dict(self.data_dirs), cache_dir=self.cache_dir,
            expected_rows={task: {split: dict(langs) for split, langs in splits.items()}
                           for task, splits in self.expected_rows.items()},
        )


class ExperimentConfig(_Strict):
    """The whole experiment: model x arms x targets x seeds."""

    name: str
    description: str = ""
    model: str
    trust_remote_code: bool = False
    seeds: list[int] = Field(default_factory=lambda: [1], min_length=1)

    @field_validator("seeds")
    @classmethod
    def _distinct_seeds(cls, v: list[int]) -> list[int]:
        repeated = sorted({s for s in v if v.count(s) > 1})
        if repeated:
            raise ValueError(f"seed(s) {repeated} listed more than once; list each seed once")
        return v
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
    """Executor plugin (entry point group xstilts.executors): local (this machine; `--jobs N` for several
    stages at once), docker (one container per stage) or slurm (one batch job per stage)."""
    executor_settings: dict[str, Any] = Field(default_factory=dict)
    """Settings of the executor, e.g. {image: xstilts:latest, gpus: auto} for docker, {partition: gpu} for slurm."""

    @field_validator("arms", mode="before")
    @classmethod
    def _arm_shorthand(cls, v: Any) -> Any:
        return [arm_item(a) for a in v] if isinstance(v, list) else v

    @field_validator("targets", mode="before")
    @classmethod
    def _target_shorthand(cls, v: Any) -> Any:
        return [target_item(t) for t in v] if isinstance(v, list) else v


def arm_item(item: Any) -> Any:
    """An arm as a mapping: the shorthand `mnli` is {name: mnli, tasks: [mnli]} (`none`: no tasks)."""
    return {"name": item, "tasks": [] if item == NONE_ARM else [item]} if isinstance(item, str) else item


def target_item(item: Any) -> Any:
    """A target as a mapping: the shorthand `xnli` is {task: xnli}."""
    return {"task": item} if isinstance(item, str) else item


SHORTHANDS: dict[str, Callable[[Any], Any]] = {"arms": arm_item, "targets": target_item}
"""Top-level lists whose string items expand to mappings (the validators above use the same functions)."""


def expand_env(value: Any, path: str = "") -> Any:
    """Expand ${VAR} and ${VAR:-default} in every string of a YAML tree; an unset ${VAR} without a default
    is a UserError naming the variable and the field (`path`) it is in."""
    if isinstance(value, str):
        return _ENV_RE.sub(lambda m: _env_value(m.group(1), m.group(2), path), value)
    if isinstance(value, list):
        return [expand_env(v, f"{path}[{i}]") for i, v in enumerate(value)]
    if isinstance(value, dict):
        return {k: expand_env(v, f"{path}.{k}" if path else str(k)) for k, v in value.items()}
    return value


def _env_value(name: str, default: str | None, path: str) -> str:
    if name in os.environ:
        return os.environ[name]
    if default is not None:
        return default
    raise UserError(f"{path or '(top level)'}: environment variable ${{{name}}} is not set; export {name}=... "
                    f"or give a default: ${{{name}:-value}}")


def apply_overrides(raw: dict, overrides: Sequence[str]) -> dict:
    """A copy of the YAML tree `raw` with every `--set PATH=VALUE` applied in order."""
    import copy

    tree = copy.deepcopy(raw)
    for arg in overrides:
        path, value = parse_override(arg)
        node: Any = tree
        for depth, segment in enumerate(path[:-1]):
            node = _descend(node, segment, path[:depth], arg)
        if isinstance(node, dict):
            node[_key(node, path[-1])] = value
        else:
            node[_list_index(node, path[-1], path[:-1], arg)] = value
    return tree


def parse_override(arg: str) -> tuple[list[str], Any]:
    """(dotted path as segments, YAML-parsed value) of one `PATH=VALUE` argument."""
    import yaml

    text, sep, value = arg.partition("=")
    path = [s.strip() for s in text.split(".")]
    if not sep or not all(path):
        raise _override_error(arg, "expected PATH=VALUE with a dotted PATH", "e.g. --set hparams.max_steps=4")
    try:
        return path, yaml.safe_load(value)
    except yaml.YAMLError as exc:
        raise _override_error(arg, f"VALUE is not valid YAML ({getattr(exc, 'problem', None) or exc})",
                              "fix its syntax, quoting strings with special characters, e.g. "
                              "--set 'description=\"a: b\"'") from None


def _descend(node: dict | list, segment: str, parent: list[str], arg: str) -> dict | list:
    """The mapping or list at `segment` of `node`: a missing (or null) mapping key becomes {}, and a
    shorthand item of arms/targets is expanded to its mapping first."""
    if isinstance(node, dict):
        segment = _key(node, segment)
        if node.get(segment) is None:
            node[segment] = {}
        child = node[segment]
    else:
        i = _list_index(node, segment, parent, arg)
        expand = SHORTHANDS.get(parent[0]) if len(parent) == 1 else None
        if expand is not None:
            node[i] = expand(node[i])
        child = node[i]
    if not isinstance(child, dict | list):
        where = ".".join([*parent, str(segment)])
        raise _override_error(arg, f"{where} is the value {child!r}, not a mapping or a list",
                              f"set it whole with --set {where}=VALUE")
    return child


def _key(mapping: dict, segment: str) -> str | int:
    """The mapping's key for `segment`: an integer key when YAML gave one (e.g. part indices), else the text."""
    return int(segment) if segment.isdigit() and int(segment) in mapping else segment


def _list_index(items: list, segment: str, parent: list[str], arg: str) -> int:
    """The index of list item `segment`: a number, or a name (an arm's name, a target's task, a string item)."""
    where = ".".join(parent)
    if not items:
        raise _override_error(arg, f"{where} is an empty list", f"set it whole with --set {where}=[...]")
    if segment.isdigit():
        if int(segment) < len(items):
            return int(segment)
        raise _override_error(arg, f"{where} has {len(items)} item(s), no index {segment}",
                              f"use an index below {len(items)} or an item's name")
    names = [_item_name(item) for item in items]
    if segment in names:
        return names.index(segment)
    known = [n for n in names if n is not None]
    hint = did_you_mean(segment, known) if known else ""
    raise _override_error(arg, f"{where} has no item named '{segment}'{hint}",
                          f"address its items by index (0-{len(items) - 1}) or by name")


def _item_name(item: Any) -> str | None:
    """The name a list item is addressed by: itself (a string), or its `name` or `task` key."""
    if isinstance(item, str):
        return item
    if isinstance(item, dict):
        name = item.get("name", item.get("task"))
        return name if isinstance(name, str) else None
    return None


def _override_error(arg: str, problem: str, fix: str) -> UserError:
    return UserError(f"--set {arg}: {problem}; {fix}")


def load_experiment(path: str | Path, overrides: Sequence[str] = ()) -> ExperimentConfig:
    """Read, override (`--set PATH=VALUE`), validate and semantically check an experiment file; every
    problem is a one-line UserError."""
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
    raw = apply_overrides(raw, overrides)
    try:
        expanded = expand_env(raw)
    except UserError as exc:
        raise UserError(f"{path}: {exc}") from None
    config = validated(ExperimentConfig, expanded, str(path))
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
        for j, name in enumerate(arm.tasks):
            spec = _task(name, f"{loc}.tasks[{j}]")
            if spec.train is None:
                raise UserError(f"{loc}.tasks[{j}]: task '{name}' has no training split; it cannot be an "
                                "intermediate task")
            if isinstance(spec.train, TrainChain):
                steps = ", ".join(s.name for s in spec.train.steps)
                raise UserError(f"{loc}.tasks[{j}]: task '{name}' trains on a chain of training sets ({steps}) "
                                "in its target phase; use the tasks of the chain as intermediate tasks instead")
        for name in arm.task_settings:
            if name not in arm.tasks:
                raise UserError(f"{loc}.task_settings.{name}: '{name}' is not one of this arm's tasks {arm.tasks}; "
                                "arm task_settings apply to the arm's intermediate tasks (use the top-level "
                                "task_settings for targets)")
        for j, name in enumerate(arm.tasks):
            _check_task_settings(registry.task(name), {**config.task_settings.get(name, {}),
                                                       **arm.task_settings.get(name, {})}, f"{loc}.tasks[{j}]")
        if arm.augment is not None:
            _check_augment(arm.augment, f"{loc}.augment")
        if arm.baseline is not None and arm.baseline not in registry.names("baseline"):
            raise UserError(f"{loc}.baseline: unknown baseline '{arm.baseline}'"
                            f"{did_you_mean(arm.baseline, registry.names('baseline'))}")
        if arm.baseline is not None:
            plugin = registry.get("baseline", arm.baseline)
            if hasattr(plugin, "check_settings"):
                plugin.check_settings(arm.settings, f"{loc}.settings")
        check_hparams(arm.hparams, f"{loc}.hparams")
    first: dict[str, int] = {}
    for i, target in enumerate(config.targets):
        loc = f"{where}: targets[{i}]"
        spec = _task(target.task, f"{loc}.task")
        if spec.role != "target":
            targets = ", ".join(t.name for t in registry.all_tasks() if t.role == "target")
            raise UserError(f"{loc}.task: '{spec.name}' is an intermediate task (English only, no zero-shot "
                            f"evaluation); targets are: {targets}")
        if spec.name in first:
            raise UserError(f"{loc}: task '{spec.name}' is already targets[{first[spec.name]}]; list each target "
                            "once, with all its languages in one entry")
        first[spec.name] = i
        for lang in target.languages or []:
            if lang not in spec.languages:
                raise UserError(f"{loc}.languages: '{lang}' is not a language of {spec.name}"
                                f"{did_you_mean(lang, spec.languages)}")
        check_hparams(target.hparams, f"{loc}.hparams")
        _check_steps(spec, target.steps, f"{loc}.steps")
        if target.encoder_from is not None:
            _check_encoder_from(spec, target.encoder_from, f"{loc}.encoder_from")
    check_hparams(config.hparams, f"{where}: hparams")
    for name, values in config.task_hparams.items():
        _task(name, f"{where}: task_hparams")
        check_hparams(values, f"{where}: task_hparams.{name}")
    for name, values in config.task_settings.items():
        _check_task_settings(_task(name, f"{where}: task_settings"), values, f"{where}: task_settings")
    for name, splits in config.data.expected_rows.items():
        _check_rows_override(_task(name, f"{where}: data.expected_rows"), splits, f"{where}: data.expected_rows")
    if config.executor not in registry.names("executor"):
        raise UserError(f"{where}: executor: unknown executor '{config.executor}'"
                        f"{did_you_mean(config.executor, registry.names('executor'))}")
    try:
        registry.get("executor", config.executor)(config.executor_settings, model=config.model)
    except UserError as exc:
        raise UserError(f"{where}: {exc}") from None


def _check_task_settings(spec: Any, values: dict[str, Any], where: str) -> None:
    """The engine-read kind settings of a task (training languages and their sampler) are well-formed, and the
    task's own `check_settings` accepts them."""
    from dataclasses import replace

    from harness.data.mixing import language_sampler, train_languages

    merged = replace(spec, settings={**spec.settings, **values})
    train_languages(merged, f"{where}: {spec.name} train_languages")
    language_sampler(merged, f"{where}: {spec.name} language_sampler")
    if spec.check_settings:
        from importlib import import_module

        module, attr = spec.check_settings.split(":")
        try:
            getattr(import_module(module), attr)(merged.settings)
        except UserError as exc:
            raise UserError(f"{where}: {exc}") from None


def _check_augment(augment: AugmentConfig, where: str) -> None:
    """The augmentation plugin exists and accepts its settings."""
    if augment.name not in registry.names("augmentation"):
        raise UserError(f"{where}.name: unknown augmentation '{augment.name}'"
                        f"{did_you_mean(augment.name, registry.names('augmentation'))}; register it in the entry "
                        "point group xstilts.augmentations")
    registry.get("augmentation", augment.name).check_settings(augment.settings(), where)


def _check_encoder_from(spec: Any, name: str, where: str) -> None:
    """`encoder_from` sits on a target that trains no head and names a task whose training trains a head."""
    from harness.kinds import kind_trains

    if kind_trains(spec.kind):
        raise UserError(f"{where}: {spec.name} ({spec.kind}) trains its own encoder in its target phase; "
                        "encoder_from applies to targets that train no head (retrieval)")
    source = _task(name, where)
    if source.train is None:
        raise UserError(f"{where}: task '{source.name}' has no training split; name a task that trains, e.g. squad")
    if not kind_trains(source.kind):
        raise UserError(f"{where}: task '{source.name}' ({source.kind}) trains no head, so it has no trained "
                        "encoder to evaluate; name a task that trains, e.g. squad")


def _check_steps(spec: Any, steps: dict[str, dict[str, Any]], where: str) -> None:
    """A target's per-step hparams name steps of the task's training chain, with valid hparam names."""
    names = [s.name for s in spec.train_steps()] if isinstance(spec.train, TrainChain) else []
    for name, values in steps.items():
        if name not in names:
            have = f"its steps are {', '.join(names)}" if names else "it does not train on a chain of training sets"
            raise UserError(f"{where}.{name}: '{name}' is not a training step of {spec.name}; {have}"
                            f"{did_you_mean(name, names)}")
        check_hparams(values, f"{where}.{name}")


def _check_rows_override(spec: Any, splits: dict, where: str) -> None:
    """Each override names a split the task has, one of its languages, and the shape its sources need: rows
    for a single-source split, {part index: rows} for a concatenated one (checked here, not at load time)."""
    from harness.spec import parts

    for split, langs in splits.items():
        loc = f"{where}.{spec.name}.{split}"
        sources = parts(spec.source(split))
        if not sources:
            raise UserError(f"{loc}: task '{spec.name}' has no {split} split")
        for lang, value in langs.items():
            if lang not in spec.languages:
                raise UserError(f"{loc}.{lang}: '{lang}' is not a language of {spec.name}"
                                f"{did_you_mean(lang, spec.languages)}")
            if isinstance(value, dict) and len(sources) == 1:
                raise UserError(f"{loc}.{lang}: {spec.name} {split} has one source; give its rows (or null), "
                                "not a mapping of part indices")
            if isinstance(value, int) and len(sources) > 1:
                raise UserError(f"{loc}.{lang}: {spec.name} {split} is concatenated from {len(sources)} sources; "
                                f"give {{part index: rows}}, e.g. {{0: {value}}}")
            bad = [k for k in (value if isinstance(value, dict) else {}) if not 0 <= int(k) < len(sources)]
            if bad:
                raise UserError(f"{loc}.{lang}: part {bad[0]} does not exist; {spec.name} {split} has parts "
                                f"0 to {len(sources) - 1}")


def _task(name: str, loc: str):
    """The registered task `name`, its kind and metric checked to be registered too (a misspelt plugin name
    in a spec would otherwise surface only once its stage runs)."""
    try:
        spec = registry.task(name)
        for what, plugin in (("kind", spec.kind), ("metric", spec.metric)):
            if registry.entry_point(what, plugin) is None:
                raise UserError(f"task '{spec.name}' names the {what} '{plugin}', which is not registered"
                                f"{did_you_mean(plugin, registry.names(what))}; install the plugin that "
                                f"provides it or fix the task")
        return spec
    except UserError as exc:
        raise UserError(f"{loc}: {exc}") from None
