"""Benchmark: peak memory of reading the MLM corpus, streamed (the baseline's reader) vs the old whole split.

    .venv/bin/python bench/mlm_corpus.py [--mb 256] [--shards 8] [--max-sentences 20000] [--keep DIR]

Corpus: a synthetic Wikipedia-like local snapshot of wikimedia/wikipedia (config 20231101.en, columns id,
url, title, text), `--mb` MB of generated text (pseudo-words from harness.offline, never real text) in
`--shards` parquet files with row groups of 1,000 articles; an article is 2-14 paragraphs of 3-10
sentences, separated by blank lines (about 2.3 KB, as on Wikipedia).
Readers, each in a fresh subprocess whose peak RSS is its ru_maxrss (os.wait4):
  import   imports datasets, torch and the harness only: the floor every reader pays (the corpus is read
           inside a training process, and datasets' streaming IterableDataset imports torch anyway)
  stream   baselines/mlm's read: harness.data.load.stream_column(limit=max_sentences, split_lines=True)
  whole    the old read: load_split of the whole split (load_dataset + table.to_dict()), then the first
           max_sentences non-empty texts
Prints each peak and the whole/stream ratios of the peaks and of the increments over the import floor.
Linux carries a process's peak RSS across exec, so a child's ru_maxrss starts at its parent's RSS: the
corpus is written in a subprocess too, and this parent imports nothing heavy.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

REPO = "wikimedia/wikipedia"
CONFIG = "20231101.en"
ROW_GROUP = 1000


def articles(n_bytes: int, seed: int = 0):
    """Generated articles (title, text) until about `n_bytes` of text."""
    from harness.offline import TextGen

    gen = TextGen("en", seed)
    pool = [gen.sentence(4, 14).capitalize() + "." for _ in range(5000)]
    rng = random.Random(seed)
    written = 0
    while written < n_bytes:
        paragraphs = [" ".join(rng.choices(pool, k=rng.randint(3, 10))) for _ in range(rng.randint(2, 14))]
        text = "\n\n".join(paragraphs) + "\n"
        written += len(text.encode())
        yield " ".join(gen.words_(1, 3)).title(), text


def write_corpus(root: Path, mb: float, shards: int) -> dict:
    """Write the snapshot one shard at a time (about mb/shards MB of text each); returns its size."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from harness.data.snapshot import write_readme

    (root / CONFIG).mkdir(parents=True, exist_ok=True)
    paths, n, total = [], 0, 0
    stream = articles(int(mb * 2**20))
    per_shard = mb * 2**20 / shards
    for i in range(shards):
        part, size = [], 0
        for title, text in stream:
            part.append((title, text))
            size += len(text.encode())
            if size >= per_shard and i < shards - 1:
                break
        ids = [str(n + j) for j in range(len(part))]
        table = pa.table({"id": ids, "url": [f"https://example.invalid/wiki/{k}" for k in ids],
                          "title": [t for t, _ in part], "text": [x for _, x in part]})
        rel = f"{CONFIG}/train-{i:05d}-of-{shards:05d}.parquet"
        pq.write_table(table, root / rel, row_group_size=ROW_GROUP)
        paths.append(rel)
        n, total = n + len(part), total + size
    write_readme(root, [{"config_name": CONFIG, "data_files": [{"split": "train", "path": paths}]}],
                 "Synthetic Wikipedia-like corpus for bench/mlm_corpus.py (generated text).")
    return {"articles": n, "text_mb": total / 2**20, "shards": shards}


def child(args: argparse.Namespace) -> dict:
    """Run the writer or one reader in this process; returns what it wrote or read."""
    if args.child == "write":
        return write_corpus(args.hub / REPO, args.mb, args.shards)
    import datasets  # noqa: F401  (the floor: a training process has both loaded)
    import torch  # noqa: F401

    from baselines.mlm import TASK_NAME
    from harness.data.load import load_split, stream_column
    from harness.data.settings import DataSettings
    from harness.spec import HFSource, TaskSpec

    settings = DataSettings(snapshot_root=str(args.hub), cache_dir=str(args.hub.parent / "datasets-cache"))
    source = HFSource(repo=REPO, config="20231101.{lang}", split="train", fields={"text": "text"})
    started = time.perf_counter()
    if args.child == "import":
        texts, rows = [], 0
    elif args.child == "stream":
        texts, prov = stream_column(source, "en", settings, limit=args.max_sentences, split_lines=True,
                                    name=TASK_NAME)
        rows = prov["rows_read"]
    else:  # the old baselines.mlm._hf_text: ctx.load of the whole split, then the first max_sentences
        spec = TaskSpec(name=TASK_NAME, kind="mlm", description="MLM corpus", metric="", score_metrics=(),
                        languages=("en",), train_language="en", train=source)
        columns, prov = load_split(spec, "train", "en", settings)
        texts = [t for t in columns["text"] if t and t.strip()][: args.max_sentences]
        rows = prov["rows"]
    return {"texts": len(texts), "chars": sum(map(len, texts)), "rows": rows,
            "seconds": round(time.perf_counter() - started, 2)}


def measure(mode: str, args: argparse.Namespace, hub: Path) -> dict:
    """Run `mode` in a fresh subprocess; its result plus its peak RSS in MB."""
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1", "HF_HOME": str(hub.parent / "hf-home")}
    cmd = [sys.executable, os.path.abspath(__file__), "--child", mode, "--hub", str(hub), "--mb", str(args.mb),
           "--shards", str(args.shards), "--max-sentences", str(args.max_sentences)]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True, env=env)
    out = proc.stdout.read()
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise SystemExit(f"{mode} failed (exit {proc.returncode})")
    return {**json.loads(out.strip().splitlines()[-1]), "peak_mb": usage.ru_maxrss / 1024}


def report(results: dict, max_sentences: int) -> None:
    floor = results["import"]["peak_mb"]
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak RSS of a fresh process (ru_maxrss; this parent: {own:.0f} MB), max_sentences={max_sentences:,}:")
    labels = {"import": "import only", "stream": "streamed (new)", "whole": "whole split (old)"}
    for mode, r in results.items():
        what = "" if mode == "import" else (f"  {r['texts']:,} texts ({r['chars'] / 2**20:.1f} MB) from "
                                            f"{r['rows']:,} rows read, {r['seconds']:.1f} s")
        print(f"  {labels[mode]:<18} {r['peak_mb']:8.0f} MB{what}")
    stream, whole = results["stream"]["peak_mb"], results["whole"]["peak_mb"]
    print(f"whole/stream: {whole / stream:.1f}x the peak; {(whole - floor) / max(stream - floor, 1):.1f}x the "
          f"memory above the import floor ({whole - floor:.0f} MB vs {stream - floor:.0f} MB)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mb", type=float, default=256, help="MB of generated text")
    parser.add_argument("--shards", type=int, default=8)
    parser.add_argument("--max-sentences", type=int, default=20000)
    parser.add_argument("--keep", type=Path, help="Write (or reuse) the corpus here instead of a temp dir.")
    parser.add_argument("--child", choices=["write", "import", "stream", "whole"], help=argparse.SUPPRESS)
    parser.add_argument("--hub", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(args)))
        return
    with tempfile.TemporaryDirectory(prefix="xstilts-mlm-bench-") as tmp:
        hub = (args.keep or Path(tmp)) / "hub"
        if (hub / REPO / "README.md").exists():
            print(f"corpus: reusing {hub / REPO}")
        else:
            started = time.perf_counter()
            size = measure("write", args, hub)
            print(f"corpus: {size['text_mb']:.0f} MB of generated text, {size['articles']:,} articles in "
                  f"{size['shards']} shards (row groups of {ROW_GROUP:,} articles), written in "
                  f"{time.perf_counter() - started:.0f} s")
        shutil.rmtree(hub.parent / "datasets-cache", ignore_errors=True)  # the old read converts afresh
        report({mode: measure(mode, args, hub) for mode in ("import", "stream", "whole")}, args.max_sentences)


if __name__ == "__main__":
    main()
