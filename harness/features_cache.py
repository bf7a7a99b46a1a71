"""Tokenized-feature cache: a second run with the same inputs does no tokenization at all.

The key hashes everything that changes features: the tokenizer's full serialisation and class, the kind and
its FEATURE_CODE_VERSION, the task name and version, split, language, max_seq_length, doc_stride, whether
labels are included, the data revision and a hash of the example columns themselves. Entries are .npz files
(int fields as flat arrays with offsets, anything irregular as JSON; never pickle) under $XSTILTS_CACHE or
$HF_HOME/xstilts (default ~/.cache/huggingface/xstilts), written atomically.
"""

from __future__ import annotations

import hashlib
import json
import os
import pickle
import tempfile
from pathlib import Path
from typing import Any

from harness.hparams import Hparams

CACHE_ENV = "XSTILTS_CACHE"
FORMAT_VERSION = 1
_FINGERPRINTS: dict[int, tuple[Any, str]] = {}


def cache_root() -> Path:
    """Where features are cached: $XSTILTS_CACHE, else $HF_HOME/xstilts."""
    if os.environ.get(CACHE_ENV):
        return Path(os.environ[CACHE_ENV]).expanduser()
    return Path(os.environ.get("HF_HOME", "~/.cache/huggingface")).expanduser() / "xstilts"


def tokenizer_fingerprint(tokenizer: Any) -> str:
    """Hash of the tokenizer's complete serialisation (vocab, normaliser, templates), class and specials."""
    cached = _FINGERPRINTS.get(id(tokenizer))
    if cached is not None and cached[0] is tokenizer:
        return cached[1]
    h = hashlib.sha256(type(tokenizer).__name__.encode())
    backend = getattr(tokenizer, "backend_tokenizer", None)
    if backend is not None:
        h.update(backend.to_str().encode())
    else:
        h.update(json.dumps(sorted(tokenizer.get_vocab().items())).encode())
    h.update(json.dumps(getattr(tokenizer, "special_tokens_map", {}), sort_keys=True, default=str).encode())
    sides = (getattr(tokenizer, "padding_side", ""), getattr(tokenizer, "truncation_side", ""))
    h.update(json.dumps(sides).encode())
    digest = h.hexdigest()[:20]
    _FINGERPRINTS[id(tokenizer)] = (tokenizer, digest)
    return digest


def columns_fingerprint(columns: dict[str, list]) -> str:
    """Content hash of example columns (a hash input only; nothing is unpickled)."""
    return hashlib.sha256(pickle.dumps(sorted(columns.items()), protocol=5)).hexdigest()[:20]


def feature_key(kind: Any, tokenizer: Any, task: Any, hp: Hparams, split: str, lang: str, columns: dict,
                revision: str = "", with_labels: bool = True) -> str:
    parts = {
        "format": FORMAT_VERSION, "tokenizer": tokenizer_fingerprint(tokenizer), "kind": kind.name,
        "kind_version": getattr(kind, "FEATURE_CODE_VERSION", 1), "task": task.name, "task_version": task.version,
        "labels": list(task.labels), "settings": dict(task.settings), "split": split, "lang": lang,
        "max_seq_length": hp.max_seq_length, "doc_stride": hp.doc_stride, "with_labels": with_labels,
        "revision": revision, "columns": columns_fingerprint(columns),
    }
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()[:24]


def _is_ints(v: Any) -> bool:
    return isinstance(v, list) and all(isinstance(x, int) and not isinstance(x, bool) for x in v)


def _encode(features: list[dict]) -> dict[str, Any]:
    """Columnar arrays: int -> array; list[int] -> flat + offsets; list[list[int]] -> two levels; else JSON."""
    import numpy as np

    arrays: dict[str, Any] = {"n": np.asarray([len(features)])}
    irregular: dict[str, list] = {}
    for name in (sorted(features[0]) if features else []):
        values = [f.get(name) for f in features]
        if all(isinstance(v, int) and not isinstance(v, bool) for v in values):
            arrays[f"i:{name}"] = np.asarray(values, dtype=np.int64)
        elif all(_is_ints(v) for v in values):
            arrays[f"l:{name}"] = np.fromiter((x for v in values for x in v), dtype=np.int64)
            arrays[f"o:{name}"] = np.cumsum([0] + [len(v) for v in values], dtype=np.int64)
        elif all(isinstance(v, list) and all(_is_ints(r) for r in v) for v in values):
            rows = [r for v in values for r in v]
            arrays[f"L:{name}"] = np.fromiter((x for r in rows for x in r), dtype=np.int64)
            arrays[f"O:{name}"] = np.cumsum([0] + [len(r) for r in rows], dtype=np.int64)
            arrays[f"R:{name}"] = np.cumsum([0] + [len(v) for v in values], dtype=np.int64)
        else:
            irregular[name] = values
    arrays["json"] = np.frombuffer(json.dumps(irregular).encode(), dtype=np.uint8)
    return arrays


def _split(flat: list, offsets: list[int]) -> list[list]:
    return [flat[a:b] for a, b in zip(offsets[:-1], offsets[1:], strict=True)]


def _decode(data: Any) -> list[dict]:
    n = int(data["n"][0])
    features: list[dict] = [{} for _ in range(n)]
    for key in data.files:
        tag, _, name = key.partition(":")
        if tag == "i":
            column = data[key].tolist()
        elif tag == "l":
            column = _split(data[key].tolist(), data[f"o:{name}"].tolist())
        elif tag == "L":
            rows = _split(data[key].tolist(), data[f"O:{name}"].tolist())
            column = _split(rows, data[f"R:{name}"].tolist())
        else:
            continue
        for f, v in zip(features, column, strict=True):
            f[name] = v
    for name, column in json.loads(bytes(data["json"]).decode() or "{}").items():
        for f, v in zip(features, column, strict=True):
            f[name] = v
    return features


def load(key: str) -> list[dict] | None:
    import numpy as np

    path = cache_root() / "features" / f"{key}.npz"
    if not path.is_file():
        return None
    try:
        with np.load(path, allow_pickle=False) as data:
            return _decode(data)
    except (OSError, ValueError, KeyError):  # a damaged entry is recomputed
        return None


def store(key: str, features: list[dict]) -> None:
    import numpy as np

    directory = cache_root() / "features"
    directory.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=f".{key}.", suffix=".npz")
    with os.fdopen(fd, "wb") as handle:
        np.savez(handle, **_encode(features))
    os.replace(tmp, directory / f"{key}.npz")


def cached_features(kind: Any, columns: dict[str, list], tokenizer: Any, task: Any, hp: Hparams, split: str,
                    lang: str, revision: str = "", with_labels: bool = True) -> list[dict]:
    """kind.featurize(...) through the cache (set XSTILTS_CACHE=off to bypass it)."""
    if os.environ.get(CACHE_ENV, "").lower() in ("off", "0", "none"):
        return kind.featurize(columns, tokenizer, task, hp, with_labels=with_labels)
    key = feature_key(kind, tokenizer, task, hp, split, lang, columns, revision, with_labels)
    features = load(key)
    if features is None:
        features = kind.featurize(columns, tokenizer, task, hp, with_labels=with_labels)
        store(key, features)
    return features
