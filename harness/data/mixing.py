"""Training on one task's data in several languages: which languages, and how many rows of each.

A task's kind settings `train_languages` ("all", a list of codes, or absent: its `train_language` only) and
`language_sampler` ({name: proportional | temperature | uniform, temperature: T, cap: N}) choose them. The
sampler fixes each language's share of one training set of the languages' total size (each capped at `cap`):
proportional keeps every row once; temperature T gives language l the share n_l^(1/T) / sum_k n_k^(1/T) (XLM's
exponentially smoothed sampling; T = 1 is proportional, large T tends to uniform); uniform gives equal shares. A
language whose share exceeds its rows repeats them (each pass a fresh seeded shuffle); one below takes a seeded
sample. The mixed rows are shuffled together, so a `max_train_examples` cap keeps the mixture.
"""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from harness.errors import UserError, settings_error

Columns = dict[str, list]


class LanguageSampler(BaseModel):
    """How many rows each training language contributes (see the module docstring)."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    name: Literal["proportional", "temperature", "uniform"] = "proportional"
    temperature: float = Field(1.0, gt=0)
    cap: int | None = Field(None, ge=1)
    """Rows counted per language at most (the total is the sum of the capped sizes)."""


def train_languages(spec: Any, where: str = "") -> list[str]:
    """The languages `spec` trains on: its `train_languages` setting resolved against the languages its train
    split holds ("all": every one), or [] when the setting is absent (train on `train_language` alone)."""
    value = spec.settings.get("train_languages")
    if value is None:
        return []
    held = list(spec.split_languages("train"))
    if value == "all":
        return held
    where = where or f"task_settings.{spec.name}.train_languages"
    if isinstance(value, str) or not isinstance(value, Sequence) or not value:
        raise UserError(f"{where}: expected \"all\" or a non-empty list of language codes, got {value!r}")
    from harness.languages import resolve_languages

    try:
        return resolve_languages([str(v) for v in value], held, where)
    except UserError as exc:
        raise UserError(f"{exc} with training data ({', '.join(held)})") from None


def language_sampler(spec: Any, where: str = "") -> LanguageSampler:
    """The task's `language_sampler` setting, validated (a UserError naming `where` when malformed)."""
    try:
        return LanguageSampler.model_validate(spec.settings.get("language_sampler") or {})
    except ValidationError as exc:
        raise settings_error(exc, where or f"task_settings.{spec.name}.language_sampler", "language_sampler") from None


def language_counts(sizes: Mapping[str, int], sampler: LanguageSampler) -> dict[str, int]:
    """Rows drawn per language: the languages' (capped) total split by the sampler's shares, rounded so that
    the counts add up to that total (largest remainders first, ties in the given order)."""
    from harness.train import sampling_weights  # the multi-task sampler's rule, applied to languages

    capped = {lang: min(n, sampler.cap) if sampler.cap else n for lang, n in sizes.items()}
    total = sum(capped.values())
    if sampler.name == "proportional":
        return capped
    shares = sampling_weights(capped, sampler.model_dump())
    exact = {lang: total * p for lang, p in shares.items()}
    counts = {lang: int(x) for lang, x in exact.items()}
    order = sorted(exact, key=lambda lang: -(exact[lang] - counts[lang]))
    for lang in order[: total - sum(counts.values())]:
        counts[lang] += 1
    return counts


def mix_languages(by_language: Mapping[str, Columns], sampler: LanguageSampler, seed: int) -> tuple[Columns, dict]:
    """One training set from each language's columns by the sampler's counts, shuffled by `seed`; ids are
    prefixed with the language (and "#k" on a row's k-th repeat). Returns the columns and a record (rows
    available and drawn per language)."""
    sizes = {lang: len(cols["id"]) for lang, cols in by_language.items()}
    empty = [lang for lang, n in sizes.items() if not n]
    if empty:
        raise UserError(f"no training rows in {empty}; check their data or leave them out of train_languages")
    counts = language_counts(sizes, sampler)
    picks: list[tuple[str, int, int]] = []  # (language, row, pass over that language's rows)
    for lang, want in counts.items():
        rng = random.Random(f"{seed}/{lang}")
        taken, n_pass = 0, 0
        while taken < want:
            order = list(range(sizes[lang]))
            rng.shuffle(order)
            picks += [(lang, i, n_pass) for i in order[: want - taken]]
            taken, n_pass = min(want, taken + sizes[lang]), n_pass + 1
    random.Random(f"{seed}/mix").shuffle(picks)
    fields = list(next(iter(by_language.values())))
    for lang, cols in by_language.items():
        if set(cols) != set(fields):
            raise UserError(f"training data in '{lang}' has fields {sorted(cols)}, other languages {sorted(fields)}; "
                            "map every language's source to the same canonical fields")
    out: Columns = {name: [] for name in fields}
    for lang, i, n_pass in picks:
        for name in fields:
            value = by_language[lang][name][i]
            out[name].append(f"{lang}:{value}" + (f"#{n_pass}" if n_pass else "") if name == "id" else value)
    record = {"sampler": sampler.model_dump(), "rows_available": sizes, "rows_drawn": counts}
    return out, record
