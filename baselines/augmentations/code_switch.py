"""Code-switching augmentation of a target task's training data (CoSDA-ML, Qin et al., IJCAI 2020).

Each augmented copy of a training row has its words replaced, at `rate`, by a bilingual-dictionary translation
into a target language sampled per word, so one sentence mixes several target languages.

```yaml
arms:
  - name: cs
    augment:
      name: code_switch
      dictionaries: ~/muse            # required: MUSE files {src}-{trg}.txt, e.g. en-de.txt
      rate: 0.5                       # probability that a word found in a dictionary is replaced
      languages: [de, fr]             # default: the target's evaluation languages other than the training one
                                      # that have a dictionary (others are left out and recorded)
      keep_original: true             # true: copies are added to the original rows; false: they replace them
      copies: 1                       # augmented copies per row
      max_examples: 10000             # rows augmented (default: all); chosen by a hash of (seed, id)
```
Dictionary files are MUSE's ground-truth bilingual dictionaries as published (`MUSE_URL`/en-de.txt ...):
"word translation" per line, whitespace separated, a word on several lines has several translations (more
than two fields: the rest is one phrase translation; fewer than two: the line is skipped and counted).
Words are the whitespace-separated pieces of a text (each element of a list field such as `tokens` or
`choices` is a text); a word matches its dictionary entry case-insensitively once surrounding punctuation is
stripped, and that punctuation is kept around the translation (spelled as in the dictionary).

Sampling: a word found in at least one target language's dictionary is replaced with probability `rate`,
into a language drawn uniformly among the target languages whose dictionary has it, by a translation drawn
uniformly among that language's translations. (CoSDA-ML draws the language among all target languages, so
a word missing from the drawn dictionary stays; drawing among the languages that have the word makes `rate`
the actual replacement rate of dictionary words.) Default rate 0.5: CoSDA-ML's released configurations use
0.4 (MLDoc) to 0.9 (spoken language understanding); half keeps enough of the source sentence for the label
to stay right while every sentence still mixes languages. Copies are fixed per seed, not redrawn per epoch.

Determinism: each copy has its own `random.Random` seeded from "seed/row id/copy", so the output is fixed
by the seed and independent of row order. Span QA: a context word overlapping an answer span is never
replaced and every `answer_start` is moved so that context[start:start+len(text)] == text still holds.
"""

from __future__ import annotations

import bisect
import hashlib
import random
import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from harness.errors import UserError, settings_error
from harness.languages import LanguageCode, distinct

NAME = "code_switch"
WORD = re.compile(r"\S+")
MUSE_URL = "https://dl.fbaipublicfiles.com/arrival/dictionaries"
"""Where MUSE publishes its dictionaries {src}-{trg}.txt (facebookresearch/MUSE, README)."""


class CodeSwitchSettings(BaseModel):
    """An arm's `augment` settings for code_switch (everything but `name`)."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    dictionaries: str = Field(min_length=1)
    """Directory holding the MUSE files {src}-{trg}.txt (`~` expanded)."""
    rate: float = Field(default=0.5, ge=0.0, le=1.0)
    """Probability that a word found in a target language's dictionary is replaced."""
    languages: list[LanguageCode] | None = Field(default=None, min_length=1)
    """Target languages to switch into; default: the target's evaluation languages but the training one."""
    keep_original: bool = True
    """True: augmented copies are added to the original rows; false: they replace the rows augmented."""
    copies: int = Field(default=1, ge=1)
    """Augmented copies per row."""
    max_examples: int | None = Field(default=None, ge=1)
    """Rows augmented (default: all): those with the smallest hash of (seed, id), whatever their order."""

    @field_validator("languages")
    @classmethod
    def _distinct(cls, value: list[str] | None) -> list[str] | None:
        return None if value is None else distinct(value)


def parse_settings(settings: dict[str, Any], where: str) -> CodeSwitchSettings:
    """Typed settings; a bad value is one UserError line starting with `where`."""
    data = {k: v for k, v in (settings or {}).items() if k != "name"}
    try:
        return CodeSwitchSettings.model_validate(data)
    except ValidationError as exc:
        raise settings_error(exc, where, f"{NAME} augmentation") from None


def check_settings(settings: dict, where: str) -> None:
    """Validate the arm's augment settings at `xstilts validate` time (no file access)."""
    parse_settings(settings, where)


@dataclass(frozen=True)
class Dictionary:
    """One MUSE file read: source word (case-folded) -> translations, in file order."""

    language: str
    file: str
    sha256: str
    entries: int
    skipped_lines: int
    translations: dict[str, list[str]]

    def record(self) -> dict[str, Any]:
        return {"file": self.file, "sha256": self.sha256, "entries": self.entries,
                "words": len(self.translations), "skipped_lines": self.skipped_lines}


def read_dictionary(path: Path, language: str) -> Dictionary:
    """Read one MUSE dictionary file (pairs repeated in the file count once)."""
    raw = path.read_bytes()
    translations: dict[str, list[str]] = {}
    entries = skipped = 0
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise UserError(f"{NAME} augmentation: {path} is not UTF-8 text (byte {exc.start}); MUSE dictionaries "
                        "are UTF-8, convert the file") from None
    for line in text.splitlines():
        parts = line.split()
        if len(parts) < 2:
            skipped += bool(parts)
            continue
        options = translations.setdefault(parts[0].casefold(), [])
        translation = " ".join(parts[1:])
        if translation not in options:
            options.append(translation)
            entries += 1
    return Dictionary(language, path.name, hashlib.sha256(raw).hexdigest(), entries, skipped, translations)


def load_dictionaries(directory: str, source_language: str, languages: list[str],
                      required: bool = True) -> list[Dictionary]:
    """The dictionary {source}-{lang}.txt of every language; a missing directory, or a missing file when
    `required` (languages the user listed), is a UserError; otherwise a language without a file is left out."""
    root = Path(directory).expanduser()
    if not root.is_dir():
        raise UserError(f"{NAME} augmentation: dictionaries directory {root} not found; set augment.dictionaries "
                        f"to the folder holding the MUSE files {source_language}-<lang>.txt")
    found = []
    for lang in languages:
        path = root / f"{source_language}-{lang}.txt"
        if path.is_file():
            found.append(read_dictionary(path, lang))
        elif required:
            raise UserError(f"{NAME} augmentation: no dictionary {path} for language '{lang}'; put the MUSE file "
                            f"{path.name} there ({MUSE_URL}/{path.name}) or list the languages you have under "
                            "augment.languages")
    if not found:
        raise UserError(f"{NAME} augmentation: no dictionary {source_language}-<lang>.txt in {root} for any of "
                        f"the target's languages {languages}; add MUSE files there or list languages under "
                        "augment.languages")
    return found


def _core(word: str) -> tuple[int, int]:
    """[start, end) of `word` without its surrounding punctuation."""
    lo, hi = 0, len(word)
    while lo < hi and unicodedata.category(word[lo]).startswith("P"):
        lo += 1
    while hi > lo and unicodedata.category(word[hi - 1]).startswith("P"):
        hi -= 1
    return lo, hi


@dataclass
class Switcher:
    """Replaces words by translations and counts what it did."""

    index: dict[str, list[tuple[str, list[str]]]]
    """Case-folded word -> (language, translations) of every target language whose dictionary has it."""
    rate: float
    counts: dict[str, int] = field(default_factory=lambda: dict.fromkeys(
        ("words_seen", "words_in_dictionary", "words_protected", "words_replaced"), 0))
    by_language: dict[str, int] = field(default_factory=dict)

    def word(self, word: str, rng: random.Random) -> str:
        self.counts["words_seen"] += 1
        lo, hi = _core(word)
        options = self.index.get(word[lo:hi].casefold()) if lo < hi else None
        if options is None:
            return word
        self.counts["words_in_dictionary"] += 1
        if rng.random() >= self.rate:
            return word
        lang, translations = rng.choice(options)
        self.counts["words_replaced"] += 1
        self.by_language[lang] = self.by_language.get(lang, 0) + 1
        return word[:lo] + rng.choice(translations) + word[hi:]

    def text(self, text: str, rng: random.Random, protected: Sequence[tuple[int, int]] = ()
             ) -> tuple[str, list[int], list[int]]:
        """(new text, end offsets of the words replaced, cumulative length change after each) of `text`;
        a word overlapping a protected [start, end) span stays."""
        pieces, ends, shifts, last, shift = [], [], [], 0, 0
        for m in WORD.finditer(text):
            start, end = m.span()
            if any(start < p_end and p_start < end for p_start, p_end in protected):
                self.counts["words_seen"] += 1
                self.counts["words_protected"] += 1
                continue
            new = self.word(m.group(), rng)
            if new != m.group():
                pieces += [text[last:start], new]
                last = end
                shift += len(new) - (end - start)
                ends.append(end)
                shifts.append(shift)
        pieces.append(text[last:])
        return "".join(pieces), ends, shifts

    def value(self, value: Any, rng: random.Random) -> Any:
        """A text rewritten, a list of texts rewritten element-wise, anything else unchanged."""
        if isinstance(value, str):
            return self.text(value, rng)[0]
        if isinstance(value, (list, tuple)):
            return [self.text(v, rng)[0] if isinstance(v, str) else v for v in value]
        return value

    def context(self, context: str, answers: Any, rng: random.Random) -> tuple[str, Any]:
        """The context rewritten outside its answer spans, and the answers with their starts moved."""
        texts, starts = _answer_lists(answers)
        new, ends, shifts = self.text(context, rng, [(s, s + len(t)) for t, s in zip(texts, starts, strict=True)])
        moved = [s + (shifts[k - 1] if (k := bisect.bisect_right(ends, s)) else 0) for s in starts]
        return new, _with_starts(answers, moved)


def _answer_lists(answers: Any) -> tuple[list[str], list[int]]:
    """(texts, starts) of one row's answers, HF dict-of-lists or list-of-dicts."""
    if isinstance(answers, dict):
        return list(answers.get("text") or []), [int(s) for s in answers.get("answer_start") or []]
    answers = list(answers or [])
    return [a["text"] for a in answers], [int(a["answer_start"]) for a in answers]


def _with_starts(answers: Any, starts: list[int]) -> Any:
    if isinstance(answers, dict):
        return {**answers, "answer_start": starts} if starts else answers
    return [{**a, "answer_start": s} for a, s in zip(answers or [], starts, strict=True)]


def _chosen_rows(ids: list[str], seed: int, cap: int | None) -> set[int]:
    """Rows to augment: all, or the `cap` with the smallest hash of (seed, id) (independent of row order)."""
    if cap is None or cap >= len(ids):
        return set(range(len(ids)))
    rank = sorted(range(len(ids)), key=lambda i: (hashlib.sha256(f"{seed}/{ids[i]}".encode()).hexdigest(), i))
    return set(rank[:cap])


def _unique_id(base: str, copy: int, used: set[str]) -> str:
    candidate, n = f"{base}-cs{copy}", 1
    while candidate in used:
        n += 1
        candidate = f"{base}-cs{copy}.{n}"
    used.add(candidate)
    return candidate


def augment(columns: dict[str, list], *, fields: tuple[str, ...], languages: list[str], source_language: str,
            settings: dict, seed: int) -> tuple[dict[str, list], dict]:
    """The target task's training columns augmented, and a JSON-ready record of what was done.

    Text `fields` present in `columns` are rewritten (a "context" next to "answers" outside the answer spans);
    every other column is carried along row by row; an augmented copy's id is `{id}-cs{copy}` (made unique).
    Each row is followed by its copies (the row itself only when kept).
    """
    s = parse_settings(settings, f"{NAME} augmentation settings")
    pool = list(s.languages or languages)
    if not pool:
        raise UserError(f"{NAME} augmentation: no target language to switch into (the target is evaluated only "
                        f"in {source_language}); list some under augment.languages")
    # the target's own languages (the default) are switched into where a dictionary exists (a code-mixed
    # target such as LinCE's "spaeng" has none); languages the user listed must all have one
    dictionaries = load_dictionaries(s.dictionaries, source_language, pool, required=s.languages is not None)
    skipped = [lang for lang in pool if lang not in {d.language for d in dictionaries}]
    pool = [d.language for d in dictionaries]
    index: dict[str, list[tuple[str, list[str]]]] = {}
    for d in dictionaries:
        for word, translations in d.translations.items():
            index.setdefault(word, []).append((d.language, translations))
    switcher = Switcher(index, s.rate)

    n = len(next(iter(columns.values()))) if columns else 0
    ids = [str(i) for i in columns["id"]] if "id" in columns else [str(i) for i in range(n)]
    chosen = _chosen_rows(ids, seed, s.max_examples)
    text_fields = [f for f in fields if f in columns]
    qa_context = "context" in text_fields and "answers" in columns
    used = set(ids)
    out: dict[str, list] = {k: [] for k in columns}
    for i in range(n):
        row = {k: values[i] for k, values in columns.items()}
        if s.keep_original or i not in chosen:
            for k, v in row.items():
                out[k].append(v)
        if i not in chosen:
            continue
        for copy in range(1, s.copies + 1):
            rng = random.Random(f"{seed}/{ids[i]}/{copy}")
            new = dict(row)
            for f in text_fields:
                if f == "context" and qa_context and isinstance(row[f], str):
                    new[f], new["answers"] = switcher.context(row[f], row["answers"], rng)
                else:
                    new[f] = switcher.value(row[f], rng)
            if "id" in new:
                new["id"] = _unique_id(ids[i], copy, used)
            for k, v in new.items():
                out[k].append(v)
    record = {
        "name": NAME, "settings": s.model_dump(mode="json"), "seed": seed, "source_language": source_language,
        "languages": pool, "languages_without_dictionary": skipped, "fields": text_fields,
        "dictionaries": {d.language: d.record() for d in dictionaries},
        "rows_in": n, "rows_augmented": len(chosen),
        "rows_out": n + len(chosen) * s.copies - (0 if s.keep_original else len(chosen)), **switcher.counts,
        "replaced_by_language": {lang: switcher.by_language.get(lang, 0) for lang in pool},
    }
    return out, record
