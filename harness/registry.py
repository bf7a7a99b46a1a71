"""Plugin registry: tasks, suites, kinds, metrics, baselines and executors come from installed entry points,
lazily.

Built-in plugins are registered in pyproject.toml exactly as a third-party package would register its
own, so `pip install my-xstilts-tasks` adds tasks without touching this repository. Nothing is imported
until a plugin is asked for by name.
"""

from __future__ import annotations

from functools import cache
from importlib.metadata import EntryPoint, entry_points
from typing import Any

from harness.errors import UserError, did_you_mean

GROUPS = {
    "task": "xstilts.tasks",
    "suite": "xstilts.suites",
    "kind": "xstilts.kinds",
    "metric": "xstilts.metrics",
    "baseline": "xstilts.baselines",
    "augmentation": "xstilts.augmentations",
    "executor": "xstilts.executors",
    "reference": "xstilts.references",
}


@cache
def _entry_points(group: str) -> dict[str, EntryPoint]:
    found: dict[str, EntryPoint] = {}
    for ep in sorted(entry_points(group=group), key=lambda e: e.name):
        found.setdefault(ep.name, ep)
    return found


def entry_point(what: str, name: str) -> EntryPoint | None:
    """The entry point registering plugin `name` of `what`, without importing it (None when unknown)."""
    return _entry_points(GROUPS[what]).get(name)


def names(what: str) -> list[str]:
    """Sorted names registered for `what` (a key of `GROUPS`: "task", "kind", ...), without importing."""
    return sorted(_entry_points(GROUPS[what]))


@cache
def _load(what: str, name: str) -> Any:
    return _entry_points(GROUPS[what])[name].load()


def get(what: str, name: str) -> Any:
    """Load the plugin `name`; an unknown name is a UserError with a suggestion."""
    eps = _entry_points(GROUPS[what])
    if name in eps:
        return _load(what, name)
    if what in ("task", "suite"):
        for other in eps:
            if name in getattr(_load(what, other), "aliases", ()):
                return _load(what, other)
    hint = "`xstilts tasks` lists them" if what == "task" else f"register it in the entry point group {GROUPS[what]}"
    raise UserError(f"unknown {what} '{name}'{did_you_mean(name, list(eps))}; {hint}")


def task(name: str):
    """The `TaskSpec` registered as `name` (or with `name` among its aliases)."""
    return get("task", name)


def all_tasks() -> list:
    """Every registered TaskSpec, sorted by name (imports the light spec modules only)."""
    return [task(n) for n in names("task")]


def clear_cache() -> None:
    """Forget discovered entry points (after sys.path changes, e.g. in tests)."""
    _entry_points.cache_clear()
    _load.cache_clear()
