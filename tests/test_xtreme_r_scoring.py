"""XTREME-R scoring: mAP@20 metrics by hand, the ranking submission format, the suite and its aggregation,
and `xstilts score --suite xtreme-r` against google-research/xtreme's evaluate.py on generated files."""

from __future__ import annotations

import dataclasses
import json
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from harness import registry
from harness.errors import UserError
from harness.kinds import get_kind
from harness.metrics.ranking import average_precision_at_k, lareqa_map20, mean_average_precision, mewslix_map20
from harness.scoring import aggregate_suite, score_submission
from tasks.xtreme_r.suite import SUITE

sys.path.insert(0, str(Path(__file__).parent))
from xtreme_r_mock import LANGS, write_mock  # noqa: E402

# ---------------------------------------------------------------- metrics, by hand


def test_average_precision_single_target_is_reciprocal_rank():
    assert average_precision_at_k({"a"}, ["a", "b"]) == 1.0
    assert average_precision_at_k({"a"}, ["x", "y", "a"]) == pytest.approx(1 / 3)
    assert average_precision_at_k({"a"}, []) == 0.0


def test_average_precision_only_first_k_count_and_fewer_are_fine():
    ranked = [f"x{i}" for i in range(20)] + ["a"]
    assert average_precision_at_k({"a"}, ranked) == 0.0  # rank 21: outside the top 20
    assert average_precision_at_k({"a"}, ranked[19:]) == pytest.approx(1 / 2)  # two predictions only
    assert average_precision_at_k({"a"}, ranked, k=21) == pytest.approx(1 / 21)


def test_average_precision_several_targets():
    # hits at ranks 1 and 3 of targets {a, b, c}: (1/1 + 2/3) / min(3, 20)
    assert average_precision_at_k({"a", "b", "c"}, ["a", "x", "b"]) == pytest.approx((1 + 2 / 3) / 3)
    # divisor is min(#targets, k): 3 targets, k = 2, hits at 1 and 2 -> (1 + 1) / 2
    assert average_precision_at_k({"a", "b", "c"}, ["a", "b", "c"], k=2) == 1.0


def test_duplicates_count_once_but_take_their_rank_as_the_official_scorers_do():
    # official: the repeated "x" occupies rank 2, so "a" is found at rank 3
    assert average_precision_at_k({"a"}, ["x", "x", "a"]) == pytest.approx(1 / 3)
    # a repeated hit is counted once: hits at ranks 1 ("a") and 3 ("b"); the second "a" scores nothing
    assert average_precision_at_k({"a", "b"}, ["a", "a", "b"]) == pytest.approx((1 + 2 / 3) / 2)
    # the sensible alternative beside it: drop repeats before cutting at k
    assert average_precision_at_k({"a"}, ["x", "x", "a"], dedup=True) == pytest.approx(1 / 2)
    assert average_precision_at_k({"a", "b"}, ["a", "a", "b"], dedup=True) == 1.0


def test_mean_counts_missing_queries_as_zero_and_ignores_extra_ones():
    gold = {"q1": {"a"}, "q2": {"b"}}
    assert mean_average_precision(gold, {"q1": ["a"], "zz": ["b"]}) == pytest.approx(0.5)
    assert mean_average_precision({}, {"q1": ["a"]}) == 0.0


def test_mewslix_map20_uses_the_first_gold_id_stripped():
    gold = {"m1": [" Q1 ", "Q2"], "m2": ["Q3"], "m3": ["Q4"]}
    pred = {"m1": ["Q2", "Q1"], "m2": ["Q9", "Q9", "Q8", "Q3"]}  # m3 missing
    # m1: Q1 at rank 2 (Q2 is not its gold: only the first id counts) -> 1/2; m2: rank 4 -> 1/4; m3: 0
    assert mewslix_map20(gold, pred, "en") == {"map@20": pytest.approx(100 * (1 / 2 + 1 / 4) / 3)}
    # ties: a submission is a ranked list; the order it gives is the ranking
    assert mewslix_map20({"m": ["Q1"]}, {"m": ["Q1", "Q2"]}) == {"map@20": 100.0}


def test_lareqa_map20_over_all_targets():
    gold = {"q1": ["s1", "s2"], "q2": ["s3"]}
    pred = {"q1": ["s2", "x", "s1"], "q2": ["x", "s3"]}
    # q1: (1/1 + 2/3) / 2; q2: 1/2
    assert lareqa_map20(gold, pred) == {"map@20": pytest.approx(100 * ((1 + 2 / 3) / 2 + 1 / 2) / 2)}


# ---------------------------------------------------------------- the submission format


def _json(path: Path, value) -> Path:
    path.write_text(json.dumps(value, indent=1), encoding="utf-8")
    return path


def test_ranking_files_round_trip_and_bad_files_name_file_and_line(tmp_path):
    kind, spec = get_kind("ranked_retrieval"), registry.task("mewslix")
    out = tmp_path / "p.json"
    kind.write_predictions(out, {"b": ["Q2"], "a": ["Q1", "Q3"]})
    assert kind.read_submission(out, spec).items == {"a": ["Q1", "Q3"], "b": ["Q2"]}
    with pytest.raises(UserError, match=r"g\.json:1: expected one JSON object"):
        kind.read_gold(_json(tmp_path / "g.json", [["Q1"]]), spec)
    with pytest.raises(UserError, match=r"g\.json:5: query 'b' has no gold ids"):
        kind.read_gold(_json(tmp_path / "g.json", {"a": ["Q1"], "b": []}), spec)
    with pytest.raises(UserError, match=r"p\.json:2: query 'a': expected a list of ranked candidate ids"):
        kind.read_submission(_json(out, {"a": "Q1"}), spec)
    gold = kind.read_gold(_json(tmp_path / "g.json", {"a": ["Q1"]}), spec)
    with pytest.raises(UserError, match="no query id of this file is in"):
        kind.check_submission(spec, kind.read_submission(_json(out, {"zz": ["Q1"]}), spec), gold)


# ---------------------------------------------------------------- the suite


def test_suite_is_registered_under_both_spellings_and_task_suites_resolve():
    assert registry.get("suite", "xtreme-r") is SUITE
    assert registry.get("suite", "xtreme_r") is SUITE
    names = {n for n in registry.names("suite")} | {a for n in registry.names("suite")
                                                    for a in registry.get("suite", n).aliases}
    for spec in registry.all_tasks():
        assert set(spec.suites) <= names, spec.name


def test_aggregation_headline_category_mean_and_lareqa_apart():
    scores = {t: 60.0 for t in SUITE.tasks} | {"xnli": 80.0}
    out = aggregate_suite(SUITE, scores)
    assert out["score"] == pytest.approx((8 * 60 + 80) / 9)
    assert out["groups"]["classification"] == pytest.approx(70.0)
    assert out["scores"]["category_mean"] == pytest.approx((70 + 60 + 60 + 60 + 60) / 5)
    assert out["scores"]["score_with_lareqa"] is None  # LAReQA missing: null, never a mean of what exists
    out = aggregate_suite(SUITE, scores | {"lareqa": 30.0})
    assert out["scores"]["score_with_lareqa"] == pytest.approx((8 * 60 + 80 + 30) / 10)
    assert out["score"] == pytest.approx((8 * 60 + 80) / 9)  # the headline ignores LAReQA
    out = aggregate_suite(SUITE, {t: 50.0 for t in SUITE.tasks if t != "mewslix"})
    assert out["score"] is None and out["groups"]["retrieval"] is None and out["scores"]["category_mean"] is None
    assert out["groups"]["qa"] == 50.0


# ---------------------------------------------------------------- against evaluate.py

# google-research/xtreme evaluate.py (commit 838c13b), run once in a scratch folder on the files
# write_mock() generates (seed 7), with seqeval 0.0.12:
# - `--xtreme_version xtreme-r` as is: per-task avg_metric and group scores below, no all_task (LAReQA has
#   no languages); with a `lareqa` folder present it stops with KeyError 'avg_metric'.
# - the same with 'lareqa' deleted from XTREME_R_TASK2LANGS: all_task = 65.27103294964218.
EVALUATE_PY_TASKS = {
    "xnli": 78.33333333333333, "panx": 77.98254261078583, "udpos": 78.47193406681562, "tatoeba": 62.5,
    "xcopa": 82.72727272727273, "mewslix": 9.54855243291072, "xquad": 72.5, "mlqa": 51.85714285714286,
    "tydiqa": 73.51851851851853,
}
EVALUATE_PY_GROUPS = {
    "classification": 80.53030303030303, "tagging": 78.22723833880073, "qa": 65.95855379188713,
    "retrieval": 36.02427621645536, "multi_choice": 82.72727272727273,
}
EVALUATE_PY_ALL_TASK_WITHOUT_LAREQA = 65.27103294964218
# XTREME's utils_lareqa.average_precision_at_k(k=20) on the generated lareqa files, mean over languages.
LAREQA_REFERENCE = 12.367821251276546
FOLDER = {"udpos_xr": "udpos", "panx_xr": "panx", "xquad_xr": "xquad", "tatoeba_xr": "tatoeba"}


def _specs() -> dict:
    """Registered specs of the suite; an `_xr` variant not installed yet is its XTREME task with XTREME-R's
    languages (scoring needs only name, kind, metric, languages and folder)."""
    specs = {}
    for name in SUITE.all_tasks:
        if registry.entry_point("task", name) is not None:
            specs[name] = registry.task(name)
        elif name in FOLDER:
            base = registry.task(FOLDER[name])
            specs[name] = dataclasses.replace(base, name=name, languages=tuple(LANGS[FOLDER[name]].split(",")))
    return specs


def _folder_of(name: str) -> str:
    return FOLDER.get(name, name)


def test_score_matches_evaluate_py_on_generated_files(tmp_path):
    pred, gold = tmp_path / "pred", tmp_path / "gold"
    write_mock(pred, gold)
    specs = _specs()
    result = score_submission(pred, gold, SUITE, specs)
    for name, task in result["tasks"].items():
        if name == "lareqa":
            assert task["score"] == pytest.approx(LAREQA_REFERENCE, abs=1e-9)
        else:
            assert task["score"] == pytest.approx(EVALUATE_PY_TASKS[_folder_of(name)], abs=1e-9), name
    assert set(result["tasks"]) >= set(SUITE.all_tasks) - {"xcopa"}
    if "xcopa" in result["tasks"]:  # once the XCOPA task is installed, the whole suite forms
        assert result["score"] == pytest.approx(EVALUATE_PY_ALL_TASK_WITHOUT_LAREQA, abs=1e-9)
        assert result["groups"] == pytest.approx(EVALUATE_PY_GROUPS, abs=1e-9)
    else:
        assert result["score"] is None
        for group in ("tagging", "qa", "retrieval"):
            assert result["groups"][group] == pytest.approx(EVALUATE_PY_GROUPS[group], abs=1e-9)
    # the aggregation on the full set of task scores, XCOPA as evaluate.py scored it
    scores = {name: task["score"] for name, task in result["tasks"].items()}
    scores.setdefault("xcopa", EVALUATE_PY_TASKS["xcopa"])
    totals = aggregate_suite(SUITE, scores)
    assert totals["score"] == pytest.approx(EVALUATE_PY_ALL_TASK_WITHOUT_LAREQA, abs=1e-9)
    assert totals["groups"] == pytest.approx(EVALUATE_PY_GROUPS, abs=1e-9)
    assert totals["scores"]["category_mean"] == pytest.approx(sum(EVALUATE_PY_GROUPS.values()) / 5, abs=1e-9)
    assert totals["scores"]["score_with_lareqa"] == pytest.approx(
        (9 * EVALUATE_PY_ALL_TASK_WITHOUT_LAREQA + LAREQA_REFERENCE) / 10, abs=1e-9)


def test_cli_score_writes_labelled_json(tmp_path):
    from harness.cli.main import cli

    pred, gold = tmp_path / "pred", tmp_path / "gold"
    write_mock(pred, gold)
    for root in (pred, gold):  # mewslix alone, as evaluate.py's own mock data
        for folder in LANGS:
            if folder != "mewslix":
                for f in (root / folder).iterdir():
                    f.unlink()
                (root / folder).rmdir()
    out = tmp_path / "scores.json"
    res = CliRunner().invoke(cli, ["score", str(pred), str(gold), "--suite", "xtreme_r", "--output-json", str(out)])
    assert res.exit_code == 0, res.output
    data = json.loads(out.read_text())
    assert data["suite"] == "xtreme-r"
    assert data["tasks"]["mewslix"]["score"] == pytest.approx(EVALUATE_PY_TASKS["mewslix"], abs=1e-9)
    assert data["score"] is None and data["category_mean"] is None and data["score_with_lareqa"] is None
    assert set(data["labels"]) == {"score", "category_mean", "score_with_lareqa"}
    assert "LAReQA" in data["labels"]["score_with_lareqa"]


def test_leaderboard_rows_carry_the_labelled_suite_scores():
    from harness.report.aggregate import row_aggregates

    per_seed = {"1": {t: 60.0 for t in SUITE.all_tasks}, "2": {t: 70.0 for t in SUITE.all_tasks}}
    out = row_aggregates(per_seed, list(SUITE.all_tasks), [SUITE])["suites"]["xtreme-r"]
    assert out.score.score == pytest.approx(65.0)
    assert set(out.scores) == {"category_mean", "score_with_lareqa"}
    assert out.scores["category_mean"].score == pytest.approx(65.0)
    per_seed["2"].pop("lareqa")  # one seed lacks LAReQA: the score with it is null, the headline is not
    out = row_aggregates(per_seed, list(SUITE.tasks), [SUITE])["suites"]["xtreme-r"]
    assert out.scores["score_with_lareqa"].score is None and out.score.score == pytest.approx(65.0)
