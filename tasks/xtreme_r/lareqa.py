"""LAReQA (XTREME-R): language-agnostic answer retrieval over XQuAD-R's multilingual sentence pool, mAP@20.

Data: HF `google-research-datasets/xquad_r`, one config per language (the 11 XQuAD languages), split
"validation", SQuAD schema (id, context, question, answers). Each question's targets are the sentences
that hold its answer in every language (same question id across languages); the pool is every sentence
of every context in all 11 languages (kind setting `pool: all_languages`).
Sentences: contexts are cut after sentence-final punctuation (`split_sentences`); a question's target in a
language is the sentence holding its first answer's start. Sentence ids are `{context}-{sentence}` within a
language (the kind prefixes the language: `de:3-1`).
Submission (our format: evaluate.py lists LAReQA with no languages and reads no file for it):
`lareqa/test-{lang}.json`, `{question id: [candidate sentence ids, best first]}` for the questions of that
language, gold `{question id: [target sentence ids]}`; kind `ranked_retrieval`, metric `lareqa_map20`
(AP@20 as XTREME's `utils_lareqa.average_precision_at_k`, averaged over the language's questions).
Model (XTREME-R's baseline): a dual encoder trained on English SQuAD v1.1 train, question -> the sentence of
the context that holds the answer (`squad_pairs`).
"""

from __future__ import annotations

import re

from harness.spec import HFSource, Submission, TaskSpec

LANGUAGES = ("ar", "de", "el", "en", "es", "hi", "ru", "th", "tr", "vi", "zh")
"""XQuAD-R's languages: those of XQuAD (without XTREME-R's added ro)."""
FIELDS = {"id": "id", "context": "context", "question": "question", "answers": "answers"}
HPARAMS = {"max_seq_length": 96, "epochs": 1}
"""A question or one sentence: 96 tokens; one epoch over SQuAD's pairs."""
CITATION = "Roy et al. LAReQA: Language-agnostic answer retrieval from a multilingual pool. EMNLP 2020."
_END = re.compile(r"(?<=[.!?。！？।॥؟])[\"'”’)\]]*\s+|(?<=[。！？])")
"""A sentence ends after final punctuation (and closing quotes) followed by space, or after a CJK full stop."""


def split_sentences(text: str) -> list[tuple[int, int]]:
    """(start, end) character spans of the sentences of `text`, covering it (trailing spaces excluded)."""
    spans, start = [], 0
    for found in _END.finditer(text):
        end = found.start() + len(found.group().rstrip())
        if text[start:end].strip():
            spans.append((start, end))
            start = found.end()
    if text[start:].strip():
        spans.append((start, len(text.rstrip())))
    return spans or [(0, len(text))]


def _answer_sentence(spans: list[tuple[int, int]], answers: dict) -> int:
    """Index of the sentence holding the first answer's start (the last one when it lies beyond)."""
    starts = (answers or {}).get("answer_start") or [0]
    where = int(starts[0])
    for i, (_, end) in enumerate(spans):
        if where < end:
            return i
    return len(spans) - 1


def squad_pairs(columns: dict[str, list]) -> dict[str, list]:
    """SQuAD rows -> training pairs: query (the question), candidate (the answer's sentence)."""
    out: dict[str, list] = {"id": list(columns["id"]), "query": list(columns["question"]), "candidate": []}
    for context, answers in zip(columns["context"], columns["answers"], strict=True):
        spans = split_sentences(context)
        lo, hi = spans[_answer_sentence(spans, answers)]
        out["candidate"].append(context[lo:hi])
    return out


def pool_columns(columns: dict[str, list]) -> dict[str, list]:
    """XQuAD-R rows of one language -> query_id, query, targets (the answer sentence's id) and the
    language's sentence pool cand_id, cand_text (every sentence of every distinct context)."""
    contexts: dict[str, int] = {}
    out: dict[str, list] = {"id": list(columns["id"]), "query_id": list(columns["id"]),
                            "query": list(columns["question"]), "targets": []}
    cand_id, cand_text = [], []
    for context, answers in zip(columns["context"], columns["answers"], strict=True):
        spans = split_sentences(context)
        if context not in contexts:
            contexts[context] = len(contexts)
            for k, (lo, hi) in enumerate(spans):
                cand_id.append(f"{contexts[context]}-{k}")
                cand_text.append(context[lo:hi])
        out["targets"].append([f"{contexts[context]}-{_answer_sentence(spans, answers)}"])
    return {**out, "cand_id": cand_id, "cand_text": cand_text}


TASK = TaskSpec(
    name="lareqa", kind="ranked_retrieval",
    description="LAReQA answer retrieval from the XQuAD-R pool (XTREME-R; mAP@20; SQuAD-trained dual encoder)",
    metric="lareqa_map20", score_metrics=("map@20",), languages=LANGUAGES,
    train=HFSource(repo="rajpurkar/squad", config="plain_text", split="train", fields=FIELDS,
                   expected_rows={"en": 87599}, transform="tasks.xtreme_r.lareqa:squad_pairs"),
    test=HFSource(repo="google-research-datasets/xquad_r", config="{lang}", split="validation", fields=FIELDS,
                  expected_rows={lang: 1190 for lang in LANGUAGES}, transform="tasks.xtreme_r.lareqa:pool_columns"),
    suites=("xtreme-r",), submission=Submission(folder="lareqa", ext="json"),
    hparams=HPARAMS, settings={"pool": "all_languages"},
    license="CC-BY-SA 4.0", citation=CITATION,
    homepage="https://github.com/google-research-datasets/lareqa",
)
