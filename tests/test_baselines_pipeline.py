"""Both baseline arms through a short pipeline run on the tiny model, then the leaderboard and paper.yaml."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import TINY_HPARAMS, write_experiment

from tasks.fixtures.facebook_xnli import SIZES as XNLI_MT

ROOT = Path(__file__).resolve().parent.parent


def _body(world) -> str:
    text = world["hub"].parent / "mlm-text"
    return f"""name: baselines
seeds: [1]
arms:
  - none
  - mnli
  - name: mlm
    tasks: [mnli]
    baseline: mlm
    settings: {{dir: {text}, languages: [de, zh], max_sentences: 40, ratio: 0.4}}
  - name: mlm-only
    baseline: mlm
    settings: {{dir: {text}, languages: [en, de], max_sentences: 20}}
  - name: translate-train
    baseline: translate_train
    settings:
      max_examples: 30
      tasks:
        xnli: {{repo: facebook/xnli, config: "{{lang}}", fields: {{text_a: premise, text_b: hypothesis, label: label}},
               languages: [de, ru]}}
targets:
  - {{task: xnli, languages: [en, de]}}
splits: [dev, test]
{TINY_HPARAMS}"""


def _keys(runs: Path, kind: str, arm: str) -> list[str]:
    """Stage directories of one kind used by one arm, from the plan (keys name content, not arms)."""
    record = json.loads((runs / "experiment.json").read_text())
    return [s["key"] for s in record["stages"] if s["kind"] == kind and s["meta"]["arm"] == arm]


def _metrics(runs: Path, kind: str, arm: str) -> tuple[dict, dict]:
    stage = runs / _keys(runs, kind, arm)[0]
    return json.loads((stage / "metrics.json").read_text()), json.loads((stage / "stage.json").read_text())


@pytest.mark.slow
def test_baseline_arms_run_and_report(tmp_path, offline_world, xstilts):
    exp = write_experiment(tmp_path / "exp.yaml", offline_world, _body(offline_world))
    runs, reports = tmp_path / "runs", tmp_path / "reports"
    code, out, err = xstilts("run", exp, "--output", runs)
    assert code == 0, err[-2000:]
    metrics, stage = _metrics(runs, "intermediate", "mlm")
    assert metrics["train"]["sampler"]["weights"] == {"mlm-continuation": pytest.approx(0.4),
                                                      "mnli": pytest.approx(0.6)}
    assert {(d["task"], d["language"]) for d in stage["data"]} >= {("mlm-continuation", "de"),
                                                                  ("mlm-continuation", "zh")}
    metrics, _ = _metrics(runs, "intermediate", "mlm-only")
    assert metrics["train"]["sampler"]["weights"] == {"mlm-continuation": 1.0}
    assert not _keys(runs, "intermediate", "translate-train")
    _, stage = _metrics(runs, "target", "translate-train")
    rows = {(d["language"], d.get("repo")): d["rows"] for d in stage["data"] if d["split"] == "train"}
    assert rows[("de", "facebook/xnli")] == rows[("ru", "facebook/xnli")] == XNLI_MT["train"]
    code, out, err = xstilts("leaderboard", runs, "--out", reports)
    assert code == 0, err
    board = json.loads((reports / "leaderboard.json").read_text())
    assert board["baselines"] == ["none", "mlm", "mlm-only", "translate-train"]
    assert all(r["tasks"]["xnli"]["score"] is not None for r in board["arms"])
    assert (reports / "heatmap.png").stat().st_size > 1000


def test_paper_experiment_validates_with_estimate(xstilts):
    code, out, err = xstilts("validate", ROOT / "experiments" / "paper.yaml")
    assert code == 0, err
    assert "15 arms x 9 targets x 3 seeds" in out
    code, out, err = xstilts("run", ROOT / "experiments" / "paper.yaml", "--dry-run", env={"COLUMNS": "200"})
    assert code == 0, err
    assert "GPU-hours" in out and "intermediate" in out


def test_bad_baseline_settings_are_user_errors(tmp_path, offline_world, xstilts):
    body = "name: bad\narms:\n  - {name: m, baseline: mlm, settings: {languages: [de]}}\ntargets: [xnli]\n"
    code, _, err = xstilts("validate", write_experiment(tmp_path / "bad.yaml", offline_world, body))
    assert code == 2 and "exactly one corpus" in err and "Traceback" not in err
    body = "name: bad\narms:\n  - {name: t, baseline: translate_train, settings: {tasks: {xnlii: {repo: r}}}}\n"
    code, _, err = xstilts("validate", write_experiment(tmp_path / "bad2.yaml", offline_world,
                                                       body + "targets: [xnli]\n"))
    assert code == 2 and "xnlii" in err
