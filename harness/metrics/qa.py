"""Extractive QA metrics: SQuAD v1.1 EM/F1 (XQuAD, TyDiQA-GoldP) and MLQA's per-language EM/F1.

Both follow the official scripts XTREME ships (third_party/evaluate_squad.py, evaluate_mlqa.py):
answers are normalised, EM is string equality after normalisation, F1 is bag-of-token overlap, each
question takes the maximum over its gold answers and the scores are averaged over the gold questions.

- SQuAD v1.1: lower-case; drop ASCII punctuation (`string.punctuation`); replace the words a/an/the
  with a space; split on whitespace.
- MLQA: lower-case; drop every Unicode punctuation character (category P*) and `string.punctuation`;
  replace the language's articles (none for hi and zh); Arabic replaces *every* occurrence of "ال"
  with a space, even inside a word, as the official regular expression does; zh splits each CJK
  character (U+4E00 to U+9FA5) into its own token, other text on whitespace. The language is the
  context's.

One deliberate difference: the official scripts give 0 to a gold question without a prediction and
go on; here that raises ValueError naming the id, because it always means a broken prediction file.
"""

from __future__ import annotations

import re
import string
import sys
import unicodedata
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from functools import lru_cache
from typing import Any

_ASCII_PUNCT = frozenset(string.punctuation)
_SQUAD_ARTICLES = re.compile(r"\b(a|an|the)\b")
_MLQA_ARTICLES: dict[str, re.Pattern[str] | None] = {
    "en": _SQUAD_ARTICLES,
    "es": re.compile(r"\b(un|una|unos|unas|el|la|los|las)\b"),
    "de": re.compile(r"\b(ein|eine|einen|einem|eines|einer|der|die|das|den|dem|des)\b"),
    "vi": re.compile(r"\b(của|là|cái|chiếc|những)\b"),
    "ar": re.compile("ال"),
    "hi": None,
    "zh": None,
}
_SEGMENTED = ("zh",)
_CJK = re.compile("[\u4e00-\u9fa5]")


@lru_cache(maxsize=1)
def _unicode_punct() -> frozenset[str]:
    """Every character of a Unicode punctuation category, plus ASCII punctuation (as MLQA's script)."""
    found = {chr(i) for i in range(sys.maxunicode) if unicodedata.category(chr(i)).startswith("P")}
    return frozenset(found | _ASCII_PUNCT)


def normalize_squad(text: str) -> str:
    """SQuAD v1.1 answer normalisation."""
    text = "".join(ch for ch in text.lower() if ch not in _ASCII_PUNCT)
    return " ".join(_SQUAD_ARTICLES.sub(" ", text).split())


def _mixed_segmentation(text: str, punct: frozenset[str]) -> list[str]:
    tokens: list[str] = []
    pending = ""
    for ch in text:
        if _CJK.match(ch) or ch in punct:
            tokens.extend(pending.split())
            pending = ""
            tokens.append(ch)
        else:
            pending += ch
    tokens.extend(pending.split())
    return tokens


def normalize_mlqa(text: str, language: str) -> str:
    """MLQA answer normalisation for the context language `language`."""
    if language not in _MLQA_ARTICLES:
        raise ValueError(f"MLQA normalisation has no rule for language '{language}'")
    punct = _unicode_punct()
    text = "".join(ch for ch in text.lower() if ch not in punct)
    articles = _MLQA_ARTICLES[language]
    if articles is not None:
        text = articles.sub(" ", text)
    tokens = _mixed_segmentation(text, punct) if language in _SEGMENTED else text.split()
    return " ".join(t for t in tokens if t.strip())


def _f1(pred_tokens: list[str], gold_tokens: list[str]) -> float:
    same = sum((Counter(pred_tokens) & Counter(gold_tokens)).values())
    if same == 0:
        return 0.0
    precision = same / len(pred_tokens)
    recall = same / len(gold_tokens)
    return 2 * precision * recall / (precision + recall)


def _em_f1(
    gold: Mapping[str, list[str]], pred: Mapping[str, str], normalize: Callable[[str], str]
) -> dict[str, float]:
    exact = f1 = 0.0
    for qid, answers in gold.items():
        if qid not in pred:
            raise ValueError(f"no prediction for question id '{qid}'")
        if not answers:
            raise ValueError(f"question id '{qid}' has no gold answer")
        guess = normalize(pred[qid])
        truths = [normalize(a) for a in answers]
        exact += max(float(guess == t) for t in truths)
        f1 += max(_f1(guess.split(), t.split()) for t in truths)
    n = len(gold)
    return {"exact_match": 100.0 * exact / n if n else 0.0, "f1": 100.0 * f1 / n if n else 0.0}


def squad(gold: Mapping[str, list[str]], pred: Mapping[str, str], language: str = "") -> dict[str, float]:
    """SQuAD v1.1 exact match and F1 in percent; gold maps id -> gold answers, pred id -> answer."""
    return _em_f1(gold, pred, normalize_squad)


def squad_v2(gold: Mapping[str, list[str]], pred: Mapping[str, str], language: str = "") -> dict[str, float]:
    """SQuAD v2.0 exact match and F1: a question without gold answers has the gold answer "" (no answer),
    and an empty prediction or gold scores 1 only when both are empty (the official v2 script)."""
    exact = f1 = 0.0
    for qid, answers in gold.items():
        if qid not in pred:
            raise ValueError(f"no prediction for question id '{qid}'")
        guess = normalize_squad(pred[qid]).split()
        truths = [normalize_squad(a).split() for a in answers if normalize_squad(a)] or [[]]
        exact += max(float(guess == t) for t in truths)
        f1 += max(float(guess == t) if not guess or not t else _f1(guess, t) for t in truths)
    n = len(gold)
    return {"exact_match": 100.0 * exact / n if n else 0.0, "f1": 100.0 * f1 / n if n else 0.0}


def mlqa(gold: Mapping[str, list[str]], pred: Mapping[str, str], language: str) -> dict[str, float]:
    """MLQA exact match and F1 in percent, normalised for the context language."""
    if language not in _MLQA_ARTICLES:
        raise ValueError(f"MLQA normalisation has no rule for language '{language}'")
    return _em_f1(gold, pred, lambda text: normalize_mlqa(text, language))


def read_squad_gold(obj: Any) -> dict[str, list[str]]:
    """id -> gold answer texts from SQuAD-format JSON ({"data": [articles]} or a list of articles)."""
    articles: Iterable[Any] = obj["data"] if isinstance(obj, dict) and "data" in obj else obj
    if not isinstance(articles, list):
        raise ValueError('expected SQuAD-format JSON: {"data": [{"paragraphs": [{"qas": [...]}]}]}')
    gold: dict[str, list[str]] = {}
    for article in articles:
        for paragraph in article["paragraphs"]:
            for qa in paragraph["qas"]:
                gold[str(qa["id"])] = [answer["text"] for answer in qa["answers"]]
    return gold
