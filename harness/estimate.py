"""A rough GPU-hour estimate per stage kind, for `xstilts run --dry-run`.

hours(stage) = examples / throughput(model, max_seq_length) / 3600, where examples is
train rows x epochs (or max_steps x batch_size) for training stages and the evaluated rows of every
language and split for evaluate stages. Row counts come from the task specs' `expected_rows` (the public
releases) or estimate.yaml's `local_rows`; throughputs are data in estimate.yaml (see its header).
Rows a baseline plugin adds (translated data, an MLM corpus) count when the plugin says how many
(`estimate_rows(settings, phase) -> int | None`); unknown counts are left out and the estimate says so.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Any

from harness import registry
from harness.hparams import Hparams
from harness.spec import HFSource, parts

DATA = Path(__file__).with_name("estimate.yaml")


@lru_cache(maxsize=1)
def assumptions() -> dict[str, Any]:
    import yaml

    return yaml.safe_load(DATA.read_text(encoding="utf-8"))


def throughput(model: str, length: int, mode: str) -> float:
    """Examples per second for `mode` ("train" or "infer") at max_seq_length `length`."""
    import re

    data = assumptions()
    words = set(re.split(r"[-_/.]+", model.lower()))
    rates = next((m for m in data["models"] if m["pattern"] in words), data["default"])
    return rates[mode] * data["reference_length"] / max(length, 1)


def split_rows(task: str, split: str, languages: list[str]) -> int | None:
    """Rows of `split` summed over `languages`; None when some count is unknown."""
    spec = registry.task(task)
    total = 0
    for lang in languages:
        for src in parts(spec.source(split)):
            n = src.expected_rows.get(lang) if isinstance(src, HFSource) else None
            if n is None:
                n = assumptions().get("local_rows", {}).get(task, {}).get(split)
            if n is None:
                return None
            if isinstance(src, HFSource) and src.holdout is not None:  # a dev slice carved from train
                share = src.holdout.fraction if src.holdout.part == "slice" else 1 - src.holdout.fraction
                n = round(n * share)
            total += n
    return total


def _train_examples(entries: list[tuple[str, Hparams]], run_hp: Hparams) -> tuple[float, bool]:
    if run_hp.max_steps:
        return float(run_hp.max_steps * run_hp.batch_size), True
    total, known = 0.0, True
    for task, hp in entries:
        rows = split_rows(task, "train", [registry.task(task).train_language])
        if rows is None:
            known = False
            continue
        total += min(rows, hp.max_train_examples or rows) * hp.epochs
    return total, known


def stage_hours(stage: Any) -> tuple[float, bool]:
    """(GPU-hours, whether every count was known) for one planned stage."""
    cfg, model = stage.config, stage.config["model"]
    extra, extra_known = _baseline_rows(cfg, stage.kind) if stage.kind != "evaluate" else (0.0, True)
    if stage.kind == "intermediate":
        hp = Hparams(**cfg["hparams"])
        examples, known = _train_examples([(t["name"], Hparams(**t["hparams"])) for t in cfg["tasks"]], hp)
        examples += extra * hp.epochs
        return examples / throughput(model, hp.max_seq_length, "train") / 3600, known and extra_known
    if stage.kind == "target":
        hp = Hparams(**cfg["hparams"])
        examples, known = _train_examples([(cfg["task"]["name"], hp)], hp)
        examples += extra * hp.epochs
        return examples / throughput(model, hp.max_seq_length, "train") / 3600, known and extra_known
    rows = [split_rows(cfg["task"]["name"], s, cfg["languages"]) for s in cfg["splits"]
            if registry.task(cfg["task"]["name"]).source(s) is not None]
    examples = sum(r for r in rows if r is not None)
    return examples / throughput(model, cfg["hparams"]["max_seq_length"], "infer") / 3600, None not in rows


def _baseline_rows(cfg: dict, phase: str) -> tuple[float, bool]:
    name = cfg.get("baseline")
    if not name:
        return 0.0, True
    plugin = registry.get("baseline", name)
    if not hasattr(plugin, "estimate_rows"):
        return 0.0, False
    rows = plugin.estimate_rows(cfg.get("baseline_settings") or {}, phase)
    return (0.0, False) if rows is None else (float(rows), True)


def estimate(stages: list) -> dict[str, dict[str, Any]]:
    """Stage kind -> {"stages", "gpu_hours", "complete"} (complete: every row count was known)."""
    out: dict[str, dict[str, Any]] = {}
    for stage in stages:
        hours, known = stage_hours(stage)
        row = out.setdefault(stage.kind, {"stages": 0, "gpu_hours": 0.0, "complete": True})
        row["stages"] += 1
        row["gpu_hours"] += hours
        row["complete"] = row["complete"] and known
    return out
