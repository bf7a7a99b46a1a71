"""Benchmark: the training engine against baselines measured side by side in one run, printed as ratios.

    .venv/bin/python bench/training.py [--steps 30] [--hidden 256] [--layers 4] [--cache-examples 392702]

Model: a randomly initialised XLM-R (hidden 256, 4 layers, 4 heads, intermediate 1024, fp32, CPU unless a
GPU is present) with a Unigram tokenizer trained on synthetic text. Data: sentence pairs whose token lengths
follow an XNLI-like distribution (log-normal, median ~45 tokens per pair, long tail, cut at 256).
1. throughput: `harness.train.train` (accelerate, schedule, bookkeeping) vs a bare PyTorch loop running the
   same model, the same micro-batches (same collate), AdamW, clipping and the linear schedule.
2. padding: length-grouped batches padded to the batch's longest vs random batches padded to 256 (jiant).
3. feature cache: cold (tokenize + store) vs warm (load) time to the first training step, and the number
   of tokenizer calls on the warm path. The default size is MNLI's training set (392,702 pairs), the
   intermediate task the cache serves; at small sizes the ratio is dominated by costs the cache does not
   touch (building the model and the Accelerator, the step itself: about 0.45 s here), e.g. 50,000 pairs
   gave 10.8% on a quiet 2-core machine against 5.7% at MNLI size.
Targets: throughput >= 0.95, grouped padding >= 1.5x, warm start < 10% of cold with zero tokenization.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
os.environ.setdefault("OMP_NUM_THREADS", "1")


def xnli_like_lengths(n: int, seed: int = 0) -> list[int]:
    import numpy as np

    rng = np.random.default_rng(seed)
    return np.clip(rng.lognormal(mean=np.log(45), sigma=0.45, size=n), 8, 256).astype(int).tolist()


def build(tmp: Path, hidden: int, layers: int):
    """(tokenizer, model factory) for a small random XLM-R; the factory gives identical weights each call."""
    import torch
    from transformers import AutoModel, AutoTokenizer

    from harness.offline import TextGen, build_tiny_model

    gen = TextGen("en", 0)
    path = build_tiny_model(tmp / "model", [gen.sentence(4, 30) for _ in range(3000)], vocab_size=3000,
                            hidden_size=hidden, layers=layers, heads=4)
    tokenizer = AutoTokenizer.from_pretrained(path)

    def model():
        from harness.kinds import get_kind
        from harness.model import build_task_model
        from harness.spec import TaskSpec

        torch.manual_seed(0)
        encoder = AutoModel.from_pretrained(path, add_pooling_layer=False)
        spec = TaskSpec(name="nli", kind="classification", description="", metric="accuracy",
                        score_metrics=("accuracy",), labels=("a", "b", "c"))
        kind = get_kind("classification")
        from harness.hparams import Hparams

        return build_task_model(encoder, {"nli": kind.build_head(hidden, spec, Hparams())}, {"nli": kind}), spec

    return tokenizer, model


def features(n: int, vocab: int) -> list[dict]:
    import numpy as np

    rng = np.random.default_rng(1)
    return [{"input_ids": [0, *rng.integers(5, vocab, size=length - 2).tolist(), 2], "labels": int(rng.integers(3))}
            for length in xnli_like_lengths(n)]


def timed_train(make_model, feats, hp, kind=None) -> float:
    from harness.kinds import get_kind
    from harness.train import TrainTask, train

    model, _ = make_model()
    task = TrainTask("nli", kind or get_kind("classification"), feats)
    start = time.perf_counter()
    train(model, [task], hp, seed=1, pad_id=1)
    return time.perf_counter() - start


def bare_loop(make_model, feats, hp) -> float:
    """Plain PyTorch on the same micro-batches: collate, forward, loss, backward, clip, AdamW, schedule."""
    import torch
    from transformers import get_linear_schedule_with_warmup

    from harness.kinds import get_kind
    from harness.train import TrainTask, _optimizer, schedule

    kind = get_kind("classification")
    model, _ = make_model()
    plan, total = schedule([TrainTask("nli", kind, feats)], hp, {"name": "proportional"}, 1)
    start = time.perf_counter()
    torch.manual_seed(1)
    optimizer = _optimizer(model, hp)
    scheduler = get_linear_schedule_with_warmup(optimizer, int(hp.warmup_ratio * total), total)
    model.train()
    for _, idx in plan:
        batch = kind.collate([feats[i] for i in idx], 1)
        loss = kind.loss(model("nli", batch), batch)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), hp.max_grad_norm)
        optimizer.step()
        scheduler.step()
        optimizer.zero_grad()
    return time.perf_counter() - start


class PadToMax:
    """The classification kind, but every batch padded to max_length (jiant's fixed-length batches)."""

    def __init__(self, max_length: int):
        from harness.kinds import get_kind

        self.inner, self.max_length = get_kind("classification"), max_length

    def __getattr__(self, name):
        return getattr(self.inner, name)

    def collate(self, feats, pad_id):
        padded = [{**f, "input_ids": f["input_ids"] + [pad_id] * (self.max_length - len(f["input_ids"]))}
                  for f in feats]
        batch = self.inner.collate(padded, pad_id)
        batch["attention_mask"] = (batch["input_ids"] != pad_id).long()
        return batch


def cache_bench(tokenizer, make_model, n: int, tmp: Path) -> list[tuple[float, float, int]]:
    """[(seconds to features ready, seconds to the end of the first training step, tokenizer calls)] for
    the cold and then the warm cache; the first step includes building the model and the Accelerator."""
    from harness import features_cache
    from harness.hparams import Hparams
    from harness.kinds import get_kind
    from harness.offline import TextGen

    os.environ[features_cache.CACHE_ENV] = str(tmp / "cache")
    gen = TextGen("en", 5)
    lengths = xnli_like_lengths(n, 2)
    columns = {"text_a": [gen.sentence(max(2, k // 3), max(2, k // 3)) for k in lengths],
               "text_b": [gen.sentence(max(2, k // 5), max(2, k // 5)) for k in lengths],
               "label": [("a", "b", "c")[i % 3] for i in range(n)]}
    columns["id"] = [str(i) for i in range(n)]
    kind = get_kind("classification")
    hp = Hparams(batch_size=32, max_steps=1, max_seq_length=256)
    _, spec = make_model()
    calls = {"n": 0}
    real_call = type(tokenizer).__call__

    def counting(self, *a, **k):
        calls["n"] += 1
        return real_call(self, *a, **k)

    type(tokenizer).__call__ = counting
    results = []
    try:
        for _ in range(2):
            calls["n"] = 0
            start = time.perf_counter()
            feats = features_cache.cached_features(kind, columns, tokenizer, spec, hp, "train", "en")
            ready = time.perf_counter() - start
            timed_train(make_model, feats, hp)
            results.append((ready, time.perf_counter() - start, calls["n"]))
    finally:
        type(tokenizer).__call__ = real_call
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--hidden", type=int, default=256)
    parser.add_argument("--layers", type=int, default=4)
    parser.add_argument("--cache-examples", type=int, default=392702, help="pairs (default: MNLI train size)")
    args = parser.parse_args()
    import torch

    from harness.hparams import Hparams
    from harness.model import quiet_transformers

    quiet_transformers()
    with tempfile.TemporaryDirectory() as tmp:
        tokenizer, make_model = build(Path(tmp), args.hidden, args.layers)
        feats = features(args.steps * 32 * 2, len(tokenizer))
        hp = Hparams(batch_size=32, max_steps=args.steps, lr=1e-4, max_seq_length=256, mixed_precision="no")
        device = "cuda" if torch.cuda.is_available() else f"cpu, {torch.get_num_threads()} thread(s)"
        print(f"model: XLM-R hidden {args.hidden}, {args.layers} layers, fp32, {device}; batch 32; "
              f"{args.steps} optimizer steps per measurement; pair lengths median "
              f"{sorted(len(f['input_ids']) for f in feats)[len(feats) // 2]} tokens, max 256")
        bare_loop(make_model, feats[:64], Hparams(batch_size=32, max_steps=2))  # warm-up
        bare = bare_loop(make_model, feats, hp)
        harness = timed_train(make_model, feats, hp)
        print(f"throughput: harness {args.steps / harness:.2f} steps/s vs bare PyTorch loop {args.steps / bare:.2f} "
              f"steps/s -> ratio {bare / harness:.3f} (target >= 0.95)")
        few = max(3, args.steps // 3)
        short = Hparams(**{**hp.to_dict(), "max_steps": few})
        grouped = timed_train(make_model, feats, short)
        fixed = timed_train(make_model, feats, Hparams(**{**short.to_dict(), "length_grouped": False}), PadToMax(256))
        print(f"padding ({few} steps each): length-grouped dynamic {grouped:.1f} s vs random batches padded to 256 "
              f"{fixed:.1f} s -> {fixed / grouped:.2f}x faster (target >= 1.5x)")
        (cold_f, cold, cold_calls), (warm_f, warm, warm_calls) = cache_bench(tokenizer, make_model,
                                                                            args.cache_examples, Path(tmp))
        print(f"feature cache ({args.cache_examples} pairs): features ready cold {cold_f:.2f} s ({cold_calls} "
              f"tokenizer call(s)) vs warm {warm_f:.2f} s ({warm_calls} tokenizer calls) -> "
              f"{100 * warm_f / cold_f:.1f}%"
              f"; to the end of the first training step (model load + 1 step included): cold {cold:.2f} s vs warm "
              f"{warm:.2f} s -> {100 * warm / cold:.1f}% (target < 10%, zero tokenization)")


if __name__ == "__main__":
    main()
