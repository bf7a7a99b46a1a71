"""Tokenized-feature cache: a second run with the same inputs does no tokenization at all.

The key hashes everything that changes features: the tokenizer's full serialisation and class, the kind and
the code fingerprint of its module(s), the task name, version and code fingerprint (its spec and modules, see
harness.fingerprint), split, language, max_seq_length, doc_stride, whether labels are included, the data
revision and a hash of the example columns themselves. Entries are .npz files
(int fields as flat arrays with offsets, anything irregular as JSON; never pickle) under $XSTILTS_CACHE or
$HF_HOME/xstilts (default ~/.cache/huggingface/xstilts), written atomically. A hit is read back as a lazy
`CachedFeatures` sequence: the arrays are loaded, each feature dict is built only when it is indexed, and
`lengths()` measures all features from the offsets (what length-grouped scheduling needs) without decoding.
"""

from __future__ import annotations

import copy
import hashlib
import json
import operator
import os
import pickle
import zipfile
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

from harness.fingerprint import code_modules, fingerprint, task_fingerprint
from harness.hparams import Hparams
from harness.store import temp_file

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
    """Content hash of example columns: a string column as its lengths and UTF-8 text (no per-object
    serialisation), any other column pickled (a hash input only; nothing is unpickled). Every part is
    length-prefixed, so distinct columns never hash the same input."""
    import numpy as np

    h = hashlib.sha256()

    def part(data: bytes) -> None:
        h.update(len(data).to_bytes(8, "little"))
        h.update(data)

    for name in sorted(columns):
        values = columns[name]
        part(name.encode("utf-8", "surrogatepass"))
        if isinstance(values, list) and all(type(v) is str for v in values):
            part(b"str")
            part(np.fromiter(map(len, values), dtype=np.int64, count=len(values)).tobytes())
            part("".join(values).encode("utf-8", "surrogatepass"))
        else:
            part(b"pickle")
            part(pickle.dumps(values, protocol=5))
    return h.hexdigest()[:20]


def feature_key(kind: Any, tokenizer: Any, task: Any, hp: Hparams, split: str, lang: str, columns: dict,
                revision: str = "", with_labels: bool = True) -> str:
    """The cache key of one featurisation: every input of `kind.featurize`, and the code that runs it."""
    parts = {
        "format": FORMAT_VERSION, "tokenizer": tokenizer_fingerprint(tokenizer), "kind": kind.name,
        "kind_code": fingerprint(code_modules(type(kind).__module__)), "task": task.name,
        "task_version": task.version, "task_code": task_fingerprint(task),
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


class CachedFeatures(Sequence):
    """A read-only sequence of cached features backed by the entry's arrays (loaded into memory, no pickle).

    Indexing builds the feature dict on demand (a fresh dict of plain Python values each time, equal to the
    dict `featurize` produced); nothing is decoded up front, so a warm start costs one file read.
    `lengths(length)` measures every feature as `length` (a kind's `length`) does, vectorised over the
    offsets for the base `Kind.length` and for multiple choice, and per feature for any other function.
    """

    def __init__(self, arrays: dict[str, Any], irregular: dict[str, list]):
        self._n = int(arrays["n"][0])
        self._columns: list[tuple[str, str, Any, Any, Any]] = []
        for key, value in arrays.items():
            tag, _, name = key.partition(":")
            if tag == "i":
                self._columns.append((name, tag, value, None, None))
            elif tag == "l":
                self._columns.append((name, tag, value, arrays[f"o:{name}"], None))
            elif tag == "L":
                self._columns.append((name, tag, value, arrays[f"O:{name}"], arrays[f"R:{name}"]))
        self._arrays = arrays
        self._irregular = irregular
        self._check()

    def _check(self) -> None:
        """A ValueError for an inconsistent entry (a damaged file is recomputed, never half-read)."""
        n = self._n
        for name, tag, flat, offsets, rows in self._columns:
            if tag == "i":
                ok = len(flat) == n
            elif tag == "l":
                ok = len(offsets) == n + 1 and offsets[-1] == len(flat)
            else:
                ok = len(rows) == n + 1 and rows[-1] == len(offsets) - 1 and offsets[-1] == len(flat)
            if not ok:
                raise ValueError(f"feature cache: column {name} does not match {n} features")
        for name, column in self._irregular.items():
            if len(column) != n:
                raise ValueError(f"feature cache: column {name} does not match {n} features")

    def __len__(self) -> int:
        return self._n

    def _feature(self, i: int) -> dict:
        f: dict[str, Any] = {}
        for name, tag, flat, offsets, rows in self._columns:
            if tag == "i":
                f[name] = int(flat[i])
            elif tag == "l":
                f[name] = flat[offsets[i]:offsets[i + 1]].tolist()
            else:
                bounds = offsets[rows[i]:rows[i + 1] + 1].tolist()
                values = flat[bounds[0]:bounds[-1]].tolist()
                f[name] = [values[a - bounds[0]:b - bounds[0]] for a, b in zip(bounds[:-1], bounds[1:], strict=True)]
        for name, column in self._irregular.items():
            value = column[i]
            f[name] = copy.deepcopy(value) if isinstance(value, (list, dict)) else value
        return f

    def __getitem__(self, index: Any) -> Any:
        if isinstance(index, slice):
            return [self._feature(i) for i in range(*index.indices(self._n))]
        i = operator.index(index)
        if i < 0:
            i += self._n
        if not 0 <= i < self._n:
            raise IndexError(f"feature index {index} out of range for {self._n} features")
        return self._feature(i)

    def __iter__(self) -> Iterator[dict]:
        return map(self._feature, range(self._n))

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Sequence) or isinstance(other, (str, bytes)):
            return NotImplemented
        return len(self) == len(other) and all(a == b for a, b in zip(self, other, strict=True))

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"CachedFeatures({self._n} features)"

    def lengths(self, length: Callable[[dict], int] | None = None) -> list[int]:
        """[length(f) for f in self], exactly; `length` defaults to the base Kind.length (len of input_ids)."""
        import numpy as np

        from harness.kinds.base import Kind
        from harness.kinds.multiple_choice import MultipleChoiceKind

        if length is None:
            length = Kind.length
        ids = {name: (tag, offsets, rows) for name, tag, _, offsets, rows in self._columns}.get("input_ids")
        if ids is not None and length is Kind.length:
            tag, offsets, rows = ids
            if tag == "l":
                return np.diff(offsets).tolist()
            if tag == "L":
                return np.diff(rows).tolist()
        if ids is not None and length is MultipleChoiceKind.length and ids[0] == "L" and self._n:
            _, offsets, rows = ids
            if np.all(np.diff(rows) > 0):  # max() of no choices raises: leave that to `length` itself
                return np.maximum.reduceat(np.diff(offsets), rows[:-1]).tolist()
        return [length(f) for f in self]


def load(key: str) -> CachedFeatures | None:
    """The cached features of `key` as a lazy read-only sequence, or None (absent or damaged)."""
    import numpy as np

    path = cache_root() / "features" / f"{key}.npz"
    if not path.is_file():
        return None
    try:
        with np.load(path, allow_pickle=False) as data:
            arrays = {name: data[name] for name in data.files if name != "json"}
            irregular = json.loads(bytes(data["json"]).decode() or "{}")
        return CachedFeatures(arrays, irregular)
    except (OSError, ValueError, KeyError, IndexError, zipfile.BadZipFile):  # a damaged entry is recomputed
        return None


def store(key: str, features: list[dict]) -> None:
    import numpy as np

    directory = cache_root() / "features"
    directory.mkdir(parents=True, exist_ok=True)
    fd, tmp = temp_file(directory, key, suffix=".npz")  # the umask's mode, not mkstemp's 0600
    with os.fdopen(fd, "wb") as handle:
        np.savez(handle, **_encode(features))
    os.replace(tmp, directory / f"{key}.npz")


def cached_features(kind: Any, columns: dict[str, list], tokenizer: Any, task: Any, hp: Hparams, split: str,
                    lang: str, revision: str = "", with_labels: bool = True) -> Sequence[dict]:
    """kind.featurize(...) through the cache (set XSTILTS_CACHE=off to bypass it).

    A miss returns featurize's list; a hit returns the entry as a `CachedFeatures` (equal element by element).
    """
    if os.environ.get(CACHE_ENV, "").lower() in ("off", "0", "none"):
        return kind.featurize(columns, tokenizer, task, hp, with_labels=with_labels)
    key = feature_key(kind, tokenizer, task, hp, split, lang, columns, revision, with_labels)
    features = load(key)
    if features is None:
        features = kind.featurize(columns, tokenizer, task, hp, with_labels=with_labels)
        store(key, features)
    return features
