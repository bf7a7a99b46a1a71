"""`xstilts export-submission RUNS_DIR --out DIR`: a finished experiment's test predictions, in the
XTREME leaderboard layout ({folder}/test-{lang}.{ext}), ready to submit or to rescore with `xstilts score`.

One arm and one seed make a submission. Default arm: the first arm of the experiment that is not the
plain fine-tuning arm `none` (the intermediate-task arm is what X-STILTs submits), else `none`;
default seed: the first seed of the experiment.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import click

from harness.errors import UserError, did_you_mean
from harness.layout import EXPERIMENT_JSON, PREDICTIONS_DIR, prediction_file
from harness.store import is_done, read_json

TEST_SPLIT = "test"


def default_arm(arms: list[str]) -> str:
    """The first arm that is not `none`, else `none`."""
    from harness.experiment import NONE_ARM  # here: pydantic is slow to import, `xstilts --help` stays fast

    return next((a for a in arms if a != NONE_ARM), arms[0])


def _record(runs_dir: Path) -> dict[str, Any]:
    path = runs_dir / EXPERIMENT_JSON
    if not path.is_file():
        raise UserError(f"{path}: missing; pass the runs directory `xstilts run` wrote (it holds experiment.json)")
    return read_json(path)


def export_submission(runs_dir: Path, out: Path, arm: str | None = None,
                      seed: int | None = None) -> dict[str, list[str]]:
    """Copy the test predictions of (arm, seed) into `out`; returns {task: [languages written]}."""
    from harness import registry

    record = _record(runs_dir)
    experiment = record["experiment"]
    arms = [a["name"] for a in experiment["arms"]]
    seeds = list(experiment["seeds"])
    arm = arm or default_arm(arms)
    if arm not in arms:
        raise UserError(f"--arm {arm!r} is not an arm of experiment '{experiment['name']}'"
                        f"{did_you_mean(arm, arms)}")
    seed = seeds[0] if seed is None else seed
    if seed not in seeds:
        raise UserError(f"--seed {seed} is not a seed of experiment '{experiment['name']}' (seeds: {seeds})")
    stages = [s for s in record["stages"] if s["kind"] == "evaluate"
              and s["meta"].get("arm") == arm and s["meta"].get("seed") == seed]
    written: dict[str, list[str]] = {}
    for stage in stages:
        spec = registry.task(stage["meta"]["task"])
        if spec.submission is None:
            continue
        written[spec.name] = _copy_task(runs_dir / stage["key"], spec, stage["meta"]["languages"], out)
    if not written:
        raise UserError(f"experiment '{experiment['name']}' has no evaluated task with a submission layout "
                        f"for arm '{arm}', seed {seed}")
    return written


def _copy_task(stage_dir: Path, spec: Any, languages: list[str], out: Path) -> list[str]:
    if not is_done(stage_dir):
        raise UserError(f"{stage_dir}: the evaluate stage of task '{spec.name}' is not done; run the "
                        "experiment to the end first")
    predictions = stage_dir / PREDICTIONS_DIR
    names = {lang: prediction_file(TEST_SPLIT, lang, spec.submission.ext) for lang in languages}
    missing = [lang for lang in languages if not (predictions / names[lang]).is_file()]
    if missing:
        raise UserError(f"{predictions}: no {TEST_SPLIT} predictions of task '{spec.name}' for "
                        f"{', '.join(missing)}; include 'test' in the experiment's `splits` and run it again")
    folder = out / spec.submission.folder
    folder.mkdir(parents=True, exist_ok=True)
    for name in names.values():
        shutil.copyfile(predictions / name, folder / name)  # the submission layout names files the same way
    return list(languages)


@click.command("export-submission")
@click.argument("runs_dir", type=click.Path(file_okay=False, path_type=Path))
@click.option("--out", "out_dir", type=click.Path(file_okay=False, path_type=Path), required=True,
              help="Folder to write the submission layout into.")
@click.option("--arm", help="Arm to export (default: the first arm that is not `none`, else `none`).")
@click.option("--seed", type=int, help="Seed to export (default: the experiment's first seed).")
def export_command(runs_dir: Path, out_dir: Path, arm: str | None, seed: int | None) -> None:
    """Write a finished experiment's test predictions in the XTREME submission layout."""
    from harness import registry

    written = export_submission(runs_dir, out_dir, arm, seed)
    for task, languages in written.items():
        click.echo(f"{task}: {len(languages)} languages ({' '.join(languages)})")
    partial = [t for t, langs in written.items() if len(langs) < len(registry.task(t).languages)]
    if partial:
        click.echo(f"note: {', '.join(partial)} cover only some of their official languages; the leaderboard "
                   "and `xstilts score` need all of them")
    click.echo(f"wrote {out_dir}")
