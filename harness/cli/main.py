"""Entry point of the `xstilts` command: the click group and its commands."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from harness import __version__
from harness.checkpoint import Interrupted
from harness.cli.evaluate import evaluate_command
from harness.cli.export import export_command
from harness.cli.score import score_command
from harness.cli.status import status_command
from harness.errors import UserError


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="xstilts")
def cli() -> None:
    """xstilts: intermediate-task training and zero-shot cross-lingual transfer on XTREME."""


@cli.command("tasks")
@click.option("--role", type=click.Choice(["all", "target", "intermediate"]), default="all", show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
def tasks_command(role: str, as_json: bool) -> None:
    """List registered tasks: kind, languages, metric and data source."""
    from harness import registry

    specs = [s for s in registry.all_tasks() if role == "all" or s.role == role]
    if as_json:
        import json

        click.echo(json.dumps([s.summary() for s in specs], indent=2))
        return
    from rich.table import Table

    from harness.cli.console import console

    table = Table(title="xstilts tasks")
    for col in ("task", "role", "kind", "languages", "metric", "source"):
        table.add_column(col, overflow="fold")
    for s in specs:
        info = s.summary()
        langs = f"{len(s.languages)}: " + " ".join(s.languages)
        table.add_row(s.name, s.role, s.kind, langs, f"{s.metric} ({info['score']})", info["source"])
    console().print(table)


def set_option(command):
    """`--set PATH=VALUE` (repeatable): override one value of the experiment's YAML tree."""
    return click.option("--set", "overrides", multiple=True, metavar="PATH=VALUE",
                        help="Override a value of the experiment file (repeatable): dotted PATH, list items by "
                             "index or name (arms.mnli.hparams.epochs=1), VALUE parsed as YAML.")(command)


@cli.command("validate")
@click.argument("experiments", nargs=-1, required=True, type=click.Path(path_type=Path))
@set_option
def validate_command(experiments: tuple[Path, ...], overrides: tuple[str, ...]) -> None:
    """Check experiment files (no network, no model loading) and print each one's stage counts.

    Every file is checked; the exit code is 2 when any of them has a problem (each printed on one line).
    """
    from harness.experiment import load_experiment
    from harness.plan import plan

    failed = []
    for experiment in experiments:
        try:
            config = load_experiment(experiment, overrides)
            stages = plan(config)
        except UserError as exc:
            if len(experiments) == 1:
                raise
            click.echo(f"error: {exc}", err=True)
            failed.append(str(experiment))
            continue
        counts = {k: sum(s.kind == k for s in stages) for k in ("intermediate", "target", "evaluate")}
        click.echo(f"{experiment}: ok: {len(config.arms)} arms x {len(config.targets)} targets x "
                   f"{len(config.seeds)} seeds -> {len(stages)} stages ({counts['intermediate']} intermediate, "
                   f"{counts['target']} target, {counts['evaluate']} evaluate)")
    if failed:
        raise UserError(f"{len(failed)} of {len(experiments)} experiment files have problems: {', '.join(failed)}")


@cli.command("run")
@click.argument("experiment", type=click.Path(path_type=Path))
@click.option("--output", "-o", type=click.Path(path_type=Path), help="Runs directory (default: the "
              "experiment's `output`, else runs/<name>).")
@click.option("--dry-run", is_flag=True, help="Print the stage plan and exit.")
@click.option("--allow-mixed", is_flag=True, help="Allow a runs directory that holds another experiment.")
@click.option("--jobs", "-j", type=click.IntRange(min=1), default=None,
              help="Run up to N independent stages at a time, each in its own process on the GPU of its slot, "
                   "its output in <stage>/stage.log (local executor). Default: the number of visible GPUs, or 1 "
                   "(then stages run in this process).")
@set_option
def run_command(experiment: Path, output: Path | None, dry_run: bool, allow_mixed: bool, jobs: int | None,
                overrides: tuple[str, ...]) -> None:
    """Run an experiment; done stages are skipped, so running again resumes."""
    from harness.cli.run import run_experiment

    run_experiment(experiment, output, dry_run, allow_mixed, overrides, jobs)


@cli.command("run-stage", hidden=False)
@click.argument("runs_dir", type=click.Path(path_type=Path))
@click.argument("key")
def run_stage_command(runs_dir: Path, key: str) -> None:
    """Run one stage of a recorded experiment (what a container or batch job executes)."""
    from harness.execute import run_recorded_stage

    ran = run_recorded_stage(runs_dir, key)
    click.echo(f"{key}: {'done' if ran else 'already done'}")


@cli.command("leaderboard")
@click.argument("runs_dir", type=click.Path(path_type=Path))
@click.option("--out", "out_dir", type=click.Path(path_type=Path), default=Path("reports"), show_default=True)
@click.option("--split", type=click.Choice(["test", "dev"]), default="test", show_default=True)
@click.option("--allow-mixed", is_flag=True, help="Accept a runs directory that holds several experiments.")
@click.option("--require-complete", is_flag=True,
              help="Exit 2 unless the grid covers a suite in full and every row has its score (for CI).")
@click.option("--metric", default=None, metavar="NAME",
              help="Fill every cell with this metric (e.g. f1) instead of each task's score; no suite scores.")
def leaderboard_command(runs_dir: Path, out_dir: Path, split: str, allow_mixed: bool,
                        require_complete: bool, metric: str | None) -> None:
    """Write leaderboard.md, leaderboard.json and heatmap.png for a runs directory."""
    from harness.report.write import write_reports

    paths = write_reports(runs_dir, out_dir, split, allow_mixed, require_complete, metric)
    for path in paths:
        click.echo(f"wrote {path}")
    _warn_if_synthetic(paths[0])


def _warn_if_synthetic(board_json: Path) -> None:
    """Repeat the report's synthetic-data warning on the terminal (the demo's numbers are not results)."""
    from harness.report.markdown import synthetic_warning
    from harness.store import read_json

    warning = synthetic_warning(read_json(board_json))
    if warning:
        click.echo(f"warning: {warning} (see the banner of {board_json.with_suffix('.md')})", err=True)


@cli.command("fixtures")
@click.argument("out", type=click.Path(path_type=Path))
@click.option("--no-model", is_flag=True, help="Write the dataset snapshots only.")
def fixtures_command(out: Path, no_model: bool) -> None:
    """Write the offline world: synthetic hub snapshots (OUT/hub), local raw-file layouts (OUT/local) and a
    tiny XLM-R (OUT/tiny-xlmr); prints each path written."""
    from harness.offline import write_world

    paths = write_world(out, with_model=not no_model)
    for name, path in paths.items():
        click.echo(f"{name}: {path}")


cli.add_command(score_command)
cli.add_command(export_command)
cli.add_command(evaluate_command)
cli.add_command(status_command)


def main() -> None:
    """Console script: run the CLI; a UserError is one line on stderr and exit code 2."""
    try:
        cli.main(standalone_mode=False)
    except UserError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(exc.exit_code)
    except (click.exceptions.Abort, KeyboardInterrupt) as exc:
        # click turns a KeyboardInterrupt in a command into Abort (from it)
        cause = exc.__cause__ if isinstance(exc, click.exceptions.Abort) else exc
        if isinstance(cause, Interrupted):  # SIGINT or SIGTERM in a training loop, which wrote a checkpoint
            click.echo(f"interrupted: {cause}", err=True)
        elif isinstance(cause, KeyboardInterrupt):
            click.echo("interrupted; finished stages are kept, run again to resume", err=True)
        else:
            click.echo("aborted", err=True)
        sys.exit(130)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
