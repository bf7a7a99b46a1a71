"""Robustness reporting (issue #17): per row the worst language of each target, their mean, and the seed spread
(std, range, per-seed values) of each target and of the average; task notes in JSON and Markdown.

Hand-made runs directory: arms none and mnli, targets xnli (en, de, sw) and pawsx (en, de), seeds 1, 2, 3.
The numbers are chosen so that a wrong computation differs: the lowest single (language, seed) value is not in
the language with the lowest mean, and the range of the average (0.5) is not the mean of the tasks' ranges (5.5).
"""

from __future__ import annotations

import dataclasses
import json
import math
from pathlib import Path

import pytest

from harness import registry
from harness.report.leaderboard import build
from harness.report.markdown import render
from harness.report.robustness import seed_range
from harness.report.schema import validate
from harness.store import mark_done, write_json

SEEDS = [1, 2, 3]
ARMS = [{"name": "none", "tasks": []}, {"name": "mnli", "tasks": ["mnli"]}]
LANGS = {"xnli": ["en", "de", "sw"], "pawsx": ["en", "de"]}
# (arm, task) -> seed -> language -> accuracy; a task's score is the mean over its languages
ACCURACY = {
    ("none", "xnli"): {1: {"en": 81.0, "de": 70.0, "sw": 62.0},   # 71
                       2: {"en": 84.0, "de": 72.0, "sw": 66.0},   # 74
                       3: {"en": 78.0, "de": 59.0, "sw": 70.0}},  # 69; means de 67, sw 66 (de has the lowest 59)
    ("none", "pawsx"): {1: {"en": 90.0, "de": 80.0},   # 85
                        2: {"en": 88.0, "de": 76.0},   # 82
                        3: {"en": 92.0, "de": 84.0}},  # 88; means en 90, de 80
    ("mnli", "xnli"): {1: {"en": 85.0, "de": 75.0, "sw": 74.0},   # 78
                       2: {"en": 86.0, "de": 70.0, "sw": 78.0},   # 78
                       3: {"en": 87.0, "de": 80.0, "sw": 70.0}},  # 79; means de 75, sw 74
    ("mnli", "pawsx"): {1: {"en": 90.0, "de": 84.0},  # 87
                        2: {"en": 91.0, "de": 85.0}},  # 88; seed 3 missing: strict nulls
}
DEV = {"none": 50.0, "mnli": 60.0}


def _split(per_lang: dict[str, float]) -> dict:
    score = sum(per_lang.values()) / len(per_lang)
    return {"languages": {lang: {"accuracy": v} for lang, v in per_lang.items()}, "metrics": {"accuracy": score},
            "score": score}


def make_runs(root: Path) -> Path:
    """A runs directory of done evaluate stages for ACCURACY (a missing seed: a planned stage not done)."""
    stages = []
    for (arm, task), per_seed in ACCURACY.items():
        for seed in SEEDS:
            key = f"evaluate-{task}-{arm}-s{seed}"
            stages.append({"key": key, "kind": "evaluate", "upstream": None,
                           "meta": {"arm": arm, "seed": seed, "task": task, "languages": LANGS[task]}})
            if seed in per_seed:
                dev = _split(dict.fromkeys(LANGS[task], DEV[arm]))
                write_json(root / key / "metrics.json", {"splits": {"test": _split(per_seed[seed]), "dev": dev}})
                write_json(root / key / "stage.json", {"environment": {"python": "3"}, "data": []})
                mark_done(root / key)
    experiment = {"name": "robust", "model": "tiny", "seeds": SEEDS, "description": "", "arms": ARMS,
                  "targets": [{"task": t} for t in LANGS]}
    write_json(root / "experiment.json", {"schema_version": 1, "experiment": experiment, "stages": stages,
                                          "experiments_seen": ["robust"]})
    return root


@pytest.fixture
def board(tmp_path):
    board = build(make_runs(tmp_path / "runs"), references=[])
    validate(board)
    return board


def _robustness(board, arm):
    return next(r for r in board["arms"] if r["arm"] == arm)["robustness"]


def test_seed_range_is_strict():
    assert seed_range([2.0, 5.0, 3.0]) == 3.0
    assert seed_range([4.0]) is None and seed_range([]) is None
    assert seed_range([4.0, None, 1.0]) is None


def test_worst_language_per_target_and_their_mean(board):
    rob = _robustness(board, "none")
    # sw's mean 66 is the lowest, although de has the lowest single value (59 in seed 3)
    assert rob["tasks"]["xnli"]["worst_language"] == {"language": "sw", "score": pytest.approx(66.0)}
    assert rob["tasks"]["pawsx"]["worst_language"] == {"language": "de", "score": pytest.approx(80.0)}
    assert rob["worst_language_mean"] == pytest.approx((66.0 + 80.0) / 2)
    cells = next(r for r in board["arms"] if r["arm"] == "none")["tasks"]
    assert rob["tasks"]["xnli"]["worst_language"] == cells["xnli"]["worst_language"]  # the cell's, surfaced


def test_seed_spread_per_target_and_of_the_average(board):
    rob = _robustness(board, "none")
    xnli, pawsx, avg = rob["tasks"]["xnli"]["spread"], rob["tasks"]["pawsx"]["spread"], rob["average"]
    assert xnli["seeds"] == {"1": pytest.approx(71.0), "2": pytest.approx(74.0), "3": pytest.approx(69.0)}
    assert xnli["range"] == pytest.approx(5.0) and xnli["std"] == pytest.approx(math.sqrt(19.0 / 3.0))
    assert pawsx["range"] == pytest.approx(6.0) and pawsx["std"] == pytest.approx(3.0)
    # the average per seed is (71 + 85) / 2, (74 + 82) / 2, (69 + 88) / 2 = 78, 78, 78.5
    assert avg["seeds"] == {"1": pytest.approx(78.0), "2": pytest.approx(78.0), "3": pytest.approx(78.5)}
    assert avg["range"] == pytest.approx(0.5) and avg["std"] == pytest.approx(math.sqrt(1.0 / 12.0))
    row = next(r for r in board["arms"] if r["arm"] == "none")
    assert avg["std"] == pytest.approx(row["average"]["std"])
    assert xnli["std"] == pytest.approx(row["tasks"]["xnli"]["std"])


def test_a_missing_seed_nulls_the_range_the_worst_language_and_the_mean(board):
    rob = _robustness(board, "mnli")
    assert rob["tasks"]["xnli"]["worst_language"] == {"language": "sw", "score": pytest.approx(74.0)}
    assert rob["tasks"]["xnli"]["spread"]["range"] == pytest.approx(1.0)
    pawsx = rob["tasks"]["pawsx"]
    assert pawsx["worst_language"] is None
    assert pawsx["spread"] == {"std": None, "range": None,
                               "seeds": {"1": pytest.approx(87.0), "2": pytest.approx(88.0), "3": None}}
    assert rob["worst_language_mean"] is None  # never the mean of the targets that happen to have one
    assert rob["average"]["range"] is None and rob["average"]["std"] is None
    assert rob["average"]["seeds"]["3"] is None
    best = board["best_per_target"]["robustness"]  # xnli: mnli (best dev); pawsx: mnli's dev incomplete
    assert best["tasks"]["xnli"]["worst_language"]["language"] == "sw" and best["worst_language_mean"] is None


def test_markdown_robustness_section(board):
    text = render(board)
    section = text.split("## Robustness", 1)[1].split("\n## ", 1)[0]
    assert text.index("| none | 3 |") < text.index("## Robustness") < text.index("## Δ against `none`")
    assert "### Transfer gap" in section  # one section: the gap table is part of it
    assert "| arm | worst xnli | worst pawsx | worst mean | avg std | avg range |" in section
    assert "| none | sw 66.0 | de 80.0 | 73.0 | 0.3 | 0.5 |" in section
    assert "| mnli | sw 74.0 | n/a | n/a | n/a | n/a |" in section
    for column in ("- worst X:", "- worst mean:", "- avg std, avg range:"):
        assert column in section


def test_a_task_note_is_in_the_json_and_under_the_tables(tmp_path, monkeypatch):
    real = registry.task
    note = "its test column is the validation split (test labels are withheld)"

    def task(name):
        spec = real(name)
        return dataclasses.replace(spec, note=note) if spec.name == "pawsx" else spec

    runs = make_runs(tmp_path / "runs")
    plain = build(runs, references=[])
    assert plain["tasks"]["pawsx"]["note"] is None and "## Notes" not in render(plain)
    monkeypatch.setattr(registry, "task", task)
    board = build(runs, references=[])
    validate(board)
    assert board["tasks"]["pawsx"]["note"] == note and board["tasks"]["xnli"]["note"] is None
    text = render(board)
    notes = text.split("## Notes", 1)[1].split("\n## ", 1)[0]
    assert notes.strip().splitlines() == [f"- pawsx: {note}"]
    assert text.index("## Δ against `none`") < text.index("## Notes") < text.index("## Per language")


def test_metric_option_fills_cells_with_one_metric_and_drops_suite_scores(tmp_path):
    runs = make_runs(tmp_path / "runs")
    # pawsx seed 1 of arm none also reports f1 in en only: its f1 cell is strict (null unless every language)
    key = "evaluate-pawsx-none-s1"
    metrics = json.loads((runs / key / "metrics.json").read_text())
    metrics["splits"]["test"]["languages"]["en"]["f1"] = 50.0
    write_json(runs / key / "metrics.json", metrics)
    board = build(runs, references=[], metric="accuracy")
    validate(board)
    none = next(r for r in board["arms"] if r["arm"] == "none")
    assert board["metric"] == "accuracy" and board["suites"] == {} and none["suites"] == {}
    assert none["tasks"]["xnli"]["seeds"] == {"1": 71.0, "2": 74.0, "3": 69.0}  # the accuracy mean per seed
    f1 = build(runs, references=[], metric="f1")
    cell = next(r for r in f1["arms"] if r["arm"] == "none")["tasks"]["pawsx"]
    assert cell["seeds"] == {"1": None, "2": None, "3": None} and cell["score"] is None
    assert "Every cell is `f1` (`--metric f1`)" in render(f1)
    assert build(runs, references=[])["metric"] is None
