"""Ranked retrieval from a candidate pool (Mewsli-X entity linking, LAReQA answer retrieval): mAP@k.

Submission format (XTREME-R; `evaluate.py` reads Mewsli-X files with `json.load`): one JSON object per
language file, `{query id: [candidate id, ...]}`. Predictions list candidate ids best first (the metric
reads the first 20); gold lists the correct ids (Mewsli-X: one entity id; LAReQA: every answer sentence of
the question in the multilingual pool). A prediction file may lack queries (they score 0, as the official
scorers give partial credit) and may hold extra ones (ignored).

The model is a dual encoder (harness.retrieval.dual_encoder): the shared encoder embeds queries and
candidates, trained with an in-batch-negatives softmax on English pairs; prediction embeds a language's
queries and the candidate pool and keeps each query's `top_k` candidates by cosine (harness.retrieval.search).

Canonical columns:
- train: `query`, `candidate` (row i is a gold pair) and optionally `candidate_id` (rows sharing one are
  not each other's negatives).
- dev/test: `query_id`, `query`, `targets` (gold candidate ids of each query; empty when unlabelled) and the
  pool `cand_id`, `cand_text` (its own length, after the query columns).
Settings (task `settings` < experiment `task_settings`):
- pooling: "mean" (attention-masked mean of the last layer, default) or "cls"; training and prediction
  embed the same way.
- scale: the logit scale of the cosine similarities in the loss (1 / temperature; default 20).
- top_k: candidates kept per query (default 20, what mAP@20 reads).
- pool: "columns" (the split's own `cand_*` columns, e.g. Mewsli-X's entity set) or "all_languages" (the
  union of the `cand_*` of every language of the task in that split, each id prefixed `lang:`; the targets
  of a query are then its `targets` in every language, matched by query id: LAReQA's multilingual pool).
- knn_backend ("auto", "faiss", "torch") and embed_dtype ("auto", "float32", "bfloat16"), as retrieval's.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

from harness.errors import UserError
from harness.hparams import Hparams
from harness.kinds.base import Kind
from harness.kinds.submission import SubmissionFile, read_json
from harness.spec import TaskSpec

DEFAULTS: dict[str, Any] = {"pooling": "mean", "scale": 20.0, "top_k": 20, "pool": "columns",
                            "knn_backend": "auto", "embed_dtype": "auto"}
_CHOICES = {"pooling": ("mean", "cls"), "pool": ("columns", "all_languages"),
            "knn_backend": ("auto", "faiss", "torch"), "embed_dtype": ("auto", "float32", "bfloat16")}
_NO_DECODE = "ranked_retrieval predicts by embedding and searching (`predict`), not by decoding head outputs"


def _line_of(text: str, key: str) -> int:
    """The line where the object key `key` first appears in `text` (1 when not found)."""
    for encoded in (json.dumps(key, ensure_ascii=False), json.dumps(key)):
        found = re.search(re.escape(encoded) + r"\s*:", text)
        if found:
            return text.count("\n", 0, found.start()) + 1
    return 1


def read_rankings(path: Path, what: str, allow_empty: bool) -> SubmissionFile:
    """`{query id: [candidate id, ...]}` from `path`; every list holds strings (and is non-empty unless
    `allow_empty`). `what` names the lists in errors ("ranked candidate ids", "gold ids")."""
    data = read_json(path)
    if not isinstance(data, dict):
        raise UserError(f"{path}:1: expected one JSON object {{query id: [{what}]}}, got a "
                        f"{type(data).__name__}; write one object per language file")
    text = path.read_text(encoding="utf-8")
    numbers = []
    for query, ids in data.items():
        number = _line_of(text, query)
        numbers.append(number)
        if not isinstance(ids, list) or not all(isinstance(i, str) for i in ids):
            raise UserError(f"{path}:{number}: query {query!r}: expected a list of {what} (strings), got "
                            f"{json.dumps(ids)[:60]}")
        if not ids and not allow_empty:
            raise UserError(f"{path}:{number}: query {query!r} has no {what}; every gold query needs one")
    return SubmissionFile(path, data, numbers)


def write_rankings(path: Path, rankings: dict[str, list[str]]) -> None:
    """The JSON object, keys sorted, written atomically."""
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(dict(sorted(rankings.items())), ensure_ascii=False) + "\n", encoding="utf-8")
    tmp.replace(path)


def resolve(spec_name: str, settings: dict) -> dict:
    """Settings with defaults filled in and checked (UserError naming the task and the setting)."""
    s = {**DEFAULTS, **settings}
    for key, allowed in _CHOICES.items():
        if s[key] not in allowed:
            raise UserError(f"task '{spec_name}' setting {key}: expected one of {', '.join(allowed)}, "
                            f"got {s[key]!r}")
    if isinstance(s["scale"], bool) or not isinstance(s["scale"], (int, float)) or s["scale"] <= 0:
        raise UserError(f"task '{spec_name}' setting scale: expected a positive number, got {s['scale']!r}")
    if isinstance(s["top_k"], bool) or not isinstance(s["top_k"], int) or s["top_k"] < 1:
        raise UserError(f"task '{spec_name}' setting top_k: expected a positive integer, got {s['top_k']!r}")
    return s


def _digest(values: list) -> str:
    digest = hashlib.sha256()
    for value in values:
        digest.update(str(value).encode() + b"\0")
    return digest.hexdigest()


class RankedRetrievalKind(Kind):
    """Queries ranked against a candidate pool by a dual encoder; owns the json ranking submission format."""

    pool_columns = ("cand_id", "cand_text")
    name = "ranked_retrieval"
    submission_ext = "json"

    def __init__(self) -> None:
        self._pools: dict[str, tuple[list[str], list[str], dict[str, list[str]]]] = {}
        """digest of a language's query ids -> the multilingual pool (ids, texts) and targets by query id."""
        self._embedded: dict[str, Any] = {}
        """digest of (model, settings, pool) -> pool embeddings (one pool embedded once for all languages)."""

    # ------------------------------------------------------------------ training

    def featurize(self, columns, tokenizer, task: TaskSpec, hp: Hparams, with_labels=True) -> list[dict]:
        """Training pairs: the query's tokens as `input_ids`, the candidate's as `candidate_ids`, and the
        candidate's `group` (rows of one group are not each other's in-batch negatives)."""
        missing = [c for c in ("query", "candidate") if c not in columns]
        if missing:
            raise UserError(f"task '{task.name}': ranked_retrieval trains on columns query and candidate; "
                            f"the training data lacks {missing}")
        queries = tokenizer(columns["query"], truncation=True, max_length=hp.max_seq_length)["input_ids"]
        candidates = tokenizer(columns["candidate"], truncation=True, max_length=hp.max_seq_length)["input_ids"]
        keys = columns.get("candidate_id") or columns["candidate"]
        groups: dict[str, int] = {}
        return [{"input_ids": q, "candidate_ids": c, "group": groups.setdefault(str(key), len(groups)), "example": i}
                for i, (q, c, key) in enumerate(zip(queries, candidates, keys, strict=True))]

    def collate(self, features: list[dict], pad_id: int) -> dict:
        """Queries padded as `input_ids`/`attention_mask`, candidates as `candidate_input_ids`/`_mask`."""
        import torch

        from harness.retrieval.dual_encoder import pad

        ids, mask = pad([f["input_ids"] for f in features], pad_id)
        cand_ids, cand_mask = pad([f["candidate_ids"] for f in features], pad_id)
        return {"input_ids": ids, "attention_mask": mask, "candidate_input_ids": cand_ids,
                "candidate_attention_mask": cand_mask,
                "groups": torch.tensor([f["group"] for f in features], dtype=torch.long)}

    @staticmethod
    def length(feature: dict) -> int:
        return max(len(feature["input_ids"]), len(feature["candidate_ids"]))

    def build_head(self, hidden_size: int, task: TaskSpec, hp: Hparams) -> Any:
        """No parameters: the head holds the pooling and the logit scale the loss uses."""
        from harness.retrieval.dual_encoder import DualEncoderHead

        s = resolve(task.name, dict(task.settings))
        return DualEncoderHead(s["pooling"], float(s["scale"]))

    def forward(self, encoder, head, batch) -> Any:
        """The scaled cosine similarities [queries, candidates] of the batch's pairs."""
        from harness.retrieval.dual_encoder import similarity_logits

        return similarity_logits(encoder, head, batch)

    def loss(self, logits, batch) -> Any:
        from harness.retrieval.dual_encoder import in_batch_softmax_loss

        return in_batch_softmax_loss(logits, batch.get("groups"))

    def decode(self, outputs, features, columns, task: TaskSpec, settings=None) -> Any:
        raise NotImplementedError(_NO_DECODE)

    # ------------------------------------------------------------------ evaluation

    def resolve_settings(self, model: Any, spec: TaskSpec, settings: dict) -> dict:
        """Defaults filled in, choices checked, the embedding precision and kNN engine recorded."""
        from harness.retrieval.embed import embedding_dtype
        from harness.retrieval.search import knn_engine

        s = resolve(spec.name, settings)
        device = next(model.parameters()).device
        return {**s, "embed_dtype": embedding_dtype(device, s["embed_dtype"]),
                "knn_engine": knn_engine("exact", "auto", s["knn_backend"])}

    def prepare(self, model: Any, tokenizer: Any, spec: TaskSpec, hp: Hparams, lang: str, settings: dict,
                load: Callable[[str, str], dict[str, list]]) -> dict:
        """With pool "all_languages": the multilingual pool and targets of every split that holds `lang`."""
        if settings["pool"] != "all_languages":
            return settings
        for split in ("dev", "test"):
            langs = spec.split_languages(split)
            if lang not in langs:
                continue
            columns = {other: load(split, other) for other in langs}
            key = _digest(columns[lang]["query_id"])
            if key in self._pools:
                continue
            ids, texts, targets = [], [], {}
            for other, cols in columns.items():
                ids += [f"{other}:{c}" for c in cols["cand_id"]]
                texts += list(cols["cand_text"])
                for query, gold in zip(cols["query_id"], cols["targets"], strict=True):
                    targets.setdefault(str(query), []).extend(f"{other}:{g}" for g in gold or [])
            self._pools[key] = (ids, texts, targets)
        return settings

    def _pool(self, columns: dict[str, list], lang: str, settings: dict) -> tuple[list[str], list[str], dict | None]:
        """(candidate ids, candidate texts, multilingual targets or None) for these query columns."""
        if settings["pool"] == "columns":
            return [str(c) for c in columns["cand_id"]], list(columns["cand_text"]), None
        key = _digest(columns["query_id"])
        if key not in self._pools:
            raise ValueError("ranked_retrieval: pool 'all_languages' needs prepare() on these columns first")
        return self._pools[key]

    def predict(self, model: Any, tokenizer: Any, spec: TaskSpec, columns: dict[str, list], hp: Hparams,
                lang: str, settings: dict) -> dict[str, list[str]]:
        """{query id: the top_k candidate ids by cosine, best first}."""
        from harness.retrieval.dual_encoder import embed_texts
        from harness.retrieval.search import knn

        cand_ids, cand_texts, _ = self._pool(columns, lang, settings)
        if not cand_ids:
            raise UserError(f"task '{spec.name}' ({lang}): the candidate pool is empty; check the data")
        encoder = getattr(model, "encoder", model)
        key = _digest([id(encoder), settings["pooling"], settings["embed_dtype"], hp.max_seq_length,
                       *cand_ids, *cand_texts])
        if key not in self._embedded:
            self._embedded = {key: embed_texts(encoder, tokenizer, cand_texts, settings, hp)}
        queries = embed_texts(encoder, tokenizer, list(columns["query"]), settings, hp)
        _, found = knn(queries, self._embedded[key], min(settings["top_k"], len(cand_ids)),
                       backend=settings["knn_backend"])
        return {str(q): [cand_ids[int(j)] for j in row] for q, row in zip(columns["query_id"], found, strict=True)}

    def gold(self, columns: dict[str, list], task: TaskSpec, settings: dict | None = None) -> Any:
        """{query id: gold candidate ids}, or None when a query has none (an unlabelled split)."""
        targets = columns.get("targets")
        if not targets or any(not t for t in targets):
            return None
        s = resolve(task.name, dict(settings or {}))
        if s["pool"] == "all_languages":
            pooled = self._pools.get(_digest(columns["query_id"]))
            if pooled is None:
                raise ValueError("ranked_retrieval: pool 'all_languages' needs prepare() on these columns first")
            return {str(q): pooled[2][str(q)] for q in columns["query_id"]}
        return {str(q): [str(t) for t in ts] for q, ts in zip(columns["query_id"], targets, strict=True)}

    # ------------------------------------------------------------------ submission format

    def write_predictions(self, path: Path, predictions: Any) -> None:
        """{query id: [candidate id, ...]} best first."""
        write_rankings(path, predictions)

    def read_submission(self, path: Path, task: TaskSpec) -> SubmissionFile:
        return read_rankings(path, "ranked candidate ids", allow_empty=True)

    def read_gold(self, path: Path, task: TaskSpec) -> SubmissionFile:
        return read_rankings(path, "gold ids", allow_empty=False)

    def check_submission(self, task: TaskSpec, pred: SubmissionFile, gold: SubmissionFile) -> None:
        """A file that shares no query with a non-empty gold file is the wrong file, not a 0 score."""
        if gold.items and pred.items and not set(pred.items) & set(gold.items):
            first = next(iter(pred.items))
            raise UserError(f"{pred.path}:{pred.lines[0]}: no query id of this file is in {gold.path} (first: "
                            f"{first!r}); write the gold file's query ids as keys")
