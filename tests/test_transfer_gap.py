"""The cross-lingual transfer gap (XTREME-R) and the worst language per cell, on hand-made runs directories.

Gap = English task score minus the mean of the other languages' task scores, per seed, then mean/std over
seeds (a language's task score is the mean of the task's score metrics: (EM + F1) / 2 for QA). The numbers are
chosen so that a wrong computation differs: the mean over all languages (English included), F1 or EM alone,
the lowest single (language, seed) value instead of the lowest mean, or a std not taken over per-seed gaps.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
from test_leaderboard_v2 import make_runs

from harness.report.leaderboard import build
from harness.report.markdown import render
from harness.report.schema import validate

ARMS = [{"name": "none", "tasks": []}, {"name": "mnli", "tasks": ["mnli"]}]
LANGS = {"xnli": ["en", "de", "sw"], "xquad": ["en", "es", "de"], "bucc2018": ["de", "fr"]}
# (arm, task) -> seed -> (test score, dev score): only what selection and the main table need
SCORES = {(arm, task): {1: (50.0, dev), 2: (50.0, dev)} for arm, dev in (("none", 40.0), ("mnli", 60.0))
          for task in LANGS}
# (arm, task) -> seed -> language -> metrics, written over make_runs' per-language accuracies
PER_LANGUAGE = {
    ("none", "xnli"): {1: {"en": 80.0, "de": 58.0, "sw": 66.0},   # gap 80 - 62 = 18
                       2: {"en": 84.0, "de": 80.0, "sw": 68.0}},  # gap 84 - 74 = 10; means de 69, sw 67
    ("mnli", "xnli"): {1: {"en": 90.0, "de": 70.0, "sw": 80.0},
                       2: {"en": 90.0, "de": 70.0}},  # sw missing in seed 2: strict nulls
    ("none", "xquad"): {1: {"en": (70.0, 80.0), "es": (64.0, 56.0), "de": (40.0, 60.0)},   # 75 - (60 + 50) / 2 = 20
                        2: {"en": (72.0, 85.0), "es": (66.0, 64.0), "de": (50.0, 70.0)}},  # 78.5 - (65 + 60) / 2 = 16
    ("none", "bucc2018"): {1: {"de": 70.0, "fr": 80.0}, 2: {"de": 74.0, "fr": 60.0}},  # means de 72, fr 70
}
PER_LANGUAGE[("mnli", "xquad")] = PER_LANGUAGE[("none", "xquad")]
PER_LANGUAGE[("mnli", "bucc2018")] = PER_LANGUAGE[("none", "bucc2018")]
METRIC = {"xnli": "accuracy", "bucc2018": "f1"}


def _metrics(task: str, value) -> dict[str, float]:
    if task == "xquad":
        return {"exact_match": value[0], "f1": value[1]}
    return {METRIC[task]: value}


def _runs(root: Path, langs: dict | None = None, per_language: dict | None = None) -> Path:
    langs, per_language = langs or LANGS, per_language or PER_LANGUAGE
    scores = {k: v for k, v in SCORES.items() if k[1] in langs}
    runs = make_runs(root, arms=ARMS, scores=scores, langs=langs)
    for (arm, task), per_seed in per_language.items():
        if task not in langs:
            continue
        for seed, values in per_seed.items():
            path = runs / f"evaluate-{task}-{arm}-s{seed}" / "metrics.json"
            record = json.loads(path.read_text())
            record["splits"]["test"]["languages"] = {lang: _metrics(task, v) for lang, v in values.items()}
            path.write_text(json.dumps(record))
    return runs


@pytest.fixture
def board(tmp_path):
    board = build(_runs(tmp_path / "runs"), references=[])
    validate(board)
    return board


def _cell(board, arm, task):
    return next(r for r in board["arms"] if r["arm"] == arm)["tasks"][task]


def test_gap_is_english_minus_the_mean_of_the_others_per_seed_then_over_seeds(board):
    gap = _cell(board, "none", "xnli")["transfer_gap"]
    assert gap["seeds"] == {"1": pytest.approx(18.0), "2": pytest.approx(10.0)}
    assert gap["score"] == pytest.approx(14.0)  # not 82 - 74.0 = 8 (mean over all languages, English included)
    assert gap["std"] == pytest.approx(math.sqrt(32.0))  # stdev of the per-seed gaps 18 and 10
    assert gap["n_seeds"] == 2 and gap["note"] is None
    # sw has the lowest mean (67 < 69), although de has the lowest single value (58 in seed 1)
    assert _cell(board, "none", "xnli")["worst_language"] == {"language": "sw", "score": pytest.approx(67.0)}


def test_a_qa_language_scores_the_mean_of_exact_match_and_f1(board):
    cell = _cell(board, "none", "xquad")
    gap = cell["transfer_gap"]
    assert gap["seeds"] == {"1": pytest.approx(20.0), "2": pytest.approx(16.0)}
    assert gap["score"] == pytest.approx(18.0)  # F1 alone: 82.5 - 62.5 = 20; EM alone: 71 - 55 = 16
    assert gap["std"] == pytest.approx(math.sqrt(8.0))
    # (EM + F1) / 2: es 62.5, de 55; by F1 alone es (60) would be below de (65)
    assert cell["worst_language"] == {"language": "de", "score": pytest.approx(55.0)}


def test_strict_null_when_a_language_misses_one_seed(board):
    cell = _cell(board, "mnli", "xnli")
    gap = cell["transfer_gap"]
    assert gap["score"] is None and gap["std"] is None and gap["n_seeds"] == 1
    assert gap["seeds"] == {"1": pytest.approx(15.0), "2": None}  # seed 2 has no sw: no gap, not 90 - 70
    assert gap["note"] is None  # defined for the task, only incomplete
    assert cell["worst_language"] is None
    best = board["best_per_target"]
    assert best["selected"]["xnli"] == "mnli" and best["tasks"]["xnli"]["transfer_gap"]["score"] is None
    assert best["tasks"]["xquad"]["transfer_gap"]["score"] == pytest.approx(18.0)


def test_null_for_a_task_without_english(board):
    for arm in ("none", "mnli"):
        gap = _cell(board, arm, "bucc2018")["transfer_gap"]
        assert gap["score"] is None and gap["n_seeds"] == 0 and gap["seeds"] == {"1": None, "2": None}
        assert gap["note"] == "no en score among the evaluated languages"
        # the worst language needs no English: fr's mean 70 < de's 72 (although de is lower in seed 1)
        assert _cell(board, arm, "bucc2018")["worst_language"] == {"language": "fr", "score": pytest.approx(70.0)}
    assert board["best_per_target"]["tasks"]["bucc2018"]["transfer_gap"]["note"] is not None


def test_null_for_a_grid_without_english_or_with_english_only(tmp_path):
    board = build(_runs(tmp_path / "no-en", langs={"xnli": ["de", "sw"]}, per_language={
        ("none", "xnli"): {1: {"de": 58.0, "sw": 66.0}, 2: {"de": 80.0, "sw": 68.0}},
        ("mnli", "xnli"): {1: {"de": 58.0, "sw": 66.0}, 2: {"de": 80.0, "sw": 68.0}}}), references=[])
    gap = _cell(board, "none", "xnli")["transfer_gap"]
    assert gap["score"] is None and gap["note"] == "no en score among the evaluated languages"
    board = build(_runs(tmp_path / "en-only", langs={"xnli": ["en"]}, per_language={
        ("none", "xnli"): {1: {"en": 80.0}, 2: {"en": 84.0}}, ("mnli", "xnli"): {1: {"en": 80.0}, 2: {"en": 84.0}}}),
        references=[])
    gap = _cell(board, "none", "xnli")["transfer_gap"]
    assert gap["score"] is None and gap["note"] == "no language other than en in this grid"


def test_markdown_shows_the_transfer_gap_table(board):
    text = render(board)
    assert "## Transfer gap" in text
    section = text.split("## Transfer gap", 1)[1].split("\n## ", 1)[0]
    assert text.index("## Transfer gap") < text.index("## Δ against `none`")
    assert text.index("| none | 2 |") < text.index("## Transfer gap")  # after the main table
    assert "English minus the mean of the task's other languages" in section and "**lower is better**" in section
    assert "always n/a for bucc2018 (no en score among the evaluated languages)" in section
    assert "| arm | xnli | xquad | bucc2018 |" in section
    assert "| none | 14.0 (sw) | 18.0 (de) | n/a (fr) |" in section
    assert "| mnli | n/a | 18.0 (de) | n/a (fr) |" in section
    assert "| best intermediate per target (selected on dev) | n/a | 18.0 (de) | n/a (fr) |" in section
