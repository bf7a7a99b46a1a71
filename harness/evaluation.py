"""The one evaluation path: the pipeline's evaluate stage, dev scoring during training (early stopping,
keep-best) and `xstilts evaluate` all call `evaluate_task`, so they compute the same numbers.

Per task: the kind's `resolve_settings` once; per split, each language that split exists in
(`TaskSpec.split_languages`: e.g. UD-POS th/tl/yo have test only, XQuAD's dev is English SQuAD dev, evaluated
once); per language the kind's `prepare` (e.g. a mining threshold tuned on dev), then `predict` and `gold`
scored by the task's metric.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from harness.hparams import Hparams
from harness.spec import TaskSpec

Loader = Callable[[str, str], dict[str, list]]
Writer = Callable[[str, str, Any], None]


def evaluate_columns(model: Any, tokenizer: Any, spec: TaskSpec, kind: Any, columns: dict[str, list],
                     hp: Hparams, lang: str, settings: dict) -> tuple[Any, dict | None]:
    """(predictions, metrics or None when the split is unlabelled) for one split in one language."""
    from harness.metrics import metric

    predictions = kind.predict(model, tokenizer, spec, columns, hp, lang, settings)
    gold = kind.gold(columns, spec, settings)
    return predictions, (metric(spec.metric)(gold, predictions, lang) if gold is not None else None)


def evaluate_task(model: Any, tokenizer: Any, spec: TaskSpec, kind: Any, languages: Sequence[str],
                  splits: Sequence[str], hp: Hparams, settings: dict, load: Loader,
                  write: Writer | None = None) -> dict[str, Any]:
    """{"task", "metric", "score_metrics", "settings", "splits": {split: {"languages", "metrics", "score"}}}.

    A split is evaluated in the languages (of `languages`) it exists in; a split the task lacks, or that
    none of the languages has, is left out. The split's score is strict over those languages.
    `write(split, lang, predictions)` saves predictions if given.
    """
    from harness.scoring import mean_over_languages, task_score

    _to_device(model)
    settings = kind.resolve_settings(model, spec, dict(settings))
    per_language: dict[str, dict] = {}
    out_splits: dict[str, Any] = {}
    for split in splits:
        split_langs = spec.split_languages(split, languages)
        if not split_langs:
            continue
        results: dict[str, Any] = {}
        for lang in split_langs:
            lang_settings = kind.prepare(model, tokenizer, spec, hp, lang, settings, load)
            if lang_settings is not settings:
                per_language[lang] = {k: v for k, v in lang_settings.items() if settings.get(k) != v}
            predictions, results[lang] = evaluate_columns(model, tokenizer, spec, kind, load(split, lang), hp,
                                                          lang, lang_settings)
            if write is not None:
                write(split, lang, predictions)
        labelled = {lang: m for lang, m in results.items() if m is not None}
        out_splits[split] = {
            "languages": results,
            "metrics": mean_over_languages(labelled) if len(labelled) == len(results) else None,
            "score": task_score(labelled, spec.score_metrics, list(split_langs)),
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
