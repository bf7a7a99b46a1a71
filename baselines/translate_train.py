"""Translate-train baseline: train on machine-translated copies of the training data.

For every task named under `settings.tasks`, the English training columns are extended (or replaced)
with translated training data in the target languages. The task may be a target (XNLI-MT, translated
PAWS-X, translated SQuAD for the QA targets) or an intermediate task of the arm (translated MNLI...).

```yaml
baseline: translate_train
settings:
  include_english: true            # keep the English training data (default)
  languages: [de, fr]              # default: each task's languages other than English
  max_examples: 50000              # per language (default: all)
  tasks:
    xnli:  {repo: facebook/xnli, config: "{lang}", split: train,
            fields: {text_a: premise, text_b: hypothesis, label: label}}
    pawsx: {repo: google/xtreme, config: "PAWS-X.{lang}", split: train,
            fields: {text_a: sentence1, text_b: sentence2, label: label}}
    xquad: {files: "data/translate-train/squad.translate.train.en-{lang}.json", format: squad}
    mnli:  {files: "data/mnli-mt/{lang}.jsonl", format: jsonl,
            fields: {text_a: premise, text_b: hypothesis, label: label}}
```
HF sources go through harness.data (snapshots, revision pins and provenance work as for tasks); local
files are SQuAD v1.1 JSON (`format: squad`) or JSON lines (`format: jsonl`, one object per example).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from harness.errors import UserError, settings_error
from harness.languages import LanguageCode


class TaskTranslation(BaseModel):
    """Where one task's translated training data comes from."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    repo: str | None = None
    config: str | None = None
    split: str = "train"
    revision: str = "main"
    files: str | None = None
    """Path template with {lang}."""
    format: Literal["squad", "jsonl"] = "jsonl"
    fields: dict[str, str] = Field(default_factory=dict)
    """Canonical field -> source column (HF) or key (jsonl); the task's own fields when empty (HF)."""
    label_names: list[str] = Field(default_factory=list)
    languages: list[LanguageCode] | None = None

    @model_validator(mode="after")
    def _one_source(self) -> TaskTranslation:
        if (self.repo is None) == (self.files is None):
            raise ValueError("give either repo (an HF dataset) or files (a local path template with {lang})")
        return self


class TranslateTrainSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    include_english: bool = True
    languages: list[LanguageCode] | None = None
    max_examples: int | None = Field(default=None, ge=1)
    tasks: dict[str, TaskTranslation] = Field(min_length=1)


def parse_settings(settings: dict[str, Any], where: str = "settings") -> TranslateTrainSettings:
    try:
        return TranslateTrainSettings.model_validate(settings)
    except ValidationError as exc:
        raise settings_error(exc, where, "translate_train baseline") from None


def check_settings(settings: dict[str, Any], where: str) -> None:
    """Validate an arm's settings at `xstilts validate` time (task names must be registered)."""
    from harness import registry

    parsed = parse_settings(settings, where)
    for name in parsed.tasks:
        try:
            registry.task(name)
        except UserError as exc:
            raise UserError(f"{where}.tasks: {exc}") from None


def estimate_rows(settings: dict[str, Any], phase: str) -> int | None:
    """Translated rows added to a phase: known only as a cap (max_examples per language and task)."""
    s = parse_settings(settings)
    if s.max_examples is None:
        return None
    return sum(s.max_examples * len(t.languages or s.languages or []) for t in s.tasks.values()) or None


def touches(settings: dict[str, Any], phase: str, task: str) -> bool:
    """Whether the arm translates `task`'s training data (in either phase): only the tasks under
    `settings.tasks`, so the arm's other stages are shared with arms without translate-train."""
    return task in parse_settings(settings).tasks


def target_train_columns(ctx: Any, spec: Any, columns: dict[str, list]) -> dict[str, list]:
    """Hook for harness.stages (target phase)."""
    return _translated(ctx, spec, columns)


def intermediate_train_columns(ctx: Any, spec: Any, columns: dict[str, list]) -> dict[str, list]:
    """Hook for harness.stages (intermediate phase)."""
    return _translated(ctx, spec, columns)


def _translated(ctx: Any, spec: Any, columns: dict[str, list]) -> dict[str, list]:
    s = parse_settings(ctx.stage.config.get("baseline_settings") or {})
    tt = s.tasks.get(spec.name)
    if tt is None:
        return columns
    langs = tt.languages or s.languages or [lang for lang in spec.languages if lang != spec.train_language]
    held_out = _held_out_ids(ctx, spec)
    parts = [columns] if s.include_english else []
    for lang in langs:
        part = _load(ctx, spec, tt, lang)
        if held_out is not None:
            part = _without_held_out(ctx, spec, part, lang, held_out, set(columns["id"]))
        parts.append({k: v[: s.max_examples] for k, v in part.items()} if s.max_examples else part)
    return concat(parts, list(columns), spec.name)


def _held_out_ids(ctx: Any, spec: Any) -> set[str] | None:
    """The ids of the dev slice a task carves from its own training data (TyDiQA-GoldP), else None."""
    from harness.spec import parts

    if not any(p.holdout is not None for p in parts(spec.train)) or spec.dev is None:
        return None
    return set(ctx.load(spec, "dev", spec.train_language)["id"])


def _without_held_out(ctx: Any, spec: Any, part: dict[str, list], lang: str, held_out: set[str],
                      english: set[str]) -> dict[str, list]:
    """Translations of held-out dev examples dropped (matched by the source id), so the dev set stays out of
    training; recorded, including when the file's ids match no English id and nothing can be checked."""
    source_ids = [i.removeprefix(f"{lang}-") for i in part["id"]]
    keep = [i not in held_out for i in source_ids]
    comparable = any(i in held_out or i in english for i in source_ids)
    if ctx.provenance is not None:
        ctx.provenance.append({
            "task": spec.name, "split": "train", "language": lang, "source": "translate_train",
            "held_out_dropped": keep.count(False),
            "dev_independence": "ok: translations of the held-out dev examples dropped by id" if comparable else
            "unknown: the translated ids match no English training id, so translations of dev examples may "
            "be in training"})
    return {k: [v for v, kept in zip(values, keep, strict=True) if kept] for k, values in part.items()}


def concat(parts: list[dict[str, list]], keys: list[str], task: str) -> dict[str, list]:
    """Concatenate column dicts on `keys` (the English columns' fields)."""
    out: dict[str, list] = {k: [] for k in keys}
    for part in parts:
        missing = [k for k in keys if k not in part]
        if missing:
            raise UserError(f"translate_train: translated data for '{task}' lacks field(s) {missing}; map "
                            "them with settings.tasks.<task>.fields")
        for k in keys:
            out[k] += list(part[k])
    return out


def _load(ctx: Any, spec: Any, tt: TaskTranslation, lang: str) -> dict[str, list]:
    if tt.repo is not None:
        return _load_hf(ctx, spec, tt, lang)
    path = Path(tt.files.format(lang=lang)).expanduser()  # type: ignore[union-attr]
    if not path.is_file():
        raise UserError(f"translate_train: no translated data for '{spec.name}' in '{lang}' at {path}; fix "
                        f"settings.tasks.{spec.name}.files")
    columns = read_squad(path) if tt.format == "squad" else read_jsonl(path, tt.fields)
    columns["id"] = [f"{lang}-{i}" for i in columns.get("id", range(len(next(iter(columns.values())))))]
    if ctx.provenance is not None:
        ctx.provenance.append({"task": spec.name, "split": "train", "language": lang, "source": "local",
                               "path": str(path), "rows": len(columns["id"])})
    return columns


def _load_hf(ctx: Any, spec: Any, tt: TaskTranslation, lang: str) -> dict[str, list]:
    from dataclasses import replace

    from harness.spec import HFSource, parts

    own = next((p for p in parts(spec.train) if isinstance(p, HFSource)), None)
    fields = dict(tt.fields) or (dict(own.fields) if own else {})
    label_names = tuple(tt.label_names) or (own.label_names if own else ())
    source = HFSource(repo=tt.repo, config=tt.config, split=tt.split, revision=tt.revision, fields=fields,
                      label_names=label_names)  # type: ignore[arg-type]
    translated = replace(spec, train=source, train_language=lang)
    columns = ctx.load(translated, "train", lang)
    columns["id"] = [f"{lang}-{i}" for i in columns["id"]]
    return columns


def read_squad(path: Path) -> dict[str, list]:
    """SQuAD v1.1 JSON -> id, context, question, answers ({"text": [...], "answer_start": [...]})."""
    data = json.loads(path.read_text(encoding="utf-8"))
    cols: dict[str, list] = {"id": [], "context": [], "question": [], "answers": []}
    for article in data.get("data", []):
        for para in article.get("paragraphs", []):
            for qa in para.get("qas", []):
                cols["id"].append(str(qa["id"]))
                cols["context"].append(para["context"])
                cols["question"].append(qa["question"])
                answers = qa.get("answers", [])
                cols["answers"].append({"text": [a["text"] for a in answers],
                                        "answer_start": [int(a["answer_start"]) for a in answers]})
    return cols


def read_jsonl(path: Path, fields: dict[str, str]) -> dict[str, list]:
    """JSON lines -> columns; `fields` maps canonical names to keys (identity when empty)."""
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    mapping = fields or ({k: k for k in rows[0]} if rows else {})
    try:
        return {canon: [row[key] for row in rows] for canon, key in mapping.items()}
    except KeyError as exc:
        raise UserError(f"{path}: a line lacks key {exc}; fix the file or settings fields") from None
