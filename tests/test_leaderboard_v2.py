"""Leaderboard v2 on hand-made runs directories: aggregation, deltas, strict nulls, schema, references."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from harness.errors import UserError
from harness.report.leaderboard import build
from harness.report.markdown import render
from harness.report.references import Reference
from harness.report.schema import validate
from harness.store import mark_done, write_json

SEEDS = [1, 2]
ARMS = [{"name": "none", "tasks": []}, {"name": "mnli", "tasks": ["mnli"]}, {"name": "qqp", "tasks": ["qqp"]},
        {"name": "mlm", "tasks": ["mnli"], "baseline": "mlm"}]
# (arm, task, seed) -> (test score, dev score); xnli languages en, de; pawsx en only.
SCORES = {
    ("none", "xnli"): {1: (60.0, 50.0), 2: (62.0, 52.0)},
    ("mnli", "xnli"): {1: (70.0, 55.0), 2: (72.0, 57.0)},
    ("qqp", "xnli"): {1: (61.0, 60.0), 2: (61.0, 61.0)},
    ("mlm", "xnli"): {1: (65.0, 50.0), 2: (65.0, 50.0)},
    ("none", "pawsx"): {1: (80.0, 80.0), 2: (80.0, 80.0)},
    ("mnli", "pawsx"): {1: (81.0, 80.0), 2: (79.0, 80.0)},
    ("qqp", "pawsx"): {1: (90.0, 90.0)},  # seed 2 missing: strict nulls
    ("mlm", "pawsx"): {1: (80.0, 80.0), 2: (80.0, 80.0)},
}
LANGS = {"xnli": ["en", "de"], "pawsx": ["en"]}


def _split(score: float, langs: list[str]) -> dict:
    return {"languages": {lang: {"accuracy": score} for lang in langs}, "metrics": {"accuracy": score},
            "score": score}


def make_runs(root: Path, name: str = "grid", arms: list | None = None, scores: dict | None = None,
              langs: dict | None = None) -> Path:
    """A runs directory of done evaluate stages; a dev score of None means the task has no dev split."""
    arms, scores, langs = arms or ARMS, scores or SCORES, langs or LANGS
    stages = []
    for (arm, task), per_seed in scores.items():
        for seed in SEEDS:
            key = f"evaluate-{task}-{arm}-s{seed}"
            stages.append({"key": key, "kind": "evaluate", "upstream": None,
                           "meta": {"arm": arm, "seed": seed, "task": task, "languages": langs[task]}})
            if seed in per_seed:
                test, dev = per_seed[seed]
                splits = {"test": _split(test, langs[task])}
                if dev is not None:
                    splits["dev"] = _split(dev, langs[task])
                write_json(root / key / "metrics.json", {"splits": splits})
                write_json(root / key / "stage.json", {"environment": {"python": "3"}, "data": [
                    {"source": "hf", "repo": "google/xtreme", "config": "XNLI", "revision": "abc"}]})
                mark_done(root / key)
    targets = [{"task": t} for t in dict.fromkeys(t for _, t in scores)]
    experiment = {"name": name, "model": "tiny", "seeds": SEEDS, "description": "",
                  "arms": arms, "targets": targets}
    write_json(root / "experiment.json", {"schema_version": 1, "experiment": experiment, "stages": stages,
                                          "experiments_seen": [name]})
    return root


REFS = [Reference("Ref Model", "xnli", "accuracy", 99.0, "test", "a paper", "f.yaml"),
        Reference("Ref Model", "pawsx", "accuracy", 99.0, "test", "a paper", "f.yaml")]


@pytest.fixture
def board(tmp_path):
    return build(make_runs(tmp_path / "runs"), references=REFS)


def _row(board, arm):
    return next(r for r in board["arms"] if r["arm"] == arm)


def test_mean_std_over_seeds_and_suite_groups(board):
    xnli = _row(board, "mnli")["tasks"]["xnli"]
    assert xnli["score"] == pytest.approx(71.0)
    assert xnli["std"] == pytest.approx(math.sqrt(2.0))
    assert xnli["n_seeds"] == 2
    assert xnli["languages"]["de"] == {"accuracy": pytest.approx(71.0)}
    mnli = _row(board, "mnli")
    assert mnli["average"]["score"] == pytest.approx((71.0 + 80.0) / 2)
    assert mnli["suites"]["xtreme"]["groups"]["classification"]["score"] == pytest.approx(75.5)
    assert mnli["suites"]["xtreme"]["score"]["score"] is None  # seven XTREME tasks are missing: strict


def test_strict_nulls_for_a_missing_seed(board):
    qqp = _row(board, "qqp")
    assert qqp["tasks"]["pawsx"]["score"] is None
    assert qqp["tasks"]["pawsx"]["n_seeds"] == 1
    assert qqp["average"]["score"] is None
    assert qqp["deltas"]["none"]["tasks"]["pawsx"]["delta"] is None
    assert qqp["tasks"]["pawsx"]["languages"]["en"] is None


def test_deltas_against_every_baseline_with_noise_flag(board):
    assert board["baselines"] == ["none", "mlm"]
    mnli = _row(board, "mnli")
    d = mnli["deltas"]["none"]["tasks"]["xnli"]
    assert d["delta"] == pytest.approx(10.0)
    assert d["within_noise"] is False  # 10 points vs a seed spread of sqrt(2)
    assert mnli["deltas"]["none"]["tasks"]["pawsx"] == {"delta": pytest.approx(0.0), "within_noise": True}
    assert mnli["deltas"]["mlm"]["tasks"]["xnli"]["delta"] == pytest.approx(6.0)
    assert "mlm" not in _row(board, "mlm")["deltas"]
    # mlm has zero std on xnli, none has sqrt(2): noise = 2 * sqrt(2/2 + 0) = 2 < 4
    assert _row(board, "mlm")["deltas"]["none"]["tasks"]["xnli"]["within_noise"] is False


def test_best_intermediate_per_target_is_selected_on_dev(board):
    best = board["best_per_target"]
    assert best["label"].endswith("(selected on dev)")
    assert best["selected"]["xnli"] == "qqp"  # best dev (60.5), although mnli has the best test score
    assert best["tasks"]["xnli"]["score"] == pytest.approx(61.0)
    assert best["selected"]["pawsx"] is None  # qqp's dev score is incomplete: no selection
    assert best["average"]["score"] is None



RETRIEVAL_ARMS = [{"name": "none", "tasks": []}, {"name": "mnli", "tasks": ["mnli"]},
                  {"name": "squad", "tasks": ["squad"]}]
RETRIEVAL_SCORES = {  # (arm, task) -> seed -> (test, dev); tatoeba has no dev split
    ("none", "bucc2018"): {1: (50.0, 40.0), 2: (50.0, 40.0)},
    ("mnli", "bucc2018"): {1: (70.0, 60.0), 2: (70.0, 60.0)},
    ("squad", "bucc2018"): {1: (65.0, 80.0), 2: (65.0, 80.0)},
    ("none", "tatoeba"): {1: (30.0, None), 2: (30.0, None)},
    ("mnli", "tatoeba"): {1: (90.0, None), 2: (90.0, None)},
    ("squad", "tatoeba"): {1: (40.0, None), 2: (40.0, None)},
}
RETRIEVAL_LANGS = {"bucc2018": ["de"], "tatoeba": ["de"]}


def test_a_target_without_dev_is_selected_by_its_proxy_never_by_test(tmp_path):
    board = build(make_runs(tmp_path / "runs", arms=RETRIEVAL_ARMS, scores=RETRIEVAL_SCORES,
                            langs=RETRIEVAL_LANGS), references=[])
    validate(board)
    best = board["best_per_target"]
    assert best["selected"] == {"bucc2018": "squad", "tatoeba": "squad"}  # squad has the best BUCC dev F1
    assert best["tasks"]["tatoeba"]["score"] == 40.0  # although mnli's Tatoeba test score is 90
    assert best["selection_rules"]["tatoeba"]["by"] == "bucc2018"
    assert "proxy" in best["selection_rules"]["tatoeba"]["rule"]
    assert best["selection_rules"]["bucc2018"] == {"by": "bucc2018", "rule": "best dev score"}
    assert best["suites"]["xtreme"]["groups"]["retrieval"]["score"] == pytest.approx((65.0 + 40.0) / 2)
    text = render(board)
    assert "tatoeba: squad (by bucc2018 dev" in text


def test_without_its_proxy_in_the_grid_a_dev_less_target_is_not_selected(tmp_path):
    scores = {k: v for k, v in RETRIEVAL_SCORES.items() if k[1] == "tatoeba"}
    board = build(make_runs(tmp_path / "runs", arms=RETRIEVAL_ARMS, scores=scores, langs=RETRIEVAL_LANGS),
                  references=[])
    best = board["best_per_target"]
    assert best["selected"] == {"tatoeba": None} and best["tasks"]["tatoeba"]["score"] is None
    assert best["selection_rules"]["tatoeba"]["by"] is None

def test_references_never_enter_computed_numbers(tmp_path):
    runs = make_runs(tmp_path / "runs")
    with_refs, without = build(runs, references=REFS), build(runs, references=[])
    assert with_refs["arms"] == without["arms"]
    assert with_refs["best_per_target"] == without["best_per_target"]
    assert [r["model"] for r in with_refs["references"]] == ["Ref Model"]
    assert with_refs["references"][0]["tasks"]["xnli"]["score"] == 99.0
    assert all(r["arm"] != "Ref Model" for r in with_refs["arms"])


def test_schema_validates_and_rejects(board):
    validate(board)
    from pydantic import ValidationError

    broken = json.loads(json.dumps(board))
    broken["arms"][0]["tasks"]["xnli"]["score"] = "high"
    with pytest.raises(ValidationError):
        validate(broken)
    assert board["environment"]["data_revisions"] == {"google/xtreme:XNLI": "abc"}


def test_shipped_schema_is_generated_from_the_models():
    from harness.report.schema import SCHEMA_FILE, generate

    assert SCHEMA_FILE.read_text(encoding="utf-8") == generate(), "stale schema: run `make schema`"


def test_markdown_has_deltas_details_and_references(board):
    text = render(board, "heatmap.png")
    assert "| mnli | 2 | 71.0 ± 1.4 |" in text
    assert "## Δ against `mlm`" in text
    assert "<details><summary>xnli per language" in text
    assert "![intermediate x target deltas against none](heatmap.png)" in text
    assert "| Ref Model | test | 99.0 | 99.0 |" in text
    assert "selected on dev" in text


def test_reports_and_mixed_experiments(tmp_path, xstilts):
    runs = make_runs(tmp_path / "runs")
    code, out, err = xstilts("leaderboard", runs, "--out", tmp_path / "reports")
    assert code == 0, err
    assert {p.name for p in (tmp_path / "reports").iterdir()} >= {"leaderboard.md", "leaderboard.json",
                                                                   "heatmap.png"}
    record = json.loads((runs / "experiment.json").read_text())
    record["experiments_seen"] = ["other", "grid"]
    (runs / "experiment.json").write_text(json.dumps(record))
    code, out, err = xstilts("leaderboard", runs, "--out", tmp_path / "reports")
    assert code == 2 and "several experiments" in err and "Traceback" not in err
    assert xstilts("leaderboard", runs, "--out", tmp_path / "reports", "--allow-mixed")[0] == 0


def test_record_experiment_tracks_mixes(tmp_path):
    from harness.execute import record_experiment

    record_experiment(tmp_path, {"experiment": {"name": "a"}, "stages": []})
    with pytest.raises(UserError):
        record_experiment(tmp_path, {"experiment": {"name": "b"}, "stages": []})
    record_experiment(tmp_path, {"experiment": {"name": "b"}, "stages": []}, allow_mixed=True)
    assert json.loads((tmp_path / "experiment.json").read_text())["experiments_seen"] == ["a", "b"]


def test_require_complete_names_the_rows_without_a_suite_score(tmp_path):
    from harness.report.write import check_complete

    def row(name, score):
        return {"arm": name, "suites": {"s": {"score": {"score": score}}}}

    board = {"suites": {"s": {"tasks": ["a", "b"]}}, "tasks": {"a": {}, "b": {}}, "best_per_target": None,
             "arms": [row("none", 50.0), row("mnli", None)]}
    with pytest.raises(UserError, match=r"1 row\(s\) lack a suite score: mnli \(s\)"):
        check_complete(board, tmp_path / "leaderboard.md")
    board["arms"][1] = row("mnli", 51.0)
    check_complete(board, tmp_path / "leaderboard.md")
    board["tasks"] = {"a": {}}
    with pytest.raises(UserError, match="no suite has all its tasks"):
        check_complete(board, tmp_path / "leaderboard.md")
