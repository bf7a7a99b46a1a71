"""One training loop for every phase: single- or multi-task, on accelerate.

The whole batch schedule (which task, which examples, in which order) is drawn up front from the seed,
so a run is a pure function of (features, hparams, seed) and resuming means continuing at a position.
Batches are length-grouped and padded dynamically; gradient accumulation, linear warmup/decay, gradient
clipping, periodic evaluation with early stopping and keep-best are all here.

On a CUDA GPU the loop runs under bfloat16 autocast when the GPU supports it (`mixed_precision`) and
AdamW uses its fused CUDA kernel (`_optimizer`); on CPU neither applies, so CPU results do not change.
"""

from __future__ import annotations

import math
import random
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from harness import model as model_module
from harness.checkpoint import Checkpointer, Interrupted, defer_stop, ignore_sigint, stop_flag
from harness.errors import UserError
from harness.hparams import Hparams


@dataclass
class TrainTask:
    """One task's training data for the loop."""

    name: str
    kind: Any
    features: list[dict]
    share: float | None = None
    """Fixed probability of drawing this task's batches (e.g. an auxiliary objective); None: the sampler's rule."""
    record: dict = field(default_factory=dict)
    """What preparing its data did, for the stage record (e.g. {"augment": ...}); JSON-ready, not trained on."""


@dataclass
class TrainResult:
    steps: int
    best_score: float | None
    best_step: int | None
    evals: list[dict] = field(default_factory=list)
    train_loss: float | None = None
    sampler: dict = field(default_factory=dict)


def sampling_weights(sizes: dict[str, int], sampler: dict) -> dict[str, float]:
    """Probability of drawing each task's next batch.

    proportional: n_t; temperature T: n_t ** (1/T) (T=1 is proportional, large T tends to uniform);
    uniform: 1; capped: min(n_t, cap) (T5's examples-proportional mixing; a cap also applies to the other
    rules when set). Optional per-task `weights` multiply the rule's value; tasks with a fixed `shares`
    entry get exactly that probability and the others split the rest.
    """
    name = sampler.get("name", "proportional")
    cap = sampler.get("cap")
    n = {t: (min(s, cap) if cap else s) for t, s in sizes.items()}
    if name == "uniform":
        raw = {t: 1.0 for t in n}
    elif name == "temperature":
        raw = {t: s ** (1.0 / float(sampler.get("temperature", 1.0))) for t, s in n.items()}
    else:  # proportional, capped
        raw = {t: float(s) for t, s in n.items()}
    raw = {t: v * float((sampler.get("weights") or {}).get(t, 1.0)) for t, v in raw.items()}
    shares = {t: float(p) for t, p in (sampler.get("shares") or {}).items() if t in raw}
    rest = [t for t in raw if t not in shares]
    if not rest:
        total = sum(shares.values())
        return {t: p / total for t, p in shares.items()}
    total, left = sum(raw[t] for t in rest), max(0.0, 1.0 - sum(shares.values()))
    return {t: shares[t] if t in shares else left * raw[t] / total for t in raw}


def with_shares(sampler: dict, tasks: list[TrainTask]) -> dict:
    """The sampler with the fixed shares of tasks that carry one."""
    shares = {t.name: t.share for t in tasks if t.share is not None}
    return {**sampler, "shares": shares} if shares else sampler


def _batches(lengths: list[int], micro: int, grouped: bool, rng: random.Random) -> list[list[int]]:
    """One epoch of micro-batches; with grouping, similar lengths share a batch (less padding)."""
    order = list(range(len(lengths)))
    rng.shuffle(order)
    if grouped:
        mega = micro * 50
        order = [i for s in range(0, len(order), mega)
                 for i in sorted(order[s:s + mega], key=lambda j: lengths[j], reverse=True)]
    batches = [order[s:s + micro] for s in range(0, len(order), micro)]
    rng.shuffle(batches)
    return batches


def schedule(tasks: list[TrainTask], hp: Hparams, sampler: dict, seed: int) -> tuple[list[tuple[str, list[int]]], int]:
    """The full list of (task, example indices) micro-batches and the number of optimizer steps.

    An epoch is one pass over every task's (capped) size; each task's examples are reshuffled whenever its
    stream runs out, so a capped task still sees all its examples over time. `sampler` is a validated
    harness.experiment.SamplerConfig as a dict.
    """
    rng = random.Random(seed)
    sampler = with_shares(sampler, tasks)
    names = [t.name for t in tasks]
    for t in tasks:
        if not t.features:
            raise UserError(f"task '{t.name}' has no training examples (after filtering and capping); check its "
                            "data, filters and max_train_examples")
    micro = hp.micro_batch_size
    cap = sampler.get("cap")
    sizes = {t.name: (min(len(t.features), cap) if cap else len(t.features)) for t in tasks}
    per_epoch = sum(math.ceil(s / micro) for s in sizes.values())
    n_micro = hp.max_steps * hp.grad_accum if hp.max_steps else math.ceil(hp.epochs * per_epoch)
    n_micro = max(hp.grad_accum, n_micro - n_micro % hp.grad_accum)
    weights = sampling_weights(sizes, sampler)
    lengths = {t.name: (t.features.lengths(t.kind.length) if hasattr(t.features, "lengths")
                        else [t.kind.length(f) for f in t.features]) for t in tasks}
    streams: dict[str, list[list[int]]] = {t: [] for t in names}
    out = []
    for _ in range(n_micro):
        task = names[0] if len(names) == 1 else rng.choices(names, [weights[t] for t in names])[0]
        if not streams[task]:
            streams[task] = _batches(lengths[task], micro, hp.length_grouped, rng)
        out.append((task, streams[task].pop()))
    return out, n_micro // hp.grad_accum


def task_weights(tasks: list[TrainTask], sampler: dict) -> dict[str, float]:
    """The sampling probabilities `schedule` uses, for the record."""
    cap = sampler.get("cap")
    return sampling_weights({t.name: (min(len(t.features), cap) if cap else len(t.features)) for t in tasks},
                            with_shares(sampler, tasks))


def mixed_precision(hp: Hparams) -> str:
    """accelerate's mixed_precision: the hparam, or for "auto" "bf16" on a CUDA GPU with bfloat16, else "no"."""
    if hp.mixed_precision != "auto":
        return hp.mixed_precision
    return "bf16" if model_module.cuda_bf16_supported() else "no"


def fused_adamw(params: list[Any]) -> bool:
    """Use AdamW's fused kernel: every parameter is on a CUDA device (CPU keeps the reference loop)."""
    return bool(params) and all(p.device.type == "cuda" for p in params)


def _optimizer(model: Any, hp: Hparams):
    """AdamW with decoupled weight decay on matrices only (not biases or norms); fused when on CUDA."""
    import torch

    decay, no_decay = [], []
    for name, p in model.named_parameters():
        if p.requires_grad:
            (no_decay if p.ndim < 2 or "norm" in name.lower() else decay).append(p)
    groups = [{"params": decay, "weight_decay": hp.weight_decay}, {"params": no_decay, "weight_decay": 0.0}]
    fused = {"fused": True} if fused_adamw(decay + no_decay) else {}
    return torch.optim.AdamW(groups, lr=hp.lr, eps=hp.adam_eps, **fused)


@dataclass
class LoopState:
    """Where the loop is: what a resume must restore besides accelerate's state (model, optimizer, scheduler,
    grad scaler, RNG states)."""

    position: int = 0
    """Index of the next micro-batch in the schedule."""
    steps: int = 0
    best_score: float | None = None
    best_step: int | None = None
    evals: list[dict] = field(default_factory=list)
    stale: int = 0
    running: list[float] = field(default_factory=list)
    """Losses of the last micro-batches (the reported train loss is their mean)."""


def _loss_window(running: list[float]) -> float | None:
    return sum(running[-50:]) / len(running[-50:]) if running else None


def _batch_iter(plan: list[tuple[str, list[int]]], start: int, by_name: dict[str, TrainTask], pad_id: int,
                workers: int):
    """(task, collated batch) for plan[start:], collated in `workers` DataLoader processes when > 0."""
    items = [(position, *plan[position]) for position in range(start, len(plan))]

    def collate(item: tuple[int, str, list[int]]) -> tuple[str, dict]:
        position, name, rows = item
        task = by_name[name]
        return name, task.kind.collate_for_training([task.features[i] for i in rows], pad_id, position)

    if workers <= 0:
        return map(collate, items)
    import torch
    from torch.utils.data import DataLoader

    # Its own generator: the loader's worker seed must not consume the global RNG (dropout stays identical).
    return iter(DataLoader(items, batch_size=None, shuffle=False, num_workers=workers, collate_fn=collate,
                           prefetch_factor=4, persistent_workers=False, generator=torch.Generator().manual_seed(0),
                           worker_init_fn=ignore_sigint))


def train(
    model: Any,
    tasks: list[TrainTask],
    hp: Hparams,
    seed: int,
    pad_id: int,
    sampler: dict | None = None,
    evaluate: Callable[[Any], float] | None = None,
    progress: Callable[[int, int, float], None] | None = None,
    checkpoint: Checkpointer | None = None,
) -> TrainResult:
    """Train `model` (a TaskModel) on `tasks`; returns the loop's record. Keeps the best evaluated state.

    With a `checkpoint`, the loop resumes from it when one exists, saves every `hp.save_every` optimizer
    steps and on SIGTERM or SIGINT (Ctrl-C; then raises `Interrupted`, whose message names the checkpoint); a
    resumed run ends exactly as an uninterrupted one.
    """
    import torch
    from accelerate import Accelerator
    from accelerate.utils import set_seed
    from transformers import get_linear_schedule_with_warmup

    sampler = with_shares(sampler or {"name": "proportional"}, tasks)
    set_seed(seed)
    plan, total_steps = schedule(tasks, hp, sampler, seed)
    accelerator = Accelerator(mixed_precision=mixed_precision(hp), gradient_accumulation_steps=hp.grad_accum,
                              cpu=not torch.cuda.is_available())
    model.to(accelerator.device)  # before the optimizer: it picks its (fused) kernel from the parameters' device
    optimizer = _optimizer(model, hp)
    model, optimizer = accelerator.prepare(model, optimizer)
    scheduler = get_linear_schedule_with_warmup(optimizer, int(hp.warmup_ratio * total_steps), total_steps)
    # Registered, not prepared: the loop steps it once per optimizer step itself (a prepared scheduler would
    # also skip the steps fp16 skips), and save_state/load_state carry its state.
    accelerator.register_for_checkpointing(scheduler)
    by_name = {t.name: t for t in tasks}
    plan_shape = {"plan_length": len(plan), "total_steps": total_steps}
    saved = checkpoint.load(plan_shape, accelerator) if checkpoint else None
    loop, best_state = LoopState(), None
    if saved is not None:
        loop, best_state = LoopState(**saved["loop"]), saved["best_state"]
        print(f"resuming from {checkpoint.path} at step {loop.steps} of {total_steps}", file=sys.stderr)
    unwrap = accelerator.unwrap_model

    def save() -> None:
        if accelerator.is_main_process:
            checkpoint.save({"loop": vars(loop), "best_state": best_state, **plan_shape}, accelerator)

    model.train()
    with stop_flag() as term:
        batches = _batch_iter(plan, loop.position, by_name, pad_id, hp.num_workers)
        for task_name, batch in batches:
            task = by_name[task_name]
            batch = {k: v.to(accelerator.device) for k, v in batch.items()}
            with accelerator.accumulate(model):
                with accelerator.autocast():
                    loss = task.kind.loss(model(task_name, batch), batch)
                accelerator.backward(loss)
                if accelerator.sync_gradients:
                    accelerator.clip_grad_norm_(model.parameters(), hp.max_grad_norm)
                optimizer.step()
                optimizer.zero_grad()
            loop.position += 1
            loop.running = [*loop.running[-49:], float(loss.detach())]
            if not accelerator.sync_gradients:
                continue
            scheduler.step()
            loop.steps += 1
            if progress:
                progress(loop.steps, total_steps, _loss_window(loop.running))
            at_end = loop.steps == total_steps
            stop = False
            if evaluate and (loop.steps % hp.eval_every == 0 or at_end):
                model.eval()
                score = float(evaluate(unwrap(model)))
                model.train()
                loop.evals.append({"step": loop.steps, "score": score})
                if loop.best_score is None or score > loop.best_score:
                    loop.best_score, loop.best_step, loop.stale = score, loop.steps, 0
                    best_state = None if at_end else {k: v.detach().to("cpu", copy=True)
                                                      for k, v in unwrap(model).state_dict().items()}
                else:
                    loop.stale += 1
                    stop = loop.stale >= hp.patience
            if stop or at_end:
                break
            if checkpoint and (term["set"] or loop.steps % hp.save_every == 0):
                save()
            if term["set"]:
                stopped = f"stopped by {term['signal']} at step {loop.steps} of {total_steps}"
                raise Interrupted(f"stage {checkpoint.stage} {stopped}; checkpoint in {checkpoint.directory}; run "
                                  "again to resume" if checkpoint else f"{stopped} (no checkpoint kept)")
    if best_state is not None and loop.best_step != loop.steps:
        unwrap(model).load_state_dict(best_state)
    model.eval()
    if term["set"]:  # arrived during the last step or the final evaluation: finish the stage, then stop
        defer_stop(term["signal"])
    return TrainResult(steps=loop.steps, best_score=loop.best_score, best_step=loop.best_step, evals=loop.evals,
                       train_loss=_loss_window(loop.running),
                       sampler={**sampler, "weights": task_weights(tasks, sampler)})
