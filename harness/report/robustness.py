"""A row's robustness summary: the worst language per target, their mean, and the seed spread.

Strict like every other number: a range or a mean is null unless all of its inputs exist.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from harness.report.models import Cell, Robustness, SeedSpread, Stat, TaskRobustness
from harness.scoring import strict_mean


def seed_range(values: Sequence[float | None]) -> float | None:
    """Max minus min; None with fewer than two values or any missing."""
    if len(values) < 2 or any(v is None for v in values):
        return None
    return max(values) - min(values)  # type: ignore[type-var,operator]


def spread(stat: Stat) -> SeedSpread:
    """The seed spread of a statistic over seeds (its std is the statistic's own)."""
    return SeedSpread(std=stat.std, range=seed_range(list(stat.seeds.values())), seeds=dict(stat.seeds))


def robustness(cells: Mapping[str, Cell], average: Stat, tasks: Sequence[str]) -> Robustness:
    """Per target the worst language and the seed spread; the mean worst-language score over `tasks`;
    the seed spread of the row's average."""
    return Robustness(
        tasks={t: TaskRobustness(worst_language=cells[t].worst_language, spread=spread(cells[t])) for t in tasks},
        worst_language_mean=strict_mean([w.score if (w := cells[t].worst_language) else None for t in tasks]),
        average=spread(average),
    )
