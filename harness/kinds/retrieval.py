"""Retrieval on a bare encoder (no head, no training): margin mining or top-1 nearest neighbour.

The encoder is the arm's intermediate one, or, with a target's `encoder_from: TASK` (harness.plan), the
encoder of TASK's target training stage (XTREME-R's SQuAD-tuned Tatoeba).

Canonical columns (a task's reader produces one of two forms):
- pools: src_id, src_text (the non-English pool), trg_id, trg_text (the English pool) and the gold pairs
  gold_src, gold_trg; each group has its own length (BUCC release files).
- pairs: src_text, trg_text and optionally src_id, trg_id; row i is a gold pair (HF bucc18, Tatoeba).
Settings (task `settings` < experiment `task_settings` < `xstilts evaluate` options):
- method: "mine" (LASER margin mining, F1 over id pairs) or "nearest" (top-1 cosine, accuracy).
- layer: `hidden_states[layer]`; null looks the model up in `layers` ("<model_type>/<num_hidden_layers>"
  -> layer, over DEFAULT_LAYERS), else takes the middle layer. The layer used is recorded.
- pooling: "mean" (attention-masked) or "cls"; exclude_special: drop special tokens from the mean.
- nearest: direction "en-xx" (XTREME: each English sentence queries the non-English pool) or "xx-en".
- mine: k (4), margin ("ratio"), mode ("max"), duplicates ("all": every id of a repeated text inherits
  its pairs, as LASER), threshold (null: chosen on the dev split's gold by `prepare` and applied
  unchanged to every split of that language); knn_backend ("auto": one float32 pass over the similarity
  matrix on CPU, FAISS with a FAISS GPU, else a torch matmul + top-k on a CUDA GPU; "joint": that pass
  always; "faiss": two FAISS searches; "torch": the torch matmul kNN; see `harness.retrieval.mining`).
  The engine used is recorded as `knn_engine` ("joint-cpu", "faiss-cpu", "faiss-gpu", "torch-cuda", ...).
- embed_dtype: "auto" (bfloat16 autocast on a CUDA GPU that supports it, else float32), "float32" or
  "bfloat16"; resolved to the precision used, which is recorded (pooling is float32 either way).
- both: index ("exact"; "ivf" or "hnsw": an approximate FAISS index for very large pools, see
  `harness.retrieval.search`), nprobe (ivf: lists visited per query, null = 32), ef_search (hnsw: null = 128);
  the ones that apply to the chosen index are recorded.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

from harness.errors import UserError
from harness.hparams import Hparams
from harness.kinds.base import Kind
from harness.kinds.submission import SubmissionFile, check_labels, read_labels, read_pairs, write_lines
from harness.spec import TaskSpec

DEFAULT_LAYERS: dict[str, int] = {"xlm-roberta/24": 14}
"""Model family -> layer: XLM-R Large layer 14 of 24, as jiant and XTREME's Tatoeba script."""
DEFAULTS: dict[str, Any] = {
    "method": "nearest", "layer": None, "layers": {}, "pooling": "mean", "exclude_special": False,
    "direction": "en-xx", "k": 4, "margin": "ratio", "mode": "max", "duplicates": "all", "threshold": None,
    "knn_backend": "auto", "index": "exact", "nprobe": None, "ef_search": None, "embed_dtype": "auto",
}
_CHOICES = {"method": ("mine", "nearest"), "pooling": ("mean", "cls"), "direction": ("en-xx", "xx-en"),
            "duplicates": ("all", "drop"), "knn_backend": ("auto", "joint", "faiss", "torch"),
            "index": ("exact", "ivf", "hnsw"), "embed_dtype": ("auto", "float32", "bfloat16")}
_INDEX_OPTIONS = {"nprobe": "ivf", "ef_search": "hnsw"}
"""Approximate-index settings -> the index they apply to."""


def model_family(model: Any) -> str:
    """"<model_type>/<num_hidden_layers>", the key of the layer tables."""
    return f"{model.config.model_type}/{int(model.config.num_hidden_layers)}"


def _check_count(task: str, key: str, value: Any, optional: bool = False) -> None:
    """UserError unless `value` is a positive integer (or null where `optional`)."""
    if optional and value is None:
        return
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise UserError(f"task '{task}' setting {key}: expected a positive integer, got {value!r}")


def _index_options(settings: dict) -> dict[str, Any]:
    """The search's index keyword arguments from resolved settings (those not recorded are null)."""
    return {"index": settings.get("index", "exact"), **{key: settings.get(key) for key in _INDEX_OPTIONS}}


def _ids_and_gold(columns: dict[str, list]) -> tuple[list, list, list, list, list[tuple[str, str]]]:
    """(src_id, src_text, trg_id, trg_text, gold pairs) of either canonical form; ids are strings."""
    if "gold_src" in columns:
        gold = list(zip(columns["gold_src"], columns["gold_trg"], strict=True))
        return columns["src_id"], columns["src_text"], columns["trg_id"], columns["trg_text"], gold
    n = len(columns["src_text"])
    rows = [str(i) for i in range(n)]
    src_ids = [str(v) for v in columns.get("src_id", rows)]
    trg_ids = [str(v) for v in columns.get("trg_id", rows)]
    gold = list(zip(src_ids, trg_ids, strict=True))
    # a sentence in several gold pairs is one pool entry
    src = dict(zip(src_ids, columns["src_text"], strict=True))
    trg = dict(zip(trg_ids, columns["trg_text"], strict=True))
    return list(src), list(src.values()), list(trg), list(trg.values()), gold


def _search_backend(settings: dict) -> str:
    """The kNN backend a search runs with: mining's `knn_backend`; top-1 search has no joint pass."""
    backend = settings["knn_backend"]
    return backend if settings["method"] == "mine" or backend != "joint" else "auto"


def _engines(model: Any, settings: dict) -> dict[str, str]:
    """The embedding precision and the kNN engine these settings run with on this machine (recorded)."""
    from harness.retrieval.embed import embedding_dtype
    from harness.retrieval.search import knn_engine

    device = next(model.parameters()).device
    return {"embed_dtype": embedding_dtype(device, settings["embed_dtype"]),
            "knn_engine": knn_engine(settings["index"], "auto", _search_backend(settings),
                                     both=settings["method"] == "mine")}


_NO_HEAD = "retrieval evaluates the encoder as it is (`predict`): it has no features, head or loss"


class RetrievalKind(Kind):
    """Evaluates an encoder as it is; `prepare` tunes the mining threshold on dev, `predict` retrieves."""

    name = "retrieval"
    trains_head = False

    def __init__(self) -> None:
        self._candidates: dict[str, tuple[list, list]] = {}
        self._prepared: dict[str, dict] = {}

    # ------------------------------------------------------------------ settings

    def resolve_settings(self, model: Any, spec: TaskSpec, settings: dict) -> dict:
        """Defaults filled in, choices checked, the layer resolved for this model (recorded in results)."""
        s = {**DEFAULTS, **settings}
        for key, allowed in _CHOICES.items():
            if s[key] not in allowed:
                raise UserError(f"task '{spec.name}' setting {key}: expected one of {', '.join(allowed)}, "
                                f"got {s[key]!r}")
        _check_count(spec.name, "k", s["k"])
        for key in _INDEX_OPTIONS:
            _check_count(spec.name, key, s[key], optional=True)
        exact_only = ("joint", "torch") if s["method"] == "mine" else ("torch",)
        if s["knn_backend"] in exact_only and s["index"] != "exact":
            raise UserError(f"task '{spec.name}' setting knn_backend: {s['knn_backend']!r} computes exact "
                            f"neighbours; it cannot use index {s['index']!r}")
        family, n_layers = model_family(model), int(model.config.num_hidden_layers)
        table = {**DEFAULT_LAYERS, **s["layers"]}
        if s["layer"] is None:
            s["layer"], s["layer_source"] = (table[family], "table") if family in table else (n_layers // 2,
                                                                                               "middle")
        else:
            s["layer_source"] = "setting"
        if not isinstance(s["layer"], int) or not -(n_layers + 1) <= s["layer"] <= n_layers:
            raise UserError(f"task '{spec.name}' setting layer: {s['layer']!r} is out of range for {family}; "
                            f"use 0 (embeddings) to {n_layers}")
        s["model_family"] = family
        s.update(_engines(model, s))
        unused = ("direction",) if s["method"] == "mine" else ("k", "margin", "mode", "duplicates", "threshold")
        unused += tuple(key for key, index in _INDEX_OPTIONS.items() if s["index"] != index)
        return {key: value for key, value in s.items() if key not in unused}

    def prepare(self, model: Any, tokenizer: Any, spec: TaskSpec, hp: Hparams, lang: str, settings: dict,
                load: Callable[[str, str], dict[str, list]]) -> dict:
        """Settings for `lang`: with mining and no fixed threshold, the threshold tuned on dev gold."""
        if settings["method"] != "mine" or settings.get("threshold") is not None:
            return settings
        if lang not in self._prepared:
            if lang not in spec.split_languages("dev", [lang]):
                raise UserError(f"task '{spec.name}' has no dev split to tune the mining threshold on; "
                                "set a fixed `threshold` in task_settings")
            from harness.retrieval.threshold import best_threshold

            src_id, src_text, trg_id, trg_text, gold = _ids_and_gold(load("dev", lang))
            pairs, scores = self._mine(model, tokenizer, hp, settings, src_id, src_text, trg_id, trg_text)
            threshold, f1, _, _ = best_threshold(scores, pairs, gold)
            self._prepared[lang] = {**settings, "threshold": threshold, "threshold_from": "dev",
                                    "dev_f1": f1}
        return self._prepared[lang]

    # ------------------------------------------------------------------ evaluation

    def predict(self, model: Any, tokenizer: Any, spec: TaskSpec, columns: dict[str, list], hp: Hparams,
                lang: str, settings: dict) -> list:
        """Nearest: the retrieved row index of every query (as strings); mine: the (src_id, trg_id) pairs
        above the threshold."""
        if settings["method"] == "nearest":
            return self._nearest(model, tokenizer, hp, settings, columns, spec.name)
        if settings.get("threshold") is None:
            raise ValueError("retrieval: mining needs a threshold; call prepare() first")
        from harness.retrieval.threshold import apply_threshold

        src_id, src_text, trg_id, trg_text, _ = _ids_and_gold(columns)
        pairs, scores = self._mine(model, tokenizer, hp, settings, src_id, src_text, trg_id, trg_text)
        return apply_threshold(scores, pairs, settings["threshold"])

    def gold(self, columns: dict[str, list], task: TaskSpec, settings: dict | None = None) -> list:
        """Nearest: row i's partner is row i; mine: the gold (src_id, trg_id) pairs."""
        if (settings or {}).get("method", DEFAULTS["method"]) == "nearest":
            return [str(i) for i in range(len(columns["src_text"]))]
        return _ids_and_gold(columns)[4]

    # ------------------------------------------------------------------ submission format

    def write_predictions(self, path: Path, predictions: list) -> None:
        """One index per line (Tatoeba), or `src_id<TAB>trg_id` per line (BUCC)."""
        write_lines(path, ["\t".join(p) if isinstance(p, tuple) else p for p in predictions])

    @staticmethod
    def _mines(task: TaskSpec) -> bool:
        return task.settings.get("method", DEFAULTS["method"]) == "mine"

    def read_submission(self, path: Path, task: TaskSpec) -> SubmissionFile:
        """Mine: `src_id<TAB>trg_id` pairs; nearest: one retrieved index per line."""
        return read_pairs(path) if self._mines(task) else read_labels(path)

    def read_gold(self, path: Path, task: TaskSpec) -> SubmissionFile:
        return self.read_submission(path, task)

    def check_submission(self, task: TaskSpec, pred: SubmissionFile, gold: SubmissionFile) -> None:
        """Nearest: one index per gold line; mined pairs are sets, any number fits."""
        if not self._mines(task):
            check_labels(pred, gold, task.labels)

    # ------------------------------------------------------------------ no head: nothing to train

    def featurize(self, columns, tokenizer, task: TaskSpec, hp: Hparams, with_labels=True) -> list[dict]:
        raise NotImplementedError(_NO_HEAD)

    def build_head(self, hidden_size: int, task: TaskSpec, hp: Hparams) -> Any:
        raise NotImplementedError(_NO_HEAD)

    def forward(self, encoder, head, batch) -> Any:
        raise NotImplementedError(_NO_HEAD)

    def loss(self, logits, batch) -> Any:
        raise NotImplementedError(_NO_HEAD)

    def decode(self, outputs, features, columns, task: TaskSpec, settings=None) -> Any:
        raise NotImplementedError(_NO_HEAD)

    def _embed(self, model: Any, tokenizer: Any, hp: Hparams, settings: dict, texts: list[str]):
        from harness.retrieval.embed import embed_sentences

        return embed_sentences(model, tokenizer, texts, settings["layer"], settings["pooling"],
                               settings["exclude_special"], hp.eval_batch_size, hp.max_seq_length,
                               dtype=settings.get("embed_dtype", "auto"))

    def _nearest(self, model, tokenizer, hp, settings, columns, task: str) -> list[str]:
        from harness.retrieval.search import nearest_neighbour

        if "gold_src" in columns:
            raise UserError(f"task '{task}': method 'nearest' needs aligned rows (src_text, trg_text); "
                            "these columns are sentence pools: use method 'mine'")
        src, trg = columns["src_text"], columns["trg_text"]
        queries, pool = (trg, src) if settings["direction"] == "en-xx" else (src, trg)
        found = nearest_neighbour(self._embed(model, tokenizer, hp, settings, queries),
                                  self._embed(model, tokenizer, hp, settings, pool), **_index_options(settings),
                                  backend=_search_backend(settings))
        return [str(int(i)) for i in found]

    def _mine(self, model, tokenizer, hp, settings, src_id, src_text, trg_id, trg_text):
        """Candidate (src_id, trg_id) pairs and margin scores before any threshold; cached per content."""
        from harness.retrieval.mining import dedup_sentences, expand_pairs, mine_bitext

        options = {k: settings.get(k) for k in ("layer", "pooling", "exclude_special", "k", "margin", "mode",
                                                "duplicates", "knn_backend", "embed_dtype")} | _index_options(settings)
        digest = hashlib.sha256(repr(sorted(options.items())).encode())
        for part in (src_id, src_text, trg_id, trg_text):
            for value in part:
                digest.update(str(value).encode() + b"\0")
            digest.update(b"\1")
        key = digest.hexdigest()
        if key not in self._candidates:
            src, trg = dedup_sentences(src_id, src_text), dedup_sentences(trg_id, trg_text)
            x = self._embed(model, tokenizer, hp, settings, src.texts)
            y = self._embed(model, tokenizer, hp, settings, trg.texts)
            mined = mine_bitext(x, y, k=settings["k"], margin=settings["margin"], mode=settings["mode"],
                                 knn_backend=settings["knn_backend"], **_index_options(settings))
            expanded = expand_pairs(*mined, src, trg, duplicates=settings["duplicates"])
            self._candidates[key] = ([(s, t) for s, t, _ in expanded], [v for _, _, v in expanded])
        return self._candidates[key]
