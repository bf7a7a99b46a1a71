"""What each kind of stage does: intermediate training, target training, evaluation.

Each runner reads its resolved config, its upstream stage's directory, and writes into its own stage
directory; the executor handles skipping, locking, stage.json and the `done` marker.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from harness import registry
from harness.chain import train_chain
from harness.checkpoint import Checkpointer, config_hash
from harness.data.load import load_split, with_labels
from harness.data.settings import DataSettings
from harness.features_cache import cached_features
from harness.hparams import Hparams
from harness.kinds import get_kind
from harness.layout import CHECKPOINT_DIR, ENCODER_DIR, HEADS_FILE, MODEL_DIR, PREDICTIONS_DIR, prediction_file
from harness.model import build_task_model, hidden_size, load_encoder, load_heads, save_encoder, save_heads
from harness.plan import Stage
from harness.store import staging_dir
from harness.train import TrainTask, train


@dataclass
class StageContext:
    """Everything a stage runner needs besides its own config."""

    stage: Stage
    stage_dir: Path
    runs_dir: Path
    data: DataSettings
    trust_remote_code: bool = False
    progress: Callable[[str, int, int, float], None] | None = None
    provenance: list | None = None
    tokenizer: Any = None
    """Set by a runner once its tokenizer is loaded (the feature cache keys on it)."""

    def upstream_dir(self) -> Path | None:
        return self.runs_dir / self.stage.upstream if self.stage.upstream else None

    def checkpointer(self) -> Checkpointer:
        """This stage's resumable checkpoint (stage_dir/checkpoint), tied to its key and config."""
        return Checkpointer(self.stage_dir / CHECKPOINT_DIR, self.stage.key, config_hash(self.stage.config))

    def spec(self, name: str, settings: dict | None = None):
        """The registered task, with a label set read from local data where the task says so, and with the
        stage's kind settings (the task's own merged with the experiment's task_settings), so featurisation
        sees them too, not only decoding."""
        spec = with_labels(registry.task(name), self.data)
        return spec if settings is None else replace(spec, settings=dict(settings))

    def features(self, kind, spec, hp: Hparams, columns: dict[str, list], split: str, lang: str) -> list[dict]:
        """Featurised training columns, through the tokenized-feature cache."""
        return cached_features(kind, columns, self.tokenizer, spec, hp, split, lang)

    def load(self, spec, split: str, lang: str) -> dict[str, list]:
        columns, prov = load_split(spec, split, lang, self.data, self.stage.config.get("seed", 0))
        if self.provenance is not None:
            # "split" is the task's split (train/dev/test); the source's own split name stays beside it
            self.provenance.append({"task": spec.name, "language": lang, **prov, "split": split,
                                    "source_split": prov.get("split")})
        return columns


def _cap(columns: dict[str, list], n: int | None, keep: tuple[str, ...] = ()) -> dict[str, list]:
    """The first `n` examples of each column (all when n is None), the columns in `keep` whole."""
    return columns if n is None else {k: v if k in keep else v[:n] for k, v in columns.items()}


def train_columns(ctx: StageContext, spec, hp: Hparams) -> dict[str, list]:
    """A task's training columns: its `train_language` split, or with the kind setting `train_languages` each
    listed language's mixed by its `language_sampler` (harness.data.mixing); capped at `max_train_examples`."""
    from harness.data.mixing import language_sampler, mix_languages, train_languages

    languages = train_languages(spec)
    if not languages:
        return _cap(ctx.load(spec, "train", spec.train_language), hp.max_train_examples)
    by_language = {lang: ctx.load(spec, "train", lang) for lang in languages}
    columns, record = mix_languages(by_language, language_sampler(spec), ctx.stage.config.get("seed", 0))
    if ctx.provenance is not None:
        ctx.provenance.append({"task": spec.name, "split": "train", "source": "language_mix", **record})
    return _cap(columns, hp.max_train_examples)


def augmented(ctx: StageContext, spec, kind, columns: dict[str, list]) -> tuple[dict[str, list], dict]:
    """Training columns through the arm's augmentation plugin (the target stage's `augment` config) and the
    plugin's record ({} and the columns unchanged when the arm has none)."""
    augment = ctx.stage.config.get("augment")
    if not augment:
        return columns, {}
    plugin = registry.get("augmentation", augment["name"])
    columns, record = plugin.augment(columns, fields=kind.text_fields, languages=list(augment["languages"]),
                                     source_language=spec.train_language, settings=dict(augment["settings"]),
                                     seed=ctx.stage.config["seed"])
    return columns, {"name": augment["name"], **record}


def _start_encoder(ctx: StageContext):
    """The encoder this stage starts from: the upstream stage's, or the pretrained model."""
    up = ctx.upstream_dir()
    if up is not None and (up / ENCODER_DIR).exists():
        return load_encoder(str(up / ENCODER_DIR))
    return load_encoder(ctx.stage.config["model"], ctx.trust_remote_code)


def dev_scorer(ctx: StageContext, entries: list[tuple[Any, list[str], Hparams, dict]], tokenizer) -> Callable:
    """A callable model -> mean task score on dev subsets (early stopping and keep-best), or None when no
    task has a dev split in the given languages. Each entry is (spec, languages, hparams, kind settings);
    scoring goes through `harness.evaluation.evaluate_task`, the path every evaluation takes."""
    from harness.evaluation import evaluate_task

    subsets = []
    for spec, langs, hp, settings in entries:
        dev_langs = spec.split_languages("dev", langs)
        if dev_langs:
            pool = get_kind(spec.kind).pool_columns
            columns = {lang: _cap(ctx.load(spec, "dev", lang), hp.eval_examples, pool) for lang in dev_langs}
            subsets.append((spec, list(dev_langs), hp, settings, columns))
    if not subsets:
        return None

    def score(model) -> float:
        scores = []
        for spec, langs, hp, settings, columns in subsets:
            record = evaluate_task(model, tokenizer, spec, get_kind(spec.kind), langs, ["dev"], hp, settings,
                                   lambda split, lang, columns=columns: columns[lang])
            scores.append(record["splits"]["dev"]["score"])
        scores = [s for s in scores if s is not None]
        return sum(scores) / len(scores) if scores else 0.0

    return score


def _progress(ctx: StageContext, label: str):
    if ctx.progress is None:
        return None
    return lambda step, total, loss: ctx.progress(label, step, total, loss)


def _baseline(name: str | None):
    return registry.get("baseline", name) if name else None


def run_intermediate(ctx: StageContext) -> dict[str, Any]:
    """Train the encoder on the arm's English intermediate task(s); save only the encoder."""
    cfg = ctx.stage.config
    run_hp = Hparams(**cfg["hparams"])
    encoder, tokenizer = load_encoder(cfg["model"], ctx.trust_remote_code)
    ctx.tokenizer = tokenizer
    baseline = _baseline(cfg.get("baseline"))
    tasks, heads, kinds, dev = [], {}, {}, []
    for entry in cfg["tasks"]:
        spec, hp = ctx.spec(entry["name"], entry["settings"]), Hparams(**entry["hparams"])
        kind = get_kind(spec.kind)
        columns = train_columns(ctx, spec, hp)
        if baseline is not None and hasattr(baseline, "intermediate_train_columns"):
            columns = baseline.intermediate_train_columns(ctx, spec, columns)
        features = ctx.features(kind, spec, hp, columns, "train", spec.train_language)
        tasks.append(TrainTask(spec.name, kind, features))
        heads[spec.name], kinds[spec.name] = kind.build_head(hidden_size(encoder), spec, hp), kind
        dev.append((spec, [spec.train_language], hp, entry["settings"]))
    if baseline is not None and hasattr(baseline, "intermediate_tasks"):
        for task, head in baseline.intermediate_tasks(ctx, encoder, tokenizer):
            tasks.append(task)
            heads[task.name], kinds[task.name] = head, task.kind
    model = build_task_model(encoder, heads, kinds)
    result = train(model, tasks, run_hp, cfg["seed"], tokenizer.pad_token_id, cfg["sampler"],
                   dev_scorer(ctx, dev, tokenizer), _progress(ctx, "intermediate"), ctx.checkpointer())
    with staging_dir(ctx.stage_dir / ENCODER_DIR) as tmp:
        save_encoder(model.encoder, tokenizer, tmp)
    return {"train": vars(result), "dev_score": result.best_score}


def run_target(ctx: StageContext) -> dict[str, Any]:
    """Fine-tune the carried encoder with a new head on the target task's English training set; a task whose
    training set is a chain (harness.spec.TrainChain) trains on its steps one after another (harness.chain)."""
    cfg = ctx.stage.config
    spec, hp = ctx.spec(cfg["task"]["name"], cfg["settings"]), Hparams(**cfg["hparams"])
    kind = get_kind(spec.kind)
    encoder, tokenizer = _start_encoder(ctx)
    ctx.tokenizer = tokenizer
    baseline = _baseline(cfg.get("baseline"))
    model = build_task_model(encoder, {spec.name: kind.build_head(hidden_size(encoder), spec, hp)}, {spec.name: kind})
    scorer = dev_scorer(ctx, [(spec, list(cfg["dev_languages"]), hp, cfg["settings"])], tokenizer)

    def step_task(step_spec, step_hp: Hparams) -> TrainTask:
        columns, augment = augmented(ctx, step_spec, kind, train_columns(ctx, step_spec, step_hp))
        if baseline is not None and hasattr(baseline, "target_train_columns"):
            columns = baseline.target_train_columns(ctx, step_spec, columns)
        features = ctx.features(kind, step_spec, step_hp, columns, "train", spec.train_language)
        return TrainTask(spec.name, kind, features, record={"augment": augment} if augment else {})

    if "train_steps" in cfg:
        record = train_chain(ctx, model, spec, cfg["train_steps"], step_task, scorer, tokenizer.pad_token_id)
        augments = [{"step": s["name"], **s["augment"]} for s in record["steps"] if "augment" in s]
    else:
        task = step_task(spec, hp)
        result = train(model, [task], hp, cfg["seed"], tokenizer.pad_token_id, None, scorer,
                       _progress(ctx, f"target {spec.name}"), ctx.checkpointer())
        record = {"train": vars(result), "dev_score": result.best_score}
        augments = [task.record["augment"]] if "augment" in task.record else []
    if augments:
        record["augment"] = augments  # one entry per training set augmented
    with staging_dir(ctx.stage_dir / MODEL_DIR) as tmp:
        save_encoder(model.encoder, tokenizer, tmp / ENCODER_DIR)
        save_heads(model.heads, tmp / HEADS_FILE)
    return record


def load_target_model(model_dir: Path, spec) -> tuple[Any, Any]:
    """(TaskModel, tokenizer) saved by a target stage."""
    kind = get_kind(spec.kind)
    encoder, tokenizer = load_encoder(str(model_dir / ENCODER_DIR))
    model = build_task_model(encoder, {spec.name: kind.build_head(hidden_size(encoder), spec, Hparams())},
                             {spec.name: kind})
    load_heads(model.heads, model_dir / HEADS_FILE)
    model.eval()
    return model, tokenizer


def run_evaluate(ctx: StageContext) -> dict[str, Any]:
    """Zero-shot evaluation in every language and split; predictions in the submission layout. A kind that
    trains no head evaluates its upstream's encoder: an intermediate stage's encoder/, the model/encoder/ of
    the target stage its `encoder_from` names, or the pretrained model."""
    from harness.evaluation import evaluate_task

    cfg = ctx.stage.config
    spec = ctx.spec(cfg["task"]["name"], cfg["settings"])
    kind = get_kind(spec.kind)
    hp = Hparams(**cfg["hparams"])
    up = ctx.upstream_dir()
    if up is not None and (up / MODEL_DIR).exists() and kind.trains_head:
        model, tokenizer = load_target_model(up / MODEL_DIR, spec)
    elif up is not None and (up / MODEL_DIR).exists():  # `encoder_from`: another task's target stage
        model, tokenizer = load_encoder(str(up / MODEL_DIR / ENCODER_DIR))
    else:
        model, tokenizer = _start_encoder(ctx)
    with staging_dir(ctx.stage_dir / PREDICTIONS_DIR) as pred_dir:

        def write(split: str, lang: str, predictions: Any) -> None:
            kind.write_predictions(pred_dir / prediction_file(split, lang, kind.submission_ext), predictions)

        record = evaluate_task(model, tokenizer, spec, kind, cfg["languages"], cfg["splits"], hp,
                               cfg["settings"], lambda split, lang: ctx.load(spec, split, lang), write)
    if "encoder_from" in cfg:
        record = {**record, "encoder_from": cfg["encoder_from"], "encoder_stage": ctx.stage.upstream}
    return record


RUNNERS = {"intermediate": run_intermediate, "target": run_target, "evaluate": run_evaluate}
