"""Extractive span QA (SQuAD, XQuAD, MLQA, TyDiQA-GoldP): start/end logits over the context tokens.

Long contexts become several windows (`doc_stride` tokens of overlap as in HF's run_qa, capped at half
of the room a window has for context). A window that does not contain the answer, and an unanswerable
SQuAD v2 question, point start and end at the first (CLS) token. Decoding takes the `n_best` start and
end candidates of every window, keeps spans of at most `max_answer_length` tokens inside the context,
and maps the best one over all windows back to the original context text through the tokenizer's
character offsets.

Settings (task.settings, overridable per experiment): max_answer_length (30), n_best (20),
max_query_length (64 tokens), version_2_with_negative (False), null_score_diff_threshold (0.0).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from harness.errors import UserError
from harness.hparams import Hparams
from harness.kinds.base import Kind, encode
from harness.kinds.submission import SubmissionFile, read_json, write_json
from harness.metrics.qa import read_squad_gold
from harness.spec import TaskSpec

DEFAULTS: dict[str, Any] = {
    "max_answer_length": 30,
    "n_best": 20,
    "max_query_length": 64,
    "version_2_with_negative": False,
    "null_score_diff_threshold": 0.0,
}
NEG = -1e4
"""Logit given to padding positions so they are never chosen (and vanish from the softmax)."""


def settings_of(task: TaskSpec, overrides: Mapping[str, Any] | None = None) -> dict[str, Any]:
    return {**DEFAULTS, **task.settings, **(overrides or {})}


def answer_lists(answers: Any) -> tuple[list[str], list[int]]:
    """(texts, character starts) of one row's `answers`, in HF's dict-of-lists or list-of-dicts form."""
    if isinstance(answers, Mapping):
        return list(answers.get("text") or []), [int(s) for s in answers.get("answer_start") or []]
    answers = list(answers or [])
    return [a["text"] for a in answers], [int(a["answer_start"]) for a in answers]


def _truncate_questions(questions: list[str], tokenizer: Any, limit: int) -> list[str]:
    """Questions cut (at a token boundary) to at most `limit` tokens; also strips leading spaces."""
    questions = [q.lstrip() for q in questions]
    enc = tokenizer(questions, add_special_tokens=False, return_offsets_mapping=True)
    return [q if len(offs) <= limit else q[: offs[limit - 1][1]]
            for q, offs in zip(questions, enc["offset_mapping"], strict=True)]


def _token_span(offsets: np.ndarray, c0: int, c1: int, start: int, end: int) -> tuple[int, int]:
    """Token indices of characters [start, end) inside context tokens c0..c1, or (0, 0) if not inside."""
    if offsets[c0, 0] > start or offsets[c1, 1] < end:
        return 0, 0
    ctx = offsets[c0:c1 + 1]
    s = c0 + int(np.searchsorted(ctx[:, 0], start, side="right")) - 1
    e = c0 + int(np.searchsorted(ctx[:, 1], end, side="left"))
    return s, min(e, c1)


def read_predictions(path: Path) -> SubmissionFile:
    """A JSON object {question_id: answer_text}."""
    obj = read_json(path)
    if not isinstance(obj, dict) or not all(isinstance(v, str) for v in obj.values()):
        raise UserError(f"{path}:1: expected a JSON object {{question_id: answer_text}} with string answers")
    return SubmissionFile(path, obj, [1] * len(obj))


def read_gold(path: Path) -> SubmissionFile:
    """SQuAD-format gold: {"data": [{"paragraphs": [{"qas": [{"id", "answers": [{"text"}]}]}]}]}."""
    try:
        gold = read_squad_gold(read_json(path))
    except (KeyError, TypeError, ValueError) as exc:
        raise UserError(
            f"{path}:1: not SQuAD-format JSON ({type(exc).__name__}: {exc}); expected "
            '{"data": [{"paragraphs": [{"qas": [{"id": ..., "answers": [{"text": ...}]}]}]}]}'
        ) from None
    return SubmissionFile(path, gold, [1] * len(gold))


def check_answers(pred: SubmissionFile, gold: SubmissionFile) -> None:
    """An answer (possibly "") for every gold question id."""
    missing = [qid for qid in gold.items if qid not in pred.items]
    if missing:
        raise UserError(
            f"{pred.path}:1: no answer for {len(missing)} of {len(gold.items)} gold question ids "
            f"(first: {missing[0]!r}); write an answer (possibly \"\") for every question"
        )


class SpanQAKind(Kind):
    name = "span_qa"
    text_fields = ("question", "context")
    submission_ext = "json"

    def featurize(self, columns, tokenizer, task: TaskSpec, hp: Hparams, with_labels=True) -> list[dict]:
        """Windows of (question, context) with context offsets; start/end positions when labelled."""
        cfg = settings_of(task)
        q_limit = max(1, min(int(cfg["max_query_length"]), hp.max_seq_length // 2))
        questions = _truncate_questions(list(columns["question"]), tokenizer, q_limit)
        contexts = list(columns["context"])
        room = hp.max_seq_length - tokenizer.num_special_tokens_to_add(pair=True) - q_limit
        stride = max(0, min(hp.doc_stride, room // 2))  # overlap; at most half a window
        enc = tokenizer(questions, contexts, truncation="only_second", max_length=hp.max_seq_length,
                        stride=stride, return_overflowing_tokens=True, return_offsets_mapping=True)
        features = []
        for i, ids in enumerate(enc["input_ids"]):
            example = int(enc["overflow_to_sample_mapping"][i])
            seq = enc.sequence_ids(i)
            ctx = [k for k, s in enumerate(seq) if s == 1]
            offsets = np.asarray(enc["offset_mapping"][i], dtype=np.int64).reshape(-1, 2)
            c0, c1 = (ctx[0], ctx[-1]) if ctx else (0, -1)
            feature = {"input_ids": ids, "example": example, "context_start": c0, "context_end": c1,
                       "offsets": offsets[c0:c1 + 1].tolist()}
            if with_labels:
                texts, starts = answer_lists(columns["answers"][example])
                s, e = (0, 0)
                if texts and ctx:
                    s, e = _token_span(offsets, c0, c1, starts[0], starts[0] + len(texts[0]))
                feature["start_positions"], feature["end_positions"] = s, e
            features.append(feature)
        return features

    def collate(self, features: list[dict], pad_id: int) -> dict:
        import torch

        batch = super().collate([{"input_ids": f["input_ids"]} for f in features], pad_id)
        if "start_positions" in features[0]:
            for key in ("start_positions", "end_positions"):
                batch[key] = torch.tensor([f[key] for f in features], dtype=torch.long)
        return batch

    def build_head(self, hidden_size: int, task: TaskSpec, hp: Hparams):
        from torch import nn

        return nn.Linear(hidden_size, 2)

    def forward(self, encoder, head, batch) -> Any:
        """Logits of shape (batch, length, 2): start and end, padding masked out."""
        logits = head(encode(encoder, batch))
        return logits.masked_fill(batch["attention_mask"].unsqueeze(-1) == 0, NEG)

    def loss(self, logits, batch):
        import torch.nn.functional as F

        logits = logits.float()
        return (F.cross_entropy(logits[..., 0], batch["start_positions"])
                + F.cross_entropy(logits[..., 1], batch["end_positions"])) / 2

    def outputs_to_numpy(self, logits, batch) -> list[np.ndarray]:
        """Per row, an array (length, 2) of start/end logits over its real positions."""
        values = logits.float().cpu().numpy()
        lengths = batch["attention_mask"].sum(-1).cpu().numpy()
        return [row[:n] for row, n in zip(values, lengths, strict=True)]

    def decode(self, outputs, features, columns, task: TaskSpec,
               settings: Mapping[str, Any] | None = None) -> dict[str, str]:
        """{id: answer text}: the best-scoring valid span over an example's windows ("" for v2 no-answer)."""
        cfg = settings_of(task, settings)
        best: dict[int, tuple[float, str]] = {}
        null: dict[int, float] = {}
        for out, f in zip(outputs, features, strict=True):
            ex = f["example"]
            out = np.asarray(out)
            null[ex] = min(null.get(ex, np.inf), float(out[0, 0] + out[0, 1]))
            found = self._best_span(out, f, columns["context"][ex], cfg)
            if found is not None and (ex not in best or found[0] > best[ex][0]):
                best[ex] = found
        predictions = {}
        threshold = float(cfg["null_score_diff_threshold"])
        for ex, qid in enumerate(columns["id"]):
            score, text = best.get(ex, (-np.inf, ""))
            if cfg["version_2_with_negative"] and ex in null and null[ex] - score > threshold:
                text = ""
            predictions[str(qid)] = text
        return predictions

    @staticmethod
    def _best_span(out: np.ndarray, f: dict, context: str,
                   cfg: Mapping[str, Any]) -> tuple[float, str] | None:
        c0, c1 = f["context_start"], f["context_end"]
        if c1 < c0:
            return None
        start, end = out[c0:c1 + 1, 0], out[c0:c1 + 1, 1]
        k = int(cfg["n_best"])
        s_idx = np.argsort(-start, kind="stable")[:k]
        e_idx = np.argsort(-end, kind="stable")[:k]
        length = e_idx[None, :] - s_idx[:, None]
        scores = start[s_idx][:, None] + end[e_idx][None, :]
        scores = np.where((length >= 0) & (length < int(cfg["max_answer_length"])), scores, -np.inf)
        flat = int(np.argmax(scores))
        if not np.isfinite(scores.flat[flat]):
            return None
        s, e = int(s_idx[flat // len(e_idx)]), int(e_idx[flat % len(e_idx)])
        offsets = f["offsets"]
        return float(scores.flat[flat]), context[offsets[s][0]:offsets[e][1]].strip()

    def gold(self, columns, task: TaskSpec, settings=None) -> dict[str, list[str]] | None:
        """{id: gold answer texts}; an unanswerable (v2) question has the single answer ""."""
        if "answers" not in columns:
            return None
        pairs = zip(columns["id"], columns["answers"], strict=True)
        return {str(qid): (answer_lists(a)[0] or [""]) for qid, a in pairs}

    def write_predictions(self, path: Path, predictions: dict[str, str]) -> None:
        """One JSON object {question_id: answer_text}."""
        write_json(path, predictions)

    def read_submission(self, path: Path, task: TaskSpec) -> SubmissionFile:
        return read_predictions(path)

    def read_gold(self, path: Path, task: TaskSpec) -> SubmissionFile:
        """SQuAD-format JSON: {question_id: gold answer texts}."""
        return read_gold(path)

    def check_submission(self, task: TaskSpec, pred: SubmissionFile, gold: SubmissionFile) -> None:
        """An answer (possibly "") for every gold question id."""
        check_answers(pred, gold)
