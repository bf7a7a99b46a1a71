"""`xstilts score PRED_DIR GOLD_DIR`: rescore XTREME-layout predictions without a model."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click


def _fmt(value: float | None) -> str:
    return "null" if value is None else f"{value:.2f}"


def render(result: dict[str, Any]) -> None:
    """Print the tasks, per-language metrics, groups and the overall score as rich tables."""
    from rich.table import Table

    from harness.cli.console import console as make_console

    console = make_console()
    metric_names = sorted({m for task in result["tasks"].values() for m in task["metrics"]})
    tasks = Table(title=f"{result['suite']}: tasks (mean over languages)")
    tasks.add_column("task")
    tasks.add_column("score", justify="right")
    for name in metric_names:
        tasks.add_column(name, justify="right")
    for name, task in result["tasks"].items():
        cells = (_fmt(task["metrics"][m]) if m in task["metrics"] else "" for m in metric_names)
        tasks.add_row(name, _fmt(task["score"]), *cells)
    console.print(tasks)

    langs = Table(title="per language")
    langs.add_column("task")
    langs.add_column("metric")
    langs.add_column("languages", overflow="fold")
    for name, task in result["tasks"].items():
        for metric in task["metrics"]:
            values = " ".join(f"{lang} {_fmt(m.get(metric))}" for lang, m in task["languages"].items())
            langs.add_row(name, metric, values)
    console.print(langs)

    totals = Table(title="groups and overall (null unless every task of it is present)")
    totals.add_column("group")
    totals.add_column("score", justify="right")
    for group, value in result["groups"].items():
        totals.add_row(group, _fmt(value))
    labels = result.get("labels", {})
    totals.add_row("[bold]overall[/bold]" + (f" ({labels['score']})" if "score" in labels else ""),
                   _fmt(result["score"]))
    for name, label in labels.items():
        if name != "score":
            totals.add_row(f"{name} ({label})", _fmt(result[name]))
    console.print(totals)
    if result.get("not_installed"):
        console.print(f"tasks of {result['suite']} no installed plugin provides (scored as missing): "
                      f"{', '.join(result['not_installed'])}")


@click.command("score")
@click.argument("pred_dir", type=click.Path(file_okay=False, path_type=Path))
@click.argument("gold_dir", type=click.Path(file_okay=False, path_type=Path))
@click.option("--suite", default="xtreme", show_default=True, help="Benchmark whose tasks and rules apply.")
@click.option(
    "--output-json", type=click.Path(dir_okay=False, path_type=Path), help="Also write the scores as JSON."
)
def score_command(pred_dir: Path, gold_dir: Path, suite: str, output_json: Path | None) -> None:
    """Score predictions in the XTREME submission layout (one folder per task, test-{lang}.{ext})
    against gold files in the same layout, with the official metrics and aggregation."""
    from harness.scoring import score_submission

    result = score_submission(pred_dir, gold_dir, suite=suite)
    render(result)
    for folder, why in result["ignored"].items():
        click.echo(f"not scored: {pred_dir / folder}: {why}", err=True)
    if output_json is not None:
        output_json.parent.mkdir(parents=True, exist_ok=True)
        output_json.write_text(json.dumps(result, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
        click.echo(f"wrote {output_json}")
