"""One training loop for every phase: single- or multi-task, on accelerate.

The whole batch schedule (which task, which examples, in which order) is drawn up front from the seed,
so a run is a pure function of (features, hparams, seed) and resuming means continuing at a position.
Batches are length-grouped and padded dynamically; gradient accumulation, linear warmup/decay, gradient
clipping, periodic evaluation with early stopping and keep-best are all here.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, field
from typing import Any, Callable

from harness.hparams import Hparams


@dataclass
class TrainTask:
    """One task's training data for the loop."""

    name: str
    kind: Any
    features: list[dict]
    share: float | None = None
    """Fixed probability of drawing this task's batches (e.g. an auxiliary objective); None: the sampler's rule."""


@dataclass
class TrainResult:
    steps: int
    best_score: float | None
    best_step: int | None
    evals: list[dict] = field(default_factory=list)
    train_loss: float | None = None
    sampler: dict = field(default_factory=dict)


def sampling_weights(sizes: dict[str, int], sampler: dict) -> dict[str, float]:
    """Probability of drawing each task's next batch: proportional, temperature, uniform or capped."""
    name = sampler.get("name", "proportional")
    cap = sampler.get("cap")
    n = {t: (min(s, cap) if cap else s) for t, s in sizes.items()}
    if name == "uniform":
        raw = {t: 1.0 for t in n}
    elif name == "temperature":
        raw = {t: s ** (1.0 / float(sampler.get("temperature", 1.0))) for t, s in n.items()}
    else:  # proportional, capped
        raw = {t: float(s) for t, s in n.items()}
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
    """The full list of (task, example indices) micro-batches and the number of optimizer steps."""
    rng = random.Random(seed)
    sampler = with_shares(sampler, tasks)
    micro = hp.micro_batch_size
    sizes = {t.name: len(t.features) for t in tasks}
    if sampler.get("name") == "capped" and sampler.get("cap"):
        sizes = {t: min(s, sampler["cap"]) for t, s in sizes.items()}
    per_epoch = sum(math.ceil(s / micro) for s in sizes.values())
    n_micro = hp.max_steps * hp.grad_accum if hp.max_steps else math.ceil(hp.epochs * per_epoch)
    n_micro = max(hp.grad_accum, n_micro - n_micro % hp.grad_accum)
    weights = sampling_weights(sizes, sampler)
    names = [t.name for t in tasks]
    lengths = {t.name: [t.kind.length(f) for f in t.features[: sizes[t.name]]] for t in tasks}
    streams: dict[str, list[list[int]]] = {t: [] for t in names}
    out = []
    for _ in range(n_micro):
        task = names[0] if len(names) == 1 else rng.choices(names, [weights[t] for t in names])[0]
        if not streams[task]:
            streams[task] = _batches(lengths[task], micro, hp.length_grouped, rng)
        out.append((task, streams[task].pop()))
    return out, n_micro // hp.grad_accum


def mixed_precision(hp: Hparams) -> str:
    import torch

    if hp.mixed_precision != "auto":
        return hp.mixed_precision
    return "bf16" if torch.cuda.is_available() and torch.cuda.is_bf16_supported() else "no"


def _optimizer(model: Any, hp: Hparams):
    import torch

    decay, no_decay = [], []
    for name, p in model.named_parameters():
        if p.requires_grad:
            (no_decay if p.ndim < 2 or "norm" in name.lower() else decay).append(p)
    groups = [{"params": decay, "weight_decay": hp.weight_decay}, {"params": no_decay, "weight_decay": 0.0}]
    return torch.optim.AdamW(groups, lr=hp.lr, eps=hp.adam_eps)


def train(
    model: Any,
    tasks: list[TrainTask],
    hp: Hparams,
    seed: int,
    pad_id: int,
    sampler: dict | None = None,
    evaluate: Callable[[Any], float] | None = None,
    progress: Callable[[int, int, float], None] | None = None,
) -> TrainResult:
    """Train `model` (a TaskModel) on `tasks`; returns the loop's record. Keeps the best evaluated state."""
    import torch
    from accelerate import Accelerator
    from accelerate.utils import set_seed
    from transformers import get_linear_schedule_with_warmup

    sampler = with_shares(sampler or {"name": "proportional"}, tasks)
    set_seed(seed)
    plan, total_steps = schedule(tasks, hp, sampler, seed)
    accelerator = Accelerator(mixed_precision=mixed_precision(hp), gradient_accumulation_steps=hp.grad_accum,
                              cpu=not torch.cuda.is_available())
    optimizer = _optimizer(model, hp)
    model, optimizer = accelerator.prepare(model, optimizer)
    scheduler = get_linear_schedule_with_warmup(optimizer, int(hp.warmup_ratio * total_steps), total_steps)
    by_name = {t.name: t for t in tasks}
    result = TrainResult(steps=0, best_score=None, best_step=None, sampler={
        **sampler, "weights": sampling_weights({t.name: len(t.features) for t in tasks}, sampler)})
    best_state, stale, running = None, 0, []
    model.train()
    for task_name, indices in plan:
        task = by_name[task_name]
        batch = task.kind.collate([task.features[i] for i in indices], pad_id)
        batch = {k: v.to(accelerator.device) for k, v in batch.items()}
        with accelerator.accumulate(model):
            with accelerator.autocast():
                loss = task.kind.loss(model(task_name, batch), batch)
            accelerator.backward(loss)
            if accelerator.sync_gradients:
                accelerator.clip_grad_norm_(model.parameters(), hp.max_grad_norm)
            optimizer.step()
            optimizer.zero_grad()
        running.append(float(loss.detach()))
        if not accelerator.sync_gradients:
            continue
        scheduler.step()
        result.steps += 1
        if progress:
            progress(result.steps, total_steps, sum(running[-50:]) / len(running[-50:]))
        at_end = result.steps == total_steps
        if evaluate and (result.steps % hp.eval_every == 0 or at_end):
            model.eval()
            score = float(evaluate(accelerator.unwrap_model(model)))
            model.train()
            result.evals.append({"step": result.steps, "score": score})
            if result.best_score is None or score > result.best_score:
                result.best_score, result.best_step, stale = score, result.steps, 0
                if not at_end:
                    best_state = {k: v.detach().to("cpu", copy=True)
                                  for k, v in accelerator.unwrap_model(model).state_dict().items()}
                else:
                    best_state = None  # the final state is the best one
            else:
                stale += 1
                if stale >= hp.patience:
                    break
    unwrapped = accelerator.unwrap_model(model)
    if best_state is not None and result.best_step != result.steps:
        unwrapped.load_state_dict(best_state)
    result.train_loss = sum(running[-50:]) / max(1, len(running[-50:]))
    model.eval()
    return result
