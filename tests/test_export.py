"""A short tagging + QA pipeline run, exported in the XTREME layout and rescored by the pure scorer."""

from __future__ import annotations

import json
import shutil
from dataclasses import replace
from pathlib import Path

import pytest
from conftest import CLI, TINY_HPARAMS, write_experiment

from harness import registry
from harness.cli.export import default_arm
from harness.data.load import load_split
from harness.data.settings import DataSettings
from harness.kinds import get_kind
from harness.scoring import score_submission
from harness.store import read_json

LANGS = {"panx": ["en", "ar"], "xquad": ["en", "zh"]}


@pytest.fixture(scope="module")
def runs(offline_world, tmp_path_factory):
    import subprocess

    root = tmp_path_factory.mktemp("export")
    body = "name: export-test\narms: [none]\ntargets:\n" + "".join(
        f"  - {{task: {task}, languages: [{', '.join(langs)}]}}\n" for task, langs in LANGS.items()
    ) + TINY_HPARAMS
    experiment = write_experiment(root / "exp.yaml", offline_world, body)
    proc = subprocess.run([*CLI, "run",
                           str(experiment), "--output", str(root / "runs")], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return root / "runs"


def _evaluate_metrics(runs_dir: Path) -> dict[str, dict]:
    record = read_json(runs_dir / "experiment.json")
    return {s["meta"]["task"]: read_json(runs_dir / s["key"] / "metrics.json")
            for s in record["stages"] if s["kind"] == "evaluate"}


def _write_gold(world, out: Path) -> None:
    """Gold files in the submission layout, from the fixture snapshot."""
    settings = DataSettings(snapshot_root=str(world["hub"]))
    for task, langs in LANGS.items():
        spec = registry.task(task)
        folder = out / spec.submission.folder
        folder.mkdir(parents=True)
        for lang in langs:
            columns, _ = load_split(spec, "test", lang, settings)
            path = folder / f"test-{lang}.{spec.submission.ext}"
            if spec.kind == "tagging":
                get_kind("tagging").write_predictions(path, columns["tags"])
            else:
                qas = [{"id": qid, "answers": [{"text": t} for t in answers]}
                       for qid, answers in get_kind("span_qa").gold(columns, spec).items()]
                path.write_text(json.dumps({"data": [{"paragraphs": [{"qas": qas}]}]}), encoding="utf-8")


def test_pipeline_writes_metrics_and_predictions(runs):
    metrics = _evaluate_metrics(runs)
    assert set(metrics) == set(LANGS)
    for task, langs in LANGS.items():
        test = metrics[task]["splits"]["test"]
        assert set(test["languages"]) == set(langs) and test["score"] is not None
    record = read_json(runs / "experiment.json")
    for stage in record["stages"]:
        if stage["kind"] == "evaluate":
            ext = registry.task(stage["meta"]["task"]).submission.ext
            for lang in LANGS[stage["meta"]["task"]]:
                assert (runs / stage["key"] / "predictions" / f"test-{lang}.{ext}").is_file()


def test_export_rescored_equals_evaluate_metrics(runs, offline_world, tmp_path, xstilts):
    code, out, err = xstilts("export-submission", runs, "--out", tmp_path / "sub")
    assert code == 0, err
    assert sorted(p.name for p in (tmp_path / "sub").iterdir()) == ["panx", "xquad"]
    _write_gold(offline_world, tmp_path / "gold")
    specs = {t: replace(registry.task(t), languages=tuple(langs)) for t, langs in LANGS.items()}
    result = score_submission(tmp_path / "sub", tmp_path / "gold", "xtreme", specs)
    metrics = _evaluate_metrics(runs)
    for task in LANGS:
        expected = metrics[task]["splits"]["test"]["languages"]
        got = result["tasks"][task]["languages"]
        assert got.keys() == expected.keys()
        for lang in got:
            for name, value in expected[lang].items():
                assert got[lang][name] == pytest.approx(value, abs=1e-9), (task, lang, name)


def test_export_errors_are_one_line(runs, tmp_path, xstilts):
    code, _, err = xstilts("export-submission", runs, "--out", tmp_path / "x", "--arm", "mnli")
    assert code == 2 and "not an arm" in err
    broken = tmp_path / "runs"
    shutil.copytree(runs, broken)
    for path in broken.glob("evaluate-xquad-*/predictions/test-zh.json"):
        path.unlink()
    code, _, err = xstilts("export-submission", broken, "--out", tmp_path / "y")
    assert code == 2 and "no test predictions of task 'xquad'" in err and "Traceback" not in err


def test_default_arm_and_a_light_cli():
    """Run-directory names come from harness.layout, which imports nothing: the CLI loads no pydantic or torch."""
    import subprocess
    import sys

    assert default_arm(["none", "mnli", "squad"]) == "mnli"
    assert default_arm(["none"]) == "none"
    code = ("import sys, harness.cli.main; heavy = {'pydantic', 'torch', 'harness.experiment'} & set(sys.modules); "
            "assert not heavy, heavy")
    subprocess.run([sys.executable, "-c", code], check=True)
