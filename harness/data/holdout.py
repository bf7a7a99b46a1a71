"""Held-out slices: a fixed, seeded share of a split's rows, chosen by a hash of each row id.

The choice depends only on the ids, the fraction and the seed (not on row order or on the other rows'
content), so the slice and the rest are disjoint and stable across runs and data revisions that only add
rows elsewhere. The provenance names the slice by its size and a hash of its sorted ids.
"""

from __future__ import annotations

import hashlib

from harness.errors import UserError
from harness.spec import Holdout

Columns = dict[str, list]


def _rank_key(seed: int, row_id: str) -> str:
    return hashlib.sha256(f"{seed}\0{row_id}".encode()).hexdigest()


def slice_ids(ids: list[str], holdout: Holdout) -> set[str]:
    """The ids in the held-out slice: the round(fraction * n) ids (at least one) of smallest hash."""
    unique = sorted(set(ids))
    size = max(1, round(holdout.fraction * len(unique)))
    return set(sorted(unique, key=lambda i: _rank_key(holdout.seed, i))[:size])


def apply_holdout(columns: Columns, holdout: Holdout) -> tuple[Columns, dict]:
    """(rows of the slice, or of the rest, per `holdout.part`; a provenance record)."""
    if "id" not in columns:
        raise UserError(f"a held-out slice is chosen by row id, and these rows have none (columns: "
                        f"{sorted(columns)}); map an id column in the task's source fields")
    ids = [str(i) for i in columns["id"]]
    chosen = slice_ids(ids, holdout)
    keep = [(i in chosen) == (holdout.part == "slice") for i in ids]
    out = {name: [v for v, k in zip(values, keep, strict=True) if k] for name, values in columns.items()}
    kept = sorted(i for i, k in zip(ids, keep, strict=True) if k)
    record = {"fraction": holdout.fraction, "seed": holdout.seed, "part": holdout.part, "rows": len(kept),
              "of_rows": len(ids), "ids_sha256": hashlib.sha256("\n".join(kept).encode()).hexdigest()[:16]}
    return out, record
