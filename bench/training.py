r"""Benchmark: the training engine against baselines measured side by side in one run, printed as ratios.

    .venv/bin/python bench/training.py [--steps 30] [--hidden 256] [--layers 4] [--cache-examples 392702]
                                       [--device cpu|cuda] [--batch-size 32] [--peak-tflops T]
                                       [--parts throughput,padding,cache,embed,mining]

Model: a randomly initialised XLM-R (hidden 256, 4 layers, hidden/64 heads, intermediate 4 x hidden) with a
Unigram tokenizer trained on synthetic text; on --device cuda (the default when a GPU is visible) under the
harness's precision (bf16 autocast where supported, fused AdamW, SDPA attention), on cpu in float32
(--device cpu hides the GPUs). Data: sentence pairs whose token lengths follow an XNLI-like distribution
(log-normal, median ~45 tokens per pair, long tail, cut at 256).
1. throughput: `harness.train.train` (accelerate, schedule, bookkeeping) vs a bare PyTorch loop running the
   same model, the same micro-batches (same collate), the same precision, AdamW, clipping and the linear
   schedule. Then speed: non-pad tokens per second through the harness's training steps (timed after the
   first few) and model FLOPs utilisation, MFU = achieved model FLOP/s / the device's peak dense bf16
   FLOP/s. Model FLOPs = 6 x non-embedding parameters x tokens (forward and backward) + 12 x layers x
   hidden x T^2 per sequence of T tokens (attention scores and values; PaLM, appendix B); padding is not
   counted. Peak: a table by GPU name (`PEAK_BF16_TFLOPS`) or --peak-tflops; on CPU MFU is "n/a" unless
   --peak-tflops is given.
2. padding: length-grouped batches padded to the batch's longest vs random batches padded to 256 (jiant).
3. feature cache: cold (tokenize + store) vs warm (load) time to the first training step, and the number
   of tokenizer calls on the warm path. The default size is MNLI's training set (392,702 pairs), the
   intermediate task the cache serves; at small sizes the ratio is dominated by costs the cache does not
   touch (building the model and the Accelerator, the step itself: about 0.45 s here), e.g. 50,000 pairs
   gave 10.8% on a quiet 2-core machine against 5.7% at MNLI size.
4. embed (not in the default parts): `embed_sentences` in float32 vs under bf16 autocast on the device
   (sentences/s, tokens/s, 1 - cosine between the two).
5. mining (not in the default parts): `mine_bitext` on clustered embeddings (--mine-n x --mine-d): the CPU
   joint pass vs the torch matmul + top-k kNN on the device (and FAISS GPU when faiss has GPUs), with the
   identity of the mined pairs.
Targets: throughput >= 0.95, grouped padding >= 1.5x, warm start < 10% of cold with zero tokenization.

On a GPU box (the CUDA build of torch 2.13.0 in .venv, or inside the project image), run:

    OMP_NUM_THREADS=$(nproc) .venv/bin/python bench/training.py --device cuda --hidden 768 --layers 12 \
        --batch-size 64 --steps 60 --cache-examples 50000 --parts throughput,padding,cache,embed,mining

(XLM-R base's encoder shape; OMP_NUM_THREADS gives the CPU mining baseline every core; a few minutes on
one H100/H200.) Quick CPU check: `.venv/bin/python bench/training.py --steps 5`.
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

PEAK_BF16_TFLOPS: tuple[tuple[str, float], ...] = (
    ("GH200", 989.0), ("H200", 989.0), ("H100 PCIe", 756.0), ("H100", 989.0), ("H800", 989.0),
    ("B200", 2250.0), ("A100", 312.0), ("A800", 312.0), ("L40S", 362.0), ("L40", 181.0), ("L4", 121.0),
    ("A10G", 70.0), ("A10", 125.0), ("RTX 4090", 165.0), ("RTX 3090", 71.0),
)
"""GPU name fragment -> peak dense bf16 tensor-core TFLOP/s (vendor datasheets, SXM parts unless named);
the first fragment found in `torch.cuda.get_device_name()` wins, so more specific names come first."""
PARTS = ("throughput", "padding", "cache", "embed", "mining")
DEFAULT_PARTS = "throughput,padding,cache"


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
                            hidden_size=hidden, layers=layers, heads=max(1, hidden // 64))
    tokenizer = AutoTokenizer.from_pretrained(path)

    def model():
        from harness.kinds import get_kind
        from harness.model import build_task_model
        from harness.spec import TaskSpec

        torch.manual_seed(0)
        encoder = AutoModel.from_pretrained(path, add_pooling_layer=False, attn_implementation="sdpa")
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


def _sync() -> None:
    """Wait for queued GPU work (timings on CUDA); nothing on CPU."""
    import torch

    if torch.cuda.is_available():
        torch.cuda.synchronize()


def timed_train(make_model, feats, hp, kind=None, step_times: list[float] | None = None) -> float:
    """Seconds `harness.train.train` takes; `step_times` gets the clock at the end of each optimizer step."""
    from harness.kinds import get_kind
    from harness.train import TrainTask, train

    model, _ = make_model()
    task = TrainTask("nli", kind or get_kind("classification"), feats)

    def progress(step: int, total: int, loss: float | None) -> None:
        if step_times is not None:
            _sync()
            step_times.append(time.perf_counter())

    start = time.perf_counter()
    train(model, [task], hp, seed=1, pad_id=1, progress=progress)
    _sync()
    return time.perf_counter() - start


def _autocast(hp):
    """The autocast the harness's loop runs under for `hp` on this machine (bf16 on a capable GPU)."""
    import contextlib

    import torch

    from harness.train import mixed_precision

    if mixed_precision(hp) == "bf16" and torch.cuda.is_available():
        return torch.autocast("cuda", dtype=torch.bfloat16)
    return contextlib.nullcontext()


def bare_loop(make_model, feats, hp) -> float:
    """Plain PyTorch on the same micro-batches: collate, forward, loss, backward, clip, AdamW, schedule."""
    import torch
    from transformers import get_linear_schedule_with_warmup

    from harness.kinds import get_kind
    from harness.train import TrainTask, _optimizer, schedule

    kind = get_kind("classification")
    model, _ = make_model()
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    plan, total = schedule([TrainTask("nli", kind, feats)], hp, {"name": "proportional"}, 1)
    start = time.perf_counter()
    torch.manual_seed(1)
    model.to(device)
    optimizer = _optimizer(model, hp)
    scheduler = get_linear_schedule_with_warmup(optimizer, int(hp.warmup_ratio * total), total)
    model.train()
    for _, idx in plan:
        batch = {k: v.to(device) for k, v in kind.collate([feats[i] for i in idx], 1).items()}
        with _autocast(hp):
            loss = kind.loss(model("nli", batch), batch)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), hp.max_grad_norm)
        optimizer.step()
        scheduler.step()
        optimizer.zero_grad()
    _sync()
    return time.perf_counter() - start


def non_embedding_parameters(model) -> int:
    """Parameters outside embedding tables (lookups, not matmuls): the N of the 6N FLOPs per token."""
    import torch

    embedded = {id(p) for m in model.modules() if isinstance(m, torch.nn.Embedding) for p in m.parameters()}
    return sum(p.numel() for p in model.parameters() if id(p) not in embedded)


def model_flops(lengths: list[int], params: int, layers: int, hidden: int) -> float:
    """Training FLOPs (forward + backward) of sequences of these non-pad lengths: 6 N T + 12 L H T^2 each."""
    return float(sum(6 * params * t + 12 * layers * hidden * t * t for t in lengths))


def peak_tflops(override: float | None) -> tuple[float | None, str]:
    """(peak dense bf16 TFLOP/s, where it comes from) for this machine's device; (None, why) if unknown."""
    import torch

    if override:
        return override, "--peak-tflops"
    if not torch.cuda.is_available():
        return None, "CPU: no peak known; pass --peak-tflops"
    name = torch.cuda.get_device_name()
    for fragment, tflops in PEAK_BF16_TFLOPS:
        if fragment in name:
            return tflops, f"{name}, dense bf16"
    return None, f"{name} is not in PEAK_BF16_TFLOPS; pass --peak-tflops"


def speed(make_model, feats, hp, peak: float | None, peak_source: str) -> str:
    """Tokens/s and MFU of the harness's training loop, timed after its first few optimizer steps."""
    from harness.kinds import get_kind
    from harness.train import TrainTask, schedule

    model, _ = make_model()
    config = model.encoder.config
    params = non_embedding_parameters(model)
    plan, total = schedule([TrainTask("nli", get_kind("classification"), feats)], hp, {"name": "proportional"}, 1)
    per_step = [plan[s * hp.grad_accum:(s + 1) * hp.grad_accum] for s in range(total)]
    lengths = [[len(feats[i]["input_ids"]) for _, idx in step for i in idx] for step in per_step]
    times: list[float] = []
    timed_train(make_model, feats, hp, step_times=times)
    if len(times) < 2:
        return "speed: needs at least 2 optimizer steps (--steps)"
    warm = min(3, max(1, len(times) // 5))
    timed = [t for step in lengths[warm:len(times)] for t in step]
    seconds = times[-1] - times[warm - 1]
    tokens_s = sum(timed) / seconds
    achieved = model_flops(timed, params, config.num_hidden_layers, config.hidden_size) / seconds / 1e12
    mfu = f"MFU {100 * achieved / peak:.1f}% of {peak:g} TFLOP/s ({peak_source})" if peak else \
        f"MFU n/a ({peak_source})"
    return (f"speed (harness loop, steps {warm + 1}-{len(times)}): {tokens_s:,.0f} non-pad tokens/s, "
            f"{(len(times) - warm) / seconds:.2f} steps/s; model FLOPs (6 x {params / 1e6:.1f}M non-embedding "
            f"params + attention) {achieved:.3f} TFLOP/s -> {mfu}")


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


def embed_bench(make_model, tokenizer, n: int, batch_size: int) -> str:
    """`embed_sentences` in float32 vs bf16 autocast on this machine's device: speed and agreement."""
    import numpy as np
    import torch

    from harness.offline import TextGen
    from harness.retrieval.embed import embed_sentences

    task_model, _ = make_model()
    encoder = task_model.encoder.to("cuda" if torch.cuda.is_available() else "cpu")
    gen = TextGen("en", 7)
    texts = [gen.sentence(max(2, k // 2), max(2, k // 2)) for k in xnli_like_lengths(n, 3)]
    tokens = sum(len(ids) for ids in tokenizer(texts, truncation=True, max_length=256)["input_ids"])
    layer = encoder.config.num_hidden_layers // 2
    out, seconds = {}, {}
    for dtype in ("float32", "bfloat16"):
        embed_sentences(encoder, tokenizer, texts[:batch_size], layer, batch_size=batch_size, dtype=dtype)  # warm-up
        _sync()
        start = time.perf_counter()
        out[dtype] = embed_sentences(encoder, tokenizer, texts, layer, batch_size=batch_size, max_length=256,
                                     dtype=dtype)
        _sync()
        seconds[dtype] = time.perf_counter() - start
    a, b = out["float32"], out["bfloat16"]
    cos = (a * b).sum(1) / np.maximum(np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1), 1e-12)
    return (f"embed ({n} sentences, {tokens} tokens, batch {batch_size}, {encoder.device}): float32 "
            f"{n / seconds['float32']:,.0f} sentences/s ({tokens / seconds['float32']:,.0f} tokens/s) vs bf16 "
            f"autocast {n / seconds['bfloat16']:,.0f} sentences/s ({tokens / seconds['bfloat16']:,.0f} tokens/s) -> "
            f"{seconds['float32'] / seconds['bfloat16']:.2f}x; 1 - cosine(bf16, fp32) mean {1 - cos.mean():.1e} "
            f"max {1 - cos.min():.1e}")


def mining_data(n: int, d: int, seed: int = 0):
    """Clustered float32 embeddings x, y [n, d] where 60% of y are noisy shuffled copies of x."""
    import numpy as np

    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((64, d)).astype(np.float32)
    x = centres[rng.integers(0, 64, n)] + 1.5 * rng.standard_normal((n, d), dtype=np.float32)
    y = centres[rng.integers(0, 64, n)] + 1.5 * rng.standard_normal((n, d), dtype=np.float32)
    copies = int(0.6 * n)
    y[rng.permutation(n)[:copies]] = x[:copies] + 0.6 * rng.standard_normal((copies, d), dtype=np.float32)
    return x, y


def mining_bench(n: int, d: int) -> list[str]:
    """`mine_bitext` on the CPU joint pass vs the torch kNN on this machine's device (and FAISS GPU if any)."""
    import torch

    from harness.retrieval.mining import mine_bitext
    from harness.retrieval.search import knn_engine, resolve_gpu

    x, y = mining_data(n, d)
    engines = [("joint-cpu", {"use_gpu": False, "knn_backend": "joint"})]
    engines.append((knn_engine("exact", "auto", "torch"), {"knn_backend": "torch"}))
    if resolve_gpu("auto"):
        engines.append(("faiss-gpu", {"knn_backend": "faiss", "use_gpu": True}))
    results, lines = {}, []
    for name, options in engines:
        if name != "joint-cpu":
            mine_bitext(x[:512], y[:512], **options)  # warm-up: CUDA context, kernels
        _sync()
        start = time.perf_counter()
        results[name] = mine_bitext(x, y, **options)
        _sync()
        results[name] = (*results[name], time.perf_counter() - start)
    base = results["joint-cpu"]
    for name, (src, trg, score, seconds) in results.items():
        same = (src.tolist() == base[0].tolist() and trg.tolist() == base[1].tolist()
                and float(abs(score - base[2]).max(initial=0.0)) <= 1e-5)
        lines.append(f"mining n={n} d={d} k=4 ratio/max on {name}: {seconds:.2f} s -> {base[3] / seconds:.2f}x the "
                     f"CPU joint pass; {len(src)} pairs, identical to the CPU pairs (scores within 1e-5): {same}")
    threads = torch.get_num_threads()
    lines.append(f"  (CPU: {threads} torch thread(s), {os.cpu_count()} CPUs; OMP_NUM_THREADS="
                 f"{os.environ.get('OMP_NUM_THREADS')})")
    return lines


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Command-line options; --device defaults to cuda when a GPU is visible (checked without torch)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--hidden", type=int, default=256)
    parser.add_argument("--layers", type=int, default=4)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--cache-examples", type=int, default=392702, help="pairs (default: MNLI train size)")
    parser.add_argument("--device", choices=["cpu", "cuda"], default=None,
                        help="default: cuda if available, else cpu; cpu hides the GPUs (CUDA_VISIBLE_DEVICES='')")
    parser.add_argument("--peak-tflops", type=float, default=None,
                        help="peak dense bf16 TFLOP/s for MFU (default: from the GPU's name; none on CPU)")
    parser.add_argument("--parts", default=DEFAULT_PARTS, help=f"comma-separated subset of {','.join(PARTS)}")
    parser.add_argument("--embed-sentences", type=int, default=4096)
    parser.add_argument("--mine-n", type=int, default=20000)
    parser.add_argument("--mine-d", type=int, default=768)
    args = parser.parse_args(argv)
    args.parts = [p.strip() for p in args.parts.split(",") if p.strip()]
    unknown = sorted(set(args.parts) - set(PARTS))
    if unknown:
        parser.error(f"--parts: unknown {', '.join(unknown)}; choose from {', '.join(PARTS)}")
    return args


def main() -> None:
    args = parse_args()
    if args.device == "cpu":
        os.environ["CUDA_VISIBLE_DEVICES"] = ""  # before torch is imported: the harness then sees no GPU
    import torch

    if args.device == "cuda" and not torch.cuda.is_available():
        print("bench/training.py: --device cuda, but PyTorch sees no GPU (install the CUDA build of torch)",
              file=sys.stderr)
        sys.exit(2)
    from harness.hparams import Hparams
    from harness.model import quiet_transformers
    from harness.train import mixed_precision

    quiet_transformers()
    with tempfile.TemporaryDirectory() as tmp:
        tokenizer, make_model = build(Path(tmp), args.hidden, args.layers)
        bs = args.batch_size
        feats = features(args.steps * bs * 2, len(tokenizer))
        hp = Hparams(batch_size=bs, max_steps=args.steps, lr=1e-4, max_seq_length=256)
        precision = "bf16 autocast, fused AdamW" if mixed_precision(hp) == "bf16" else "fp32"
        device = (f"cuda ({torch.cuda.get_device_name()})" if torch.cuda.is_available()
                  else f"cpu, {torch.get_num_threads()} thread(s)")
        print(f"model: XLM-R hidden {args.hidden}, {args.layers} layers, {precision}, {device}; batch {bs}; "
              f"{args.steps} optimizer steps per measurement; pair lengths median "
              f"{sorted(len(f['input_ids']) for f in feats)[len(feats) // 2]} tokens, max 256")
        if "throughput" in args.parts:
            bare_loop(make_model, feats[:2 * bs], Hparams(batch_size=bs, max_steps=2))  # warm-up
            bare = bare_loop(make_model, feats, hp)
            harness = timed_train(make_model, feats, hp)
            print(f"throughput: harness {args.steps / harness:.2f} steps/s vs bare PyTorch loop "
                  f"{args.steps / bare:.2f} steps/s -> ratio {bare / harness:.3f} (target >= 0.95)")
            print(speed(make_model, feats, hp, *peak_tflops(args.peak_tflops)))
        if "padding" in args.parts:
            few = max(3, args.steps // 3)
            short = Hparams(**{**hp.to_dict(), "max_steps": few})
            grouped = timed_train(make_model, feats, short)
            fixed = timed_train(make_model, feats, Hparams(**{**short.to_dict(), "length_grouped": False}),
                                PadToMax(256))
            print(f"padding ({few} steps each): length-grouped dynamic {grouped:.1f} s vs random batches padded to "
                  f"256 {fixed:.1f} s -> {fixed / grouped:.2f}x faster (target >= 1.5x)")
        if "cache" in args.parts:
            (cold_f, cold, cold_calls), (warm_f, warm, warm_calls) = cache_bench(tokenizer, make_model,
                                                                                args.cache_examples, Path(tmp))
            print(f"feature cache ({args.cache_examples} pairs): features ready cold {cold_f:.2f} s ({cold_calls} "
                  f"tokenizer call(s)) vs warm {warm_f:.2f} s ({warm_calls} tokenizer calls) -> "
                  f"{100 * warm_f / cold_f:.1f}%"
                  f"; to the end of the first training step (model load + 1 step included): cold {cold:.2f} s vs "
                  f"warm {warm:.2f} s -> {100 * warm / cold:.1f}% (target < 10%, zero tokenization)")
        if "embed" in args.parts:
            print(embed_bench(make_model, tokenizer, args.embed_sentences, 4 * bs if torch.cuda.is_available() else bs))
        if "mining" in args.parts:
            print("\n".join(mining_bench(args.mine_n, args.mine_d)))


if __name__ == "__main__":
    main()
