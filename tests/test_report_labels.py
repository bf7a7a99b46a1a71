"""Leaderboard labels say what each number is (issue #14 items 5 and 6): a banner when the data or the model
is a generated fixture, the languages behind published rows, n, the QA score, avg (grid), n/a, stage counts."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from test_leaderboard_v2 import REFS, RETRIEVAL_ARMS, RETRIEVAL_LANGS, RETRIEVAL_SCORES, make_runs
from test_row_counts import _settings, _snapshot, _task

from harness.data.load import load_split
from harness.report.leaderboard import build
from harness.report.markdown import render
from harness.report.schema import validate
from harness.store import mark_done, write_json

BANNER = "> **Synthetic smoke test, not results"


def _set_model(runs: Path, model: str) -> None:
    record = json.loads((runs / "experiment.json").read_text())
    record["experiment"]["model"] = model
    (runs / "experiment.json").write_text(json.dumps(record))


def _mark_data(runs: Path, **extra) -> None:
    """Every stage's provenance as a load of a snapshot, with `extra` keys (e.g. synthetic=True)."""
    for stage_json in runs.glob("*/stage.json"):
        record = json.loads(stage_json.read_text())
        record["data"] = [{**d, "snapshot": str(runs.parent / "hub" / "google" / "xtreme"), **extra}
                          for d in record["data"]]
        stage_json.write_text(json.dumps(record))


def _real_model(path: Path) -> Path:
    write_json(path / "config.json", {"model_type": "xlm-roberta", "hidden_size": 1024})
    return path


# 5. synthetic data and model


def test_a_snapshot_load_records_whether_its_data_is_synthetic(tmp_path):
    _snapshot(tmp_path, synthetic=True)
    assert load_split(_task(), "dev", "en", _settings(tmp_path))[1]["synthetic"] is True
    _snapshot(tmp_path / "real", rows=5, synthetic=False)
    assert load_split(_task(), "dev", "en", _settings(tmp_path / "real"))[1]["synthetic"] is False


def test_the_tiny_model_is_marked_as_a_fixture(tmp_path):
    from harness.offline import FIXTURE_FILE, FIXTURE_KEY, TextGen, build_tiny_model, is_fixture_model

    gen = TextGen("en")
    model = build_tiny_model(tmp_path / "tiny", [gen.sentence() for _ in range(50)], vocab_size=120,
                             hidden_size=16, layers=1, heads=2)
    assert is_fixture_model(model) and (model / FIXTURE_FILE).is_file()
    assert json.loads((model / "config.json").read_text())[FIXTURE_KEY] is True  # survives save_pretrained
    (model / FIXTURE_FILE).unlink()
    assert is_fixture_model(model)  # an encoder fine-tuned from it keeps the config key
    assert not is_fixture_model(_real_model(tmp_path / "real"))
    assert not is_fixture_model(tmp_path / "xlm-roberta-large")  # a hub id: no directory here


def test_fixture_data_and_model_open_the_report_with_a_banner(tmp_path):
    from harness.offline import FIXTURE_FILE

    runs = make_runs(tmp_path / "runs")
    _mark_data(runs, synthetic=True)
    model = tmp_path / "tiny-xlmr"
    write_json(model / FIXTURE_FILE, {"xstilts_fixture": True})
    _set_model(runs, str(model))
    board = build(runs, references=REFS)
    validate(board)
    assert board["synthetic"]["data"] is True and board["synthetic"]["model"] is True
    assert any(w.startswith("data: ") for w in board["synthetic"]["why"])
    assert any(w.startswith(f"model: {model}") for w in board["synthetic"]["why"])
    lines = render(board).splitlines()
    assert lines[0] == "# Leaderboard: grid" and lines[2].startswith(BANNER)
    assert "the data is generated" in lines[2] and "the model is a tiny randomly initialised fixture" in lines[2]


def test_the_banner_names_only_what_is_synthetic(tmp_path):
    runs = make_runs(tmp_path / "runs")
    _mark_data(runs, synthetic=True)
    _set_model(runs, str(_real_model(tmp_path / "xlmr-large")))
    board = build(runs, references=[])
    assert (board["synthetic"]["data"], board["synthetic"]["model"]) == (True, False)
    text = render(board)
    assert BANNER in text and "the data is generated" in text and "the model is a tiny" not in text


def test_a_model_directory_elsewhere_is_judged_by_the_encoders_in_the_runs_directory(tmp_path):
    runs = make_runs(tmp_path / "runs")  # model "tiny": no such directory here
    key = json.loads((runs / "experiment.json").read_text())["stages"][0]["key"]
    write_json(runs / key / "model" / "encoder" / "config.json", {"xstilts_fixture": True})
    board = build(runs, references=[])
    assert (board["synthetic"]["data"], board["synthetic"]["model"]) == (False, True)
    assert BANNER in render(board)


def test_a_record_from_before_the_synthetic_key_is_judged_by_its_snapshot(tmp_path):
    runs = make_runs(tmp_path / "runs")
    _snapshot(tmp_path, synthetic=True)  # tmp_path/hub/org/pairs
    for stage_json in runs.glob("*/stage.json"):
        record = json.loads(stage_json.read_text())
        record["data"] = [{"source": "concat", "parts": [{**d, "snapshot": str(tmp_path / "hub" / "org" / "pairs")}
                                                         for d in record["data"]]}]
        stage_json.write_text(json.dumps(record))
    assert build(runs, references=[])["synthetic"]["data"] is True


def test_real_data_and_model_never_get_the_banner(tmp_path):
    runs = make_runs(tmp_path / "runs")
    _snapshot(tmp_path, synthetic=False)
    _mark_data(runs, synthetic=False)
    _set_model(runs, str(_real_model(tmp_path / "xlmr-large")))
    board = build(runs, references=REFS)
    validate(board)
    assert board["synthetic"] == {"data": False, "model": False, "why": []}
    assert "Synthetic" not in render(board)
    _set_model(runs, "FacebookAI/xlm-roberta-large")  # a hub id
    assert build(runs, references=[])["synthetic"]["model"] is False


def test_reference_rows_name_the_languages_they_average(tmp_path):
    from harness import registry

    board = build(make_runs(tmp_path / "runs"), references=REFS)
    ref = board["references"][0]["tasks"]
    assert ref["xnli"]["languages"] == list(registry.task("xnli").languages)
    assert len(ref["pawsx"]["languages"]) == 7
    text = render(board)
    assert "a published score averages its task's full official language list" in text
    assert "xnli 2 of 15 (en, de)" in text and "pawsx 1 of 7 (en)" in text


# 6. labels


def _n(text: str, label: str) -> str:
    row = next(line for line in text.splitlines() if line.startswith(f"| {label} | "))
    return row.split(" | ")[1]


def test_n_counts_the_seeds_behind_the_numbers_shown(tmp_path):
    board = build(make_runs(tmp_path / "runs"), references=[])
    text = render(board)
    assert board["best_per_target"]["tasks"]["xnli"]["score"] is not None  # pawsx is not selected: n/a
    assert _n(text, "best intermediate per target (selected on dev)") == "2"
    assert "n = seeds behind the numbers shown in the row (split `test`)" in text


def test_n_under_split_dev_counts_dev_seeds(tmp_path):
    runs = make_runs(tmp_path / "runs", arms=RETRIEVAL_ARMS, scores=RETRIEVAL_SCORES, langs=RETRIEVAL_LANGS)
    text = render(build(runs, split="dev", references=[]))  # tatoeba has no dev split: n/a, not n = 0
    for arm in ("none", "mnli", "squad", "best intermediate per target (selected on dev)"):
        assert _n(text, arm) == "2", arm
    assert "(split `dev`)" in text


def test_the_qa_score_is_labelled_as_the_mean_of_em_and_f1(tmp_path):
    scores = {("none", "xquad"): {1: (50.0, 40.0), 2: (50.0, 40.0)}}
    board = build(make_runs(tmp_path / "runs", arms=[{"name": "none", "tasks": []}], scores=scores,
                            langs={"xquad": ["en"]}), references=[])
    text = render(board)
    assert "score = (exact_match + f1) / 2; cells: exact_match/f1" in text
    assert "score = exact_match+f1" not in text
    assert board["tasks"]["xquad"]["score"] == "exact_match+f1"  # the JSON field keeps its documented form


def test_legend_defines_avg_grid_and_missing_groups(tmp_path):
    scores = {k: v for k, v in RETRIEVAL_SCORES.items() if k[1] == "tatoeba"}
    board = build(make_runs(tmp_path / "runs", arms=RETRIEVAL_ARMS, scores=scores, langs=RETRIEVAL_LANGS),
                  references=[])
    text = render(board)
    assert "avg (grid) = mean of the row's task scores over this grid's 1 targets" in text
    assert "not a suite score" in text
    assert "a group or suite score is n/a when one of its tasks is not in this grid or not complete" in text
    assert "retrieval lacks bucc2018" in text and "xtreme needs all 9 tasks" in text


def test_evaluate_stages_are_counted_once_as_in_the_runs_directory(tmp_path):
    runs = make_runs(tmp_path / "runs", arms=RETRIEVAL_ARMS, scores=RETRIEVAL_SCORES, langs=RETRIEVAL_LANGS)
    record = json.loads((runs / "experiment.json").read_text())
    for stage in record["stages"]:  # squad's Tatoeba stages are none's (one encoder, one stage, two arms)
        if stage["meta"]["arm"] == "squad" and stage["meta"]["task"] == "tatoeba":
            shared = stage["key"].replace("-squad-", "-none-")
            shutil.rmtree(runs / stage["key"])
            stage["key"] = shared
    (runs / "experiment.json").write_text(json.dumps(record))
    write_json(runs / "evaluate-old" / "stage.json", {"kind": "evaluate", "data": []})  # an earlier plan's
    mark_done(runs / "evaluate-old")
    planned = {s["key"] for s in record["stages"] if s["kind"] == "evaluate"}
    on_disk = {p.name for p in runs.iterdir() if p.is_dir()} - {"evaluate-old"}
    assert planned == on_disk and len(planned) == 10
    board = build(runs, references=[])
    validate(board)
    assert board["progress"] == {"evaluations_done": 10, "evaluations_planned": 10, "evaluation_cells": 12,
                                 "evaluations_outside_plan": 1}
    squad = next(r for r in board["arms"] if r["arm"] == "squad")
    assert squad["tasks"]["tatoeba"]["score"] == pytest.approx(30.0)  # none's stage fills squad's cell
    text = render(board)
    assert "Evaluate stages done: 10/10 (they fill 12 arm × target × seed cells" in text
    assert "1 finished evaluate stages outside this plan" in text
    assert "Evaluations done" not in text


def test_the_leaderboard_command_repeats_the_warning_on_the_terminal(tmp_path, xstilts):
    from harness.offline import FIXTURE_FILE

    runs = make_runs(tmp_path / "runs")
    _mark_data(runs, synthetic=True)
    model = tmp_path / "tiny-xlmr"
    write_json(model / FIXTURE_FILE, {"xstilts_fixture": True})
    _set_model(runs, str(model))
    code, _, err = xstilts("leaderboard", runs, "--out", tmp_path / "reports")
    assert code == 0, err
    assert err.startswith("warning: Synthetic smoke test, not results: the data is generated")
    _mark_data(runs, synthetic=False)
    _set_model(runs, str(_real_model(tmp_path / "xlmr-large")))
    code, _, err = xstilts("leaderboard", runs, "--out", tmp_path / "reports")
    assert code == 0 and "Synthetic" not in err
