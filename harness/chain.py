"""Training on a chain of training sets, one after another (harness.spec.TrainChain), in a target stage.

Each step trains the same model and head with its own resolved hparams (the stage config's `train_steps`)
through the one training loop, with its own checkpoint under stage_dir/checkpoint/step-{i}-{name}/. A finished
step leaves its weights and record in stage_dir/checkpoint/step-{i}-{name}.done.pt, so a stopped or killed
run resumes in the step it was in, from that step's last checkpoint, and never trains a finished step again;
every step starts from the seed (as an uninterrupted run does), so a resumed chain ends with the same model.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from dataclasses import replace
from typing import Any

from harness.checkpoint import Checkpointer, config_hash
from harness.hparams import Hparams
from harness.layout import CHECKPOINT_DIR
from harness.train import TrainTask, train

DONE_SUFFIX = ".done.pt"


def train_chain(ctx: Any, model: Any, spec: Any, steps: list[dict], step_task: Callable[[Any, Hparams], TrainTask],
                scorer: Callable | None, pad_id: int) -> dict[str, Any]:
    """Train `model` on `steps` ({"name", "hparams"} in order) of `spec`'s chain; the stage record: every step's
    name, epochs, max_steps, loop record and data record (`TrainTask.record`) ("steps"), the last step's loop
    record ("train") and dev score."""
    import torch

    sources = {step.name: step.source for step in spec.train_steps()}
    cfg = ctx.stage.config
    records = []
    for i, step in enumerate(steps):
        hp = Hparams(**step["hparams"])
        base = ctx.stage_dir / CHECKPOINT_DIR / f"step-{i}-{step['name']}"
        done = base.with_name(base.name + DONE_SUFFIX)
        if done.is_file():
            saved = torch.load(done, map_location="cpu", weights_only=True)
            model.load_state_dict(saved["model"])
            result, data = saved["result"], saved.get("data", {})
        else:
            task = step_task(replace(spec, train=sources[step["name"]]), hp)
            checkpoint = Checkpointer(base, ctx.stage.key, config_hash(cfg))
            label = f"target {spec.name} {step['name']} ({i + 1}/{len(steps)})"
            progress = None if ctx.progress is None else (
                lambda n, total, loss, label=label: ctx.progress(label, n, total, loss))
            result, data = vars(train(model, [task], hp, cfg["seed"], pad_id, None, scorer, progress, checkpoint)), \
                task.record
            _save_done(done, model, result, data)
            shutil.rmtree(base, ignore_errors=True)  # the step's resumable state: no longer needed
        records.append({"name": step["name"], "epochs": hp.epochs, "max_steps": hp.max_steps, "train": result,
                        **data})
    last = records[-1]["train"]
    return {"train": last, "steps": records, "dev_score": last["best_score"]}


def _save_done(path, model: Any, result: dict, data: dict) -> None:
    """The weights after a finished step, its loop record and its data record (`TrainTask.record`, so that a
    resumed chain reports what an uninterrupted one does), written whole or not at all."""
    import torch

    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".partial")
    state = {k: v.detach().to("cpu") for k, v in model.state_dict().items()}
    torch.save({"model": state, "result": result, "data": data}, tmp)
    os.replace(tmp, path)
