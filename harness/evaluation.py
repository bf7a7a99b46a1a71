"""Evaluate one task in its languages and splits: shared by the pipeline's evaluate stage and
`xstilts evaluate`, so both compute the same numbers.

Optional kind hooks (used by kinds that evaluate an encoder without training, e.g. retrieval):
- `resolve_settings(model, spec, settings) -> settings`: defaults and model-dependent choices (recorded);
- `prepare(model, tokenizer, spec, hp, lang, settings, load) -> settings`: per-language calibration, e.g.
  a threshold tuned on the dev split (`load(split, lang)` returns its columns), applied to every split;
- `evaluate(model, tokenizer, spec, columns, hp, lang, settings) -> (predictions, metrics)`.
Kinds without `evaluate` go through `harness.predict.evaluate_columns` (a trained head).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from harness.hparams import Hparams
from harness.spec import TaskSpec

Loader = Callable[[str, str], dict[str, list]]
Writer = Callable[[str, str, Any], None]


def evaluate_task(model: Any, tokenizer: Any, spec: TaskSpec, kind: Any, languages: Sequence[str],
                  splits: Sequence[str], hp: Hparams, settings: dict, load: Loader,
                  write: Writer | None = None) -> dict[str, Any]:
    """{"task", "metric", "score_metrics", "settings", "splits": {split: {"languages", "metrics", "score"}}}.

    Splits the task lacks are skipped; `write(split, lang, predictions)` saves predictions if given.
    """
    from harness.predict import evaluate_columns
    from harness.scoring import mean_over_languages, task_score

    _to_device(model)
    if hasattr(kind, "resolve_settings"):
        settings = kind.resolve_settings(model, spec, dict(settings))
    per_language: dict[str, dict] = {}
    out_splits: dict[str, Any] = {}
    for split in splits:
        if spec.source(split) is None:
            continue
        results: dict[str, Any] = {}
        for lang in languages:
            lang_settings = settings
            if hasattr(kind, "prepare"):
                lang_settings = kind.prepare(model, tokenizer, spec, hp, lang, settings, load)
                if lang_settings is not settings:
                    per_language[lang] = {k: v for k, v in lang_settings.items() if settings.get(k) != v}
            columns = load(split, lang)
            if hasattr(kind, "evaluate"):
                predictions, metrics = kind.evaluate(model, tokenizer, spec, columns, hp, lang, lang_settings)
            else:
                predictions, metrics = evaluate_columns(model, tokenizer, spec, kind, columns, hp, lang)
            if write is not None:
                write(split, lang, predictions)
            results[lang] = metrics
        labelled = {lang: m for lang, m in results.items() if m is not None}
        out_splits[split] = {
            "languages": results,
            "metrics": mean_over_languages(labelled) if len(labelled) == len(results) else None,
            "score": task_score(labelled, spec.score_metrics, list(languages)),
        }
    record: dict[str, Any] = {"task": spec.name, "metric": spec.metric,
                              "score_metrics": list(spec.score_metrics), "settings": settings,
                              "splits": out_splits}
    if per_language:
        record["language_settings"] = per_language
    return record


def _to_device(model: Any) -> None:
    """Move the model to the GPU when there is one (inference only)."""
    import torch

    if torch.cuda.is_available():
        model.to("cuda")
