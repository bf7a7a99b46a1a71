"""Run one stage into its directory: lock, stage.json, the runner, metrics.json, then `done`.

Every executor (local, docker, slurm) ends up calling `run_stage`, so where a stage runs never
changes what it writes.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from pathlib import Path

from harness.checkpoint import Interrupted, discard, take_deferred_stop
from harness.data.settings import DataSettings
from harness.environment import environment
from harness.errors import UserError, validated
from harness.layout import CHECKPOINT_DIR, EXPERIMENT_JSON, METRICS_JSON, STAGE_JSON
from harness.plan import Stage
from harness.store import is_done, mark_done, read_json, reopen_damaged, stage_lock, write_json


def run_stage(stage: Stage, runs_dir: Path, data: DataSettings, trust_remote_code: bool = False,
              progress: Callable | None = None) -> bool:
    """Run `stage` unless it is done; returns True when it ran. Upstream stages must be done."""
    from harness.stages import RUNNERS, StageContext

    stage_dir = runs_dir / stage.key
    if is_done(stage_dir):
        return False
    if stage.upstream and not is_done(runs_dir / stage.upstream):
        raise UserError(f"stage {stage.key} needs {stage.upstream}, which is not done; run the experiment "
                        "again so upstream stages run first")
    with stage_lock(stage_dir):
        if is_done(stage_dir):
            return False
        started = time.time()
        record = {"key": stage.key, "kind": stage.kind, "upstream": stage.upstream, "config": stage.config,
                  "meta": stage.meta, "seed": stage.config.get("seed"), "environment": environment(),
                  "code": stage.code, "started_at": started}
        write_json(stage_dir / STAGE_JSON, record)
        provenance: list = []
        ctx = StageContext(stage, stage_dir, runs_dir, data, trust_remote_code, progress, provenance)
        seed_everything(int(stage.config.get("seed") or 0))  # head init and everything else: per-stage seed
        metrics = RUNNERS[stage.kind](ctx)
        write_json(stage_dir / METRICS_JSON, metrics)
        record.update({"finished_at": time.time(), "seconds": round(time.time() - started, 3), "data": provenance})
        write_json(stage_dir / STAGE_JSON, record)
        mark_done(stage_dir)
        discard(stage_dir / CHECKPOINT_DIR)  # the final model stays
    stopped_by = take_deferred_stop()
    if stopped_by:
        raise Interrupted(f"stage {stage.key} finished; stopped by {stopped_by} before the next stage; run again "
                          "to continue")
    return True


def seed_everything(seed: int) -> None:
    """Seed python, numpy and torch (CPU and CUDA), so a stage is a function of its config."""
    from accelerate.utils import set_seed

    set_seed(seed)


def record_experiment(runs_dir: Path, plan_record: dict, allow_mixed: bool = False) -> None:
    """Save the plan as runs/experiment.json; refuse a runs dir that holds another experiment.

    `experiments_seen` lists every experiment recorded in this directory, so reports can refuse mixes too.
    """
    path = runs_dir / EXPERIMENT_JSON
    new = plan_record["experiment"]["name"]
    seen = [new]
    if path.exists():
        previous = read_json(path)
        old = previous.get("experiment", {}).get("name")
        if old != new and not allow_mixed:
            raise UserError(f"{runs_dir} holds experiment '{old}', not '{new}'; use another --output directory "
                            "or pass --allow-mixed")
        seen = list(dict.fromkeys([*(previous.get("experiments_seen") or [old]), new]))
    write_json(path, {**plan_record, "experiments_seen": seen})


def run_recorded_stage(runs_dir: Path, key: str) -> bool:
    """Run stage `key` of the experiment recorded in runs_dir/experiment.json (re-planned, same keys)."""
    from harness.experiment import ExperimentConfig, check_semantics
    from harness.plan import plan

    path = runs_dir / EXPERIMENT_JSON
    if not path.exists():
        raise UserError(f"{runs_dir} has no {EXPERIMENT_JSON}; run `xstilts run` (or --dry-run) there first")
    config = validated(ExperimentConfig, read_json(path)["experiment"], str(path))
    check_semantics(config, str(path))
    stage = next((s for s in plan(config) if s.key == key), None)
    if stage is None:
        raise UserError(f"stage {key} is not part of the experiment recorded in {path}; the code (stage keys "
                        "fingerprint it: an image must run the same code as the planner) or the experiment changed "
                        "since it was planned")
    why = reopen_damaged(runs_dir / key)
    if why:
        print(f"{key}: {why}; running this stage again", file=sys.stderr)
    return run_stage(stage, runs_dir, config.data.settings(), config.trust_remote_code)
