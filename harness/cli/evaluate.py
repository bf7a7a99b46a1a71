"""`xstilts evaluate TASK --model M`: evaluate an encoder zero-shot on a task, without any training.

For retrieval tasks this is the paper's phase 3 on any encoder; the numbers come from the same loop as
the pipeline's evaluate stage (`harness.evaluation.evaluate_task`).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from harness.errors import UserError


def _local_alternatives(spec: Any) -> list[str]:
    """Tasks with the same submission folder that read local files (for a helpful --data-dir error)."""
    from harness import registry
    from harness.spec import LocalSource, parts

    folder = spec.submission.folder if spec.submission else None
    return [t.name for t in registry.all_tasks() if t.submission and t.submission.folder == folder
            and any(isinstance(s, LocalSource) for split in ("dev", "test") for s in parts(t.source(split)))]


def _data_settings(spec: Any, data_dir: Path | None, snapshot_root: Path | None):
    from harness.data.settings import DataSettings
    from harness.spec import LocalSource, parts

    local = [s for split in ("dev", "test") for s in parts(spec.source(split)) if isinstance(s, LocalSource)]
    if data_dir is None:
        if local:
            raise UserError(f"task '{spec.name}' reads local files ({local[0].layout or local[0].reader}): "
                            "pass --data-dir")
        return DataSettings(snapshot_root=str(snapshot_root) if snapshot_root else None)
    if not local:
        others = [n for n in _local_alternatives(spec) if n != spec.name]
        hint = f"; for raw files use task {' or '.join(others)}" if others else ""
        raise UserError(f"--data-dir: task '{spec.name}' reads no local files{hint}")
    if not data_dir.is_dir():
        raise UserError(f"--data-dir: {data_dir} is not a directory; pass the folder holding the raw files")
    return DataSettings(snapshot_root=str(snapshot_root) if snapshot_root else None,
                        data_dirs={spec.name: str(data_dir)})


def evaluate_encoder(task: str, model: str, data_dir: Path | None = None, languages: str | None = None,
                     split: str = "test", settings: dict | None = None, snapshot_root: Path | None = None,
                     max_seq_length: int | None = None, batch_size: int = 64) -> dict[str, Any]:
    """The JSON-ready result of evaluating `model` on `task` (metrics in percent)."""
    from harness import registry
    from harness.data.load import load_split
    from harness.evaluation import evaluate_task
    from harness.hparams import resolve
    from harness.kinds import get_kind
    from harness.languages import resolve_languages
    from harness.model import load_encoder

    spec = registry.task(task)
    kind = get_kind(spec.kind)
    if kind.trains_head:
        raise UserError(f"task '{spec.name}' ({spec.kind}) needs a trained head, so a bare encoder cannot be "
                        "evaluated on it; list it under `targets:` of an experiment and use `xstilts run` "
                        "(only retrieval tasks evaluate an encoder as it is)")
    if spec.source(split) is None:
        raise UserError(f"task '{spec.name}' has no {split} split; choose --split "
                        f"{'dev' if split == 'test' else 'test'}")
    langs = resolve_languages(languages.split(",") if languages else list(spec.languages), spec.languages,
                              f"--languages of task '{spec.name}'")
    if not spec.split_languages(split, langs):
        raise UserError(f"task '{spec.name}' has no {split} split in {', '.join(langs)} (it has one in "
                        f"{', '.join(spec.split_languages(split))}); choose other --languages or --split")
    data = _data_settings(spec, data_dir, snapshot_root)
    overrides = {"eval_batch_size": batch_size, **({"max_seq_length": max_seq_length} if max_seq_length else {})}
    hp = resolve(spec.hparams, overrides, where="xstilts evaluate")
    encoder, tokenizer = load_encoder(model)
    result = evaluate_task(encoder, tokenizer, spec, kind, langs, [split], hp,
                           {**spec.settings, **(settings or {})},
                           lambda s, lang: load_split(spec, s, lang, data)[0])
    used, scores = result["settings"], result["splits"][split]
    out = {"task": spec.name, "model": model, "layer": used.get("layer"), "pooling": used.get("pooling"),
           "split": split, "languages": scores["languages"], "score": scores["score"], "settings": used}
    if "language_settings" in result:
        out["language_settings"] = result["language_settings"]
    return out


@click.command("evaluate")
@click.argument("task")
@click.option("--model", required=True, help="Local encoder directory or hub id.")
@click.option("--data-dir", type=click.Path(path_type=Path), help="Raw files of tasks read from local layouts.")
@click.option("--snapshot-root", type=click.Path(path_type=Path),
              help="Local hub snapshots as ROOT/org/name (default: $XSTILTS_HUB_SNAPSHOTS).")
@click.option("--languages", help="Comma-separated codes (2-letter, or ISO 639-3); default: all of the task.")
@click.option("--layer", type=int, help="Hidden layer, counted like hidden_states[layer] (0 = embeddings).")
@click.option("--pooling", type=click.Choice(["mean", "cls"]))
@click.option("--direction", type=click.Choice(["en-xx", "xx-en"]), help="Nearest-neighbour query side.")
@click.option("--k", type=int, help="Neighbours for margin scoring (mining).")
@click.option("--index", type=click.Choice(["exact", "ivf", "hnsw"]),
              help="Search index: exact (default) or an approximate FAISS index for very large pools.")
@click.option("--nprobe", type=int, help="ivf: lists visited per query (default 32).")
@click.option("--ef-search", type=int, help="hnsw: search breadth (default 128).")
@click.option("--split", type=click.Choice(["test", "dev"]), default="test", show_default=True)
@click.option("--max-seq-length", type=int, default=None, help="Default: the task's (512 for retrieval).")
@click.option("--batch-size", type=int, default=64, show_default=True)
@click.option("--output-json", type=click.Path(dir_okay=False, path_type=Path), help="Also write the JSON here.")
def evaluate_command(task: str, model: str, data_dir: Path | None, snapshot_root: Path | None,
                     languages: str | None, layer: int | None, pooling: str | None, direction: str | None,
                     k: int | None, index: str | None, nprobe: int | None, ef_search: int | None, split: str,
                     max_seq_length: int, batch_size: int, output_json: Path | None) -> None:
    """Evaluate an encoder zero-shot on TASK without training (retrieval: BUCC, Tatoeba); prints JSON."""
    chosen = {"layer": layer, "pooling": pooling, "direction": direction, "k": k, "index": index,
              "nprobe": nprobe, "ef_search": ef_search}
    result = evaluate_encoder(task, model, data_dir, languages, split,
                              {key: v for key, v in chosen.items() if v is not None}, snapshot_root,
                              max_seq_length, batch_size)
    text = json.dumps(result, indent=2, ensure_ascii=False)
    click.echo(text)
    if output_json is not None:
        output_json.parent.mkdir(parents=True, exist_ok=True)
        output_json.write_text(text + "\n", encoding="utf-8")
