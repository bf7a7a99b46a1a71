"""Expand an experiment into a DAG of stages with content-hash keys.

intermediate(model, arm, seed) -> target(intermediate, task, seed) -> evaluate(target, languages).
A target whose kind trains no head (retrieval) is evaluated on the intermediate encoder directly, or, with
`encoder_from: TASK` on its target entry, on the encoder of TASK's target stage (e.g. SQuAD-tuned Tatoeba).
The `none` arm has no intermediate stage: its targets start from the pretrained model.
A stage's key hashes its resolved config, its upstream key and the fingerprint of the code on its path
(harness.fingerprint: engine, kind, metric, task and baseline modules, docstrings and comments excluded), so a
stage is shared by every experiment and every arm that asks for the same computation (e.g. Tatoeba on the
pretrained model serves both `none` and a translate-train arm), and a code change re-runs what it affects.
Names in a key are content, never arm names.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, field, replace
from typing import Any

from harness import registry
from harness.experiment import ArmConfig, ExperimentConfig, TargetConfig
from harness.fingerprint import pinned, stage_code
from harness.hparams import resolve
from harness.kinds import kind_trains
from harness.spec import TrainChain


@dataclass(frozen=True)
class Stage:
    """One unit of work; everything it writes lives in runs/<key>/."""

    kind: str
    """"intermediate", "target" or "evaluate"."""
    key: str
    """Directory name: {kind}-{label}-{hash}."""
    config: dict[str, Any]
    """Resolved, JSON-ready configuration (hashed into the key)."""
    upstream: str | None = None
    meta: dict[str, Any] = field(default_factory=dict)
    """Arm name, task, seed, languages of the first use: used by reports, not part of the key."""
    uses: tuple[dict[str, Any], ...] = ()
    """The meta of every (arm, seed) that needs this stage: one computation can serve several arms."""
    code: dict[str, Any] = field(default_factory=dict)
    """The code the key names: {"fingerprint", "modules": {module: hash}, "specs": {task: hash}}."""


def stage_key(kind: str, label: str, config: dict, upstream: str | None, code: str) -> str:
    """{kind}-{label}-{hash of the config, the upstream key and the code fingerprint `code`}."""
    blob = json.dumps({"stage": kind, "config": config, "upstream": upstream, "code": code},
                      sort_keys=True, default=str)
    digest = hashlib.sha256(blob.encode()).hexdigest()[:12]
    slug = re.sub(r"[^A-Za-z0-9_.+-]+", "-", label).strip("-")[:60]
    return f"{kind}-{slug}-{digest}"


def _task_ref(name: str, config: ExperimentConfig) -> dict[str, Any]:
    spec = registry.task(name)
    revisions = {s.repo: config.data.revisions.get(name) or config.data.revisions.get(s.repo) or s.revision
                 for s in spec.sources() if hasattr(s, "repo")}
    return {"name": spec.name, "version": spec.version, "revisions": dict(sorted(revisions.items()))}


def _settings(name: str, config: ExperimentConfig, arm: ArmConfig | None = None) -> dict[str, Any]:
    """A task's kind settings: its spec's, the experiment's task_settings, then the arm's (intermediate tasks)."""
    arm_settings = arm.task_settings.get(name, {}) if arm is not None else {}
    return {**registry.task(name).settings, **config.task_settings.get(name, {}), **arm_settings}


def _code(names: list[str], config: ExperimentConfig, baseline: str | None = None, arm: ArmConfig | None = None,
          augmentation: str | None = None) -> dict[str, Any]:
    """The code record of a stage over tasks `names` (and the arm's baseline and augmentation plugins, if they
    take part in its training)."""
    return stage_code([(registry.task(n), _settings(n, config, arm)) for n in names], baseline, augmentation)


def adds_intermediate_tasks(arm: ArmConfig) -> bool:
    """Whether the arm's baseline plugin contributes training tasks of its own to the intermediate phase."""
    return arm.baseline is not None and hasattr(registry.get("baseline", arm.baseline), "intermediate_tasks")


def stage_baseline(arm: ArmConfig, phase: str, tasks: list[str]) -> str | None:
    """The arm's baseline plugin when it changes the training of `tasks` in `phase` ("intermediate" or
    "target"), else None: a stage it leaves alone has the key of the same stage without it, so arms share it
    (e.g. PAN-X under a translate-train arm that translates only the QA targets). A plugin says so with
    `touches(settings, phase, task)`; without that function it touches every stage of its arm."""
    if arm.baseline is None:
        return None
    plugin = registry.get("baseline", arm.baseline)
    touches = getattr(plugin, "touches", None)
    if (phase == "intermediate" and hasattr(plugin, "intermediate_tasks")) or touches is None:
        return arm.baseline
    return arm.baseline if any(touches(arm.settings, phase, t) for t in tasks) else None


def intermediate_stage(config: ExperimentConfig, arm: ArmConfig, seed: int) -> Stage | None:
    """The intermediate stage of `arm`, or None for an arm without intermediate training."""
    if not arm.tasks and not adds_intermediate_tasks(arm):
        return None
    single = arm.tasks[0] if len(arm.tasks) == 1 else None
    run_hp = resolve(
        registry.task(single).hparams if single else None, config.hparams,
        config.task_hparams.get(single, {}) if single else None, arm.hparams,
        where=f"arm '{arm.name}'",
    )
    tasks = []
    for name in arm.tasks:
        task_hp = resolve(registry.task(name).hparams, config.hparams, config.task_hparams.get(name),
                          arm.hparams, where=f"arm '{arm.name}' task '{name}'")
        tasks.append({**_task_ref(name, config), "hparams": task_hp.to_dict(),
                      "settings": _settings(name, config, arm)})
    baseline = stage_baseline(arm, "intermediate", list(arm.tasks))
    cfg = {
        "model": config.model,
        "tasks": tasks,
        "sampler": arm.sampler.model_dump(),
        "baseline": baseline,
        "baseline_settings": arm.settings if baseline else {},
        "hparams": run_hp.to_dict(),
        "seed": seed,
    }
    label = "+".join(list(arm.tasks) + ([baseline] if baseline else []))
    code = _code(list(arm.tasks), config, baseline, arm)
    key = stage_key("intermediate", f"{label}-s{seed}", cfg, None, code["fingerprint"])
    meta = {"arm": arm.name, "seed": seed, "tasks": list(arm.tasks)}
    return Stage("intermediate", key, cfg, None, meta, (meta,), code)


def encoder_source(config: ExperimentConfig, target: TargetConfig) -> TargetConfig | None:
    """The target whose training stage gives `target`'s evaluation its encoder (`encoder_from`): the grid's
    entry for that task when it is also a target (so both use one stage), else a plain entry; None without."""
    if target.encoder_from is None:
        return None
    name = registry.task(target.encoder_from).name
    return next((t for t in config.targets if registry.task(t.task).name == name), TargetConfig(task=name))


def train_stage(config: ExperimentConfig, arm: ArmConfig, target: TargetConfig, seed: int,
                up_key: str | None) -> Stage:
    """The target (training) stage of `target`'s task, from the stage `up_key` (None: the pretrained model)."""
    spec = registry.task(target.task)
    languages = list(target.languages or spec.languages)
    hp = resolve(spec.hparams, config.hparams, config.task_hparams.get(spec.name), target.hparams,
                 where=f"target '{spec.name}'")
    baseline = stage_baseline(arm, "target", [spec.name])
    cfg = {
        "model": config.model,
        "task": _task_ref(spec.name, config),
        "hparams": hp.to_dict(),
        "settings": _settings(spec.name, config),
        "seed": seed,
        "dev_languages": languages if hp.early_stop_on == "target" else [spec.train_language],
        "baseline": baseline,
        "baseline_settings": arm.settings if baseline else {},
    }
    if isinstance(spec.train, TrainChain):  # only then: plain targets keep their keys
        cfg["train_steps"] = train_steps(config, spec, target)
    # the target languages an augmentation works into: the task's setting (a code-mixed target names its
    # component languages), else the evaluated languages other than the training one; with none (e.g. SQuAD
    # trained only to give Tatoeba its encoder) there is nothing to augment towards
    into = cfg["settings"].get("augment_languages") or [lang for lang in languages if lang != spec.train_language]
    augment = arm.augment if arm.augment is not None and into else None
    if augment is not None:  # likewise: only arms that augment
        cfg["augment"] = {"name": augment.name, "settings": augment.settings(), "languages": list(into)}
    code = _code([spec.name], config, baseline, augmentation=augment.name if augment else None)
    key = stage_key("target", f"{spec.name}-s{seed}", cfg, up_key, code["fingerprint"])
    meta = {"arm": arm.name, "seed": seed, "task": spec.name}
    return Stage("target", key, cfg, up_key, meta, (meta,), code)


def target_stages(config: ExperimentConfig, arm: ArmConfig, target: TargetConfig, seed: int,
                  upstream: Stage | None) -> list[Stage]:
    """The target (training) stage, when the kind trains, and the evaluate stage after it. A target that
    trains no head is evaluated on the upstream encoder, or with `encoder_from` on the encoder of that task's
    training stage (planned here too; `plan` keeps one stage per key)."""
    spec = registry.task(target.task)
    languages = list(target.languages or spec.languages)
    hp = resolve(spec.hparams, config.hparams, config.task_hparams.get(spec.name), target.hparams,
                 where=f"target '{spec.name}'")
    up_key = upstream.key if upstream else None
    meta = {"arm": arm.name, "seed": seed, "task": spec.name}
    stages: list[Stage] = []
    trained = target if kind_trains(spec.kind) else encoder_source(config, target)
    if trained is not None:
        train = train_stage(config, arm, trained, seed, up_key)
        stages.append(train)
        up_key = train.key
    eval_cfg = {
        "model": config.model,
        "task": _task_ref(spec.name, config),
        "languages": languages,
        "splits": list(config.splits),
        "settings": _settings(spec.name, config),
        "hparams": {k: hp.to_dict()[k] for k in ("eval_batch_size", "max_seq_length", "doc_stride")},
    }
    eval_meta = {**meta, "languages": languages}
    if target.encoder_from is not None:  # only then: other evaluations keep their keys
        eval_cfg["encoder_from"] = eval_meta["encoder_from"] = registry.task(target.encoder_from).name
    code = _code([spec.name], config)  # a baseline changes training only
    key = stage_key("evaluate", f"{spec.name}-s{seed}", eval_cfg, up_key, code["fingerprint"])
    evaluate = Stage("evaluate", key, eval_cfg, up_key, eval_meta, (eval_meta,), code)
    stages.append(evaluate)
    return stages


def train_steps(config: ExperimentConfig, spec, target: TargetConfig) -> list[dict[str, Any]]:
    """The resolved steps of a chained training set, in order: {"name", "hparams"} each. A step's hparams
    are the task's recipe, the step's own, the experiment's layers as for any target, then the target's
    `steps: {NAME: {...}}` entry; the whole list is part of the target stage's config, hence of its key."""
    steps = []
    for step in spec.train_steps():
        hp = resolve(spec.hparams, step.hparams, config.hparams, config.task_hparams.get(spec.name),
                     target.hparams, target.steps.get(step.name), where=f"target '{spec.name}' step '{step.name}'")
        steps.append({"name": step.name, "hparams": hp.to_dict()})
    return steps


def plan(config: ExperimentConfig) -> list[Stage]:
    """Every stage of the experiment, upstream before downstream, each once."""
    stages: dict[str, Stage] = {}

    def add(stage: Stage) -> None:
        known = stages.get(stage.key)
        stages[stage.key] = stage if known is None else replace(known, uses=known.uses + stage.uses)

    with pinned():  # every file is read once per plan
        for seed in config.seeds:
            for arm in config.arms:
                inter = intermediate_stage(config, arm, seed)
                if inter is not None:
                    add(inter)
                for target in config.targets:
                    for stage in target_stages(config, arm, target, seed, inter):
                        add(stage)
    return list(stages.values())


def plan_record(config: ExperimentConfig, stages: list[Stage]) -> dict[str, Any]:
    """What `xstilts run` saves as runs/experiment.json: the experiment and its stages with their roles."""
    return {
        "schema_version": 1,
        "experiment": config.model_dump(),
        # One entry per use: a stage shared by two arms is listed under each of them.
        "stages": [{"key": s.key, "kind": s.kind, "upstream": s.upstream, "meta": use}
                   for s in stages for use in s.uses],
    }
