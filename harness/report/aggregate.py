"""Strict aggregation over seeds and the noise rule used by the leaderboard.

Every statistic is null unless all of its inputs exist: a mean over seeds needs every planned seed, a
group or suite score needs every task of it (XTREME rules, via harness.scoring.aggregate_suite).

Noise rule (seed spread, not a bootstrap over examples): a difference between two arms is *within
noise* when |mean_a - mean_b| <= Z * sqrt(std_a^2 / n_a + std_b^2 / n_b), Z = 2 (about a 95% interval
under a normal approximation). It needs at least two seeds on both sides; otherwise it is unknown (null).
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Mapping, Sequence
from typing import Any

from harness.report.models import Delta, NoiseRule, Stat, SuiteStats
from harness.scoring import aggregate_suite, strict_mean

Z = 2.0
NOISE_RULE = NoiseRule(method="seed_spread", z=Z,
                       rule="|delta| <= z * sqrt(std_a^2/n_a + std_b^2/n_b), z = 2; needs >= 2 seeds on both sides")


def std(values: Sequence[float | None]) -> float | None:
    if len(values) < 2 or any(v is None for v in values):
        return None
    return statistics.stdev(values)  # type: ignore[arg-type]


def over_seeds(per_seed: Mapping[str, float | None]) -> Stat:
    """Mean, sample std and count of the seeds with a value."""
    values = list(per_seed.values())
    return Stat(score=strict_mean(values), std=std(values), n_seeds=sum(v is not None for v in values),
                seeds=dict(per_seed))


def delta(a: Stat, b: Stat) -> Delta:
    """a - b, with the noise flag (null when it cannot be judged)."""
    if a.score is None or b.score is None:
        return Delta(delta=None, within_noise=None)
    d = a.score - b.score
    if a.std is None or b.std is None or a.n_seeds < 2 or b.n_seeds < 2:
        return Delta(delta=d, within_noise=None)
    se = math.sqrt(a.std ** 2 / a.n_seeds + b.std ** 2 / b.n_seeds)
    return Delta(delta=d, within_noise=abs(d) <= Z * se)


def row_aggregates(per_seed_tasks: Mapping[str, Mapping[str, float | None]], tasks: Sequence[str],
                   suites: Sequence[Any]) -> dict[str, Any]:
    """Average over the experiment's tasks, and each suite's groups and score, per seed then over seeds."""
    seeds = list(per_seed_tasks)
    average = over_seeds({s: strict_mean([per_seed_tasks[s].get(t) for t in tasks]) for s in seeds})
    out_suites = {}
    for suite in suites:
        per_seed = {s: aggregate_suite(suite, per_seed_tasks[s]) for s in seeds}
        out_suites[suite.name] = SuiteStats(
            score=over_seeds({s: per_seed[s]["score"] for s in seeds}),
            groups={g: over_seeds({s: per_seed[s]["groups"][g] for s in seeds}) for g in suite.groups},
            scores={n: over_seeds({s: per_seed[s]["scores"][n] for s in seeds}) for n in suite.scores},
        )
    return {"average": average, "suites": out_suites}
