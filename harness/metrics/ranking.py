"""mAP@k over ranked candidate lists: Mewsli-X (XTREME-R `mewslix_map20`) and LAReQA (`mean_avg_prec_at_k`).

Gold and predictions are {query id: [candidate id, ...]} (the json submission files, read by the
`ranked_retrieval` kind); predictions are ranked best first. Rules, as the official scorers apply them:
- Only the first k predictions of a query count; fewer than k is fine (the rest are misses).
- AP@k of one query: the sum over ranks i <= k holding a not-yet-seen target of (hits so far / i), divided
  by min(number of targets, k). A repeated candidate is counted once but still takes up its rank, so
  duplicates only push later hits down (`dedup=True` drops repeats before cutting at k, the alternative).
- Every gold query counts; a query with no prediction scores 0 (partial submissions get partial credit),
  predictions for queries not in the gold file are ignored; no gold query at all gives 0.
- Ids compare exactly as strings; ties do not exist at this point: the ranked list is the order.
Mewsli-X has one gold entity per mention: its AP@k is the reciprocal rank of the gold entity (MRR@k) and,
as `utils_mewslix.evaluate`, only the first gold id of each list is used, stripped of surrounding spaces.
LAReQA's targets are every answer sentence of the question's xling id, in any language of the pool.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence

K = 20


def average_precision_at_k(targets: Collection[str], ranked: Sequence[str], k: int = K,
                           dedup: bool = False) -> float:
    """AP@k in [0, 1] of one ranked list against its set of correct ids (non-empty)."""
    if not targets:
        raise ValueError("average precision needs at least one target")
    if dedup:
        ranked = list(dict.fromkeys(ranked))
    seen: set[str] = set()
    hits, total = 0, 0.0
    for rank, candidate in enumerate(ranked[:k], start=1):
        if candidate in targets and candidate not in seen:
            hits += 1
            total += hits / rank
        seen.add(candidate)
    return total / min(len(targets), k)


def mean_average_precision(gold: Mapping[str, Collection[str]], pred: Mapping[str, Sequence[str]],
                           k: int = K, dedup: bool = False) -> float:
    """Mean AP@k in [0, 1] over the gold queries (a query without predictions scores 0)."""
    if not gold:
        return 0.0
    return sum(average_precision_at_k(targets, pred.get(query, []), k, dedup)
               for query, targets in gold.items()) / len(gold)


def mewslix_targets(gold: Mapping[str, Sequence[str]]) -> dict[str, set[str]]:
    """Mewsli-X gold lists -> the single target each query is scored against (the first id, stripped)."""
    return {query: {ids[0].strip()} for query, ids in gold.items()}


def mewslix_map20(gold: Mapping[str, Sequence[str]], pred: Mapping[str, Sequence[str]],
                  language: str = "") -> dict[str, float]:
    """Mewsli-X mAP@20 (= MRR@20 with one gold entity per mention), in percent."""
    return {"map@20": 100.0 * mean_average_precision(mewslix_targets(gold), pred, K)}


def lareqa_map20(gold: Mapping[str, Sequence[str]], pred: Mapping[str, Sequence[str]],
                 language: str = "") -> dict[str, float]:
    """LAReQA mAP@20 over the multilingual answer pool, in percent, for the questions of one language."""
    return {"map@20": 100.0 * mean_average_precision({q: set(ids) for q, ids in gold.items()}, pred, K)}
