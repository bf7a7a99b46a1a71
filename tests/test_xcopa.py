"""XCOPA: the parquet conversion branch, the jsonl submission, accuracy, and the SIQA -> COPA training chain."""

from __future__ import annotations

import json
import signal
import subprocess
import time
from dataclasses import replace
from pathlib import Path

import pytest
from conftest import TINY_HPARAMS, start_run, write_experiment

from harness import registry
from harness.data.load import load_split
from harness.data.settings import DataSettings
from harness.data.snapshot import front_matter, write_parquet_branch
from harness.errors import UserError
from harness.kinds import get_kind
from harness.spec import PARQUET_BRANCH, HFSource, TaskSpec, TrainChain, TrainStep

XCOPA_LANGS = ("et", "ht", "id", "it", "qu", "sw", "ta", "th", "tr", "vi", "zh")


def read_xcopa_like_evaluate_py(path: Path) -> list:
    """What google-research/xtreme's evaluate.py `read_xcopa` yields: each line's JSON "label" (own code)."""
    return [json.loads(row)["label"] for row in path.read_text(encoding="utf-8").splitlines()]


def test_xcopa_spec_matches_the_release():
    spec = registry.task("xcopa")
    assert spec.languages == XCOPA_LANGS and spec.kind == "multiple_choice" and spec.metric == "accuracy"
    assert (spec.submission.folder, spec.submission.ext) == ("xcopa", "jsonl")
    assert spec.test.repo == "cambridgeltl/xcopa" and spec.test.parquet_branch
    assert spec.test.revision == PARQUET_BRANCH
    assert spec.test.expected_rows["qu"] == 500 and spec.dev.expected_rows["et"] == 100
    assert [(s.name, s.hparams["epochs"]) for s in spec.train_steps()] == [("siqa", 5), ("copa", 5)]
    assert [s.source.repo for s in spec.train_steps()] == ["allenai/social_i_qa", "aps/super_glue"]
    assert spec.split_languages("dev", ["en"]) == ()  # no English dev: XTREME-R trains its epochs through


def test_xcopa_loads_through_the_parquet_branch(offline_world):
    root = offline_world["hub"] / "cambridgeltl" / "xcopa"
    assert (root / "et" / "test" / "0000.parquet").is_file() and "configs" not in front_matter(root)
    settings = DataSettings(snapshot_root=str(offline_world["hub"]))
    columns, prov = load_split(registry.task("xcopa"), "test", "qu", settings)
    assert prov["branch"] == PARQUET_BRANCH and prov["data_files"][0] == "qu/test/*.parquet"
    assert prov["revision"].startswith("local-") and prov["synthetic"] and prov["snapshot"] == str(root)
    assert set(columns["question"]) <= {"What was the cause?", "What was the effect?"}
    assert all(len(c) == 2 for c in columns["choices"]) and set(columns["label"]) <= {0, 1}
    assert columns["context"][0].split()  # the premise


def test_siqa_and_copa_map_their_labels(offline_world):
    settings = DataSettings(snapshot_root=str(offline_world["hub"]))
    siqa, _ = load_split(registry.task("siqa"), "train", "en", settings)
    assert all(len(c) == 3 for c in siqa["choices"]) and set(siqa["label"]) <= {0, 1, 2}
    raw = __import__("pandas").read_parquet(offline_world["hub"] / "allenai/social_i_qa/default/train/0000.parquet")
    assert siqa["label"] == [int(v) - 1 for v in raw["label"]]  # "1".."3" -> 0..2
    copa, _ = load_split(registry.task("copa"), "dev", "en", settings)  # ClassLabel names choice1/choice2 -> 0/1
    raw = __import__("pandas").read_parquet(offline_world["hub"] / "aps/super_glue/copa/validation/0000.parquet")
    assert copa["label"] == list(raw["label"]) and copa["context"] == list(raw["premise"])
    with pytest.raises(UserError, match="chain of training sets"):
        load_split(registry.task("xcopa"), "train", "en", settings)


def test_a_partial_split_and_a_pinned_commit_keep_the_branch_layout(tmp_path):
    write_parquet_branch(tmp_path / "org" / "big", {"default": {"train": {"text": ["a", "b"], "label": [0, 1]}}})
    (tmp_path / "org/big/default/train").rename(tmp_path / "org/big/default/partial-train")
    source = HFSource("org/big", "train", revision=PARQUET_BRANCH, fields={"text_a": "text", "label": "label"})
    task = TaskSpec(name="big", kind="classification", description="", metric="accuracy",
                    score_metrics=("accuracy",), labels=("0", "1"), train=source)
    columns, _ = load_split(task, "train", "en", DataSettings(snapshot_root=str(tmp_path)))
    assert columns["text_a"] == ["a", "b"]
    pinned = replace(source, revision="0" * 40)
    assert pinned.parquet_branch and HFSource("o/r", "train", parquet_branch=True).revision == PARQUET_BRANCH
    assert HFSource("o/r", "train").data_files("en") is None


def test_the_submission_round_trips_as_evaluate_py_reads_it(tmp_path):
    kind, spec = get_kind("multiple_choice"), registry.task("xcopa")
    pred = tmp_path / "test-et.jsonl"
    kind.write_predictions(pred, ["0", "1", "0", "0"])
    assert read_xcopa_like_evaluate_py(pred) == [0, 1, 0, 0]
    gold = tmp_path / "gold.jsonl"  # by hand, as XCOPA's own files: more fields than the label
    gold.write_text('{"premise": "p", "choice1": "a", "choice2": "b", "question": "cause", "label": 0, "idx": 1}\n'
                    '{"label": 1}\n{"label": 1}\n{"label": 0}\n', encoding="utf-8")
    p, g = kind.read_submission(pred, spec), kind.read_gold(gold, spec)
    kind.check_submission(spec, p, g)
    metric = registry.get("metric", "accuracy")
    assert metric(g.items, p.items)["accuracy"] == pytest.approx(75.0)  # 3 of 4, by hand
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"label": 0}\n{"label": "1"}\n', encoding="utf-8")
    with pytest.raises(UserError, match=r"bad.jsonl:2: no integer \"label\""):
        kind.read_submission(bad, spec)
    short = tmp_path / "short.jsonl"
    short.write_text('{"label": 0}\n', encoding="utf-8")
    with pytest.raises(UserError, match="short.jsonl:2: 1 lines for 4"):
        kind.check_submission(spec, kind.read_submission(short, spec), g)


BODY = """name: xcopa
seeds: [1]
arms: [none]
targets:
  - task: xcopa
    languages: [et, qu, zh]
    steps: {siqa: {max_steps: 3}, copa: {max_steps: 2}}
splits: [dev, test]
""" + TINY_HPARAMS


def _target_key(tmp_path, world, body: str) -> str:
    from harness.experiment import load_experiment
    from harness.plan import plan

    exp = write_experiment(tmp_path / f"exp{abs(hash(body))}.yaml", world, body)
    (target,) = [s for s in plan(load_experiment(exp)) if s.kind == "target"]
    return target.key, target.config


def test_the_stage_key_covers_the_chain(offline_world, tmp_path, monkeypatch):
    key, cfg = _target_key(tmp_path, offline_world, BODY)
    assert [(s["name"], s["hparams"]["max_steps"]) for s in cfg["train_steps"]] == [("siqa", 3), ("copa", 2)]
    assert cfg["task"]["revisions"]["cambridgeltl/xcopa"] == PARQUET_BRANCH
    assert cfg["task"]["revisions"]["allenai/social_i_qa"] == PARQUET_BRANCH
    other, _ = _target_key(tmp_path, offline_world, BODY.replace("copa: {max_steps: 2}", "copa: {max_steps: 4}"))
    assert other != key
    spec = registry.task("xcopa")
    swapped = replace(spec, train=TrainChain(tuple(reversed(spec.train.steps))))
    monkeypatch.setattr(registry, "task", lambda name, _t=registry.task: swapped if name == "xcopa" else _t(name))
    reordered, cfg = _target_key(tmp_path, offline_world, BODY)
    assert reordered != key and [s["name"] for s in cfg["train_steps"]] == ["copa", "siqa"]
    shorter = replace(spec, train=TrainChain((TrainStep("copa", spec.train.steps[1].source),)))
    monkeypatch.setattr(registry, "task", lambda name, _t=registry.task: shorter if name == "xcopa" else _t(name))
    with pytest.raises(UserError, match="'siqa' is not a training step of xcopa"):
        _target_key(tmp_path, offline_world, BODY)


def test_xcopa_runs_end_to_end_and_records_the_chain(offline_world, tmp_path, xstilts):
    exp = write_experiment(tmp_path / "exp.yaml", offline_world, BODY)
    code, _, err = xstilts("run", exp, "-o", tmp_path / "runs")
    assert code == 0, err
    (target,) = (tmp_path / "runs").glob("target-xcopa-*")
    metrics = json.loads((target / "metrics.json").read_text())
    assert [(s["name"], s["max_steps"], s["train"]["steps"]) for s in metrics["steps"]] == [
        ("siqa", 3, 3), ("copa", 2, 2)]
    stage = json.loads((target / "stage.json").read_text())
    assert [(d["repo"], d["branch"]) for d in stage["data"]] == [
        ("allenai/social_i_qa", PARQUET_BRANCH), ("aps/super_glue", PARQUET_BRANCH)]  # loaded in chain order
    assert not (target / "checkpoint").exists()
    (evaluate,) = (tmp_path / "runs").glob("evaluate-xcopa-*")
    result = json.loads((evaluate / "metrics.json").read_text())
    assert result["splits"]["test"]["score"] is not None
    labels = read_xcopa_like_evaluate_py(evaluate / "predictions" / "test-qu.jsonl")
    assert len(labels) == 30 and set(labels) <= {0, 1}


RESUME = BODY.replace("steps: {siqa: {max_steps: 3}, copa: {max_steps: 2}}",
                      "steps: {siqa: {max_steps: 4}, copa: {max_steps: 400}}\n    hparams: {save_every: 2}")
# the resumed chain is also code-switched: each step's augmentation record must survive the kill
AUGMENTED = "arms:\n  - {name: cs, augment: {name: code_switch, dictionaries: %s, rate: 0.5}}\n"


@pytest.mark.slow
def test_a_run_killed_inside_the_chain_resumes_to_the_same_metrics(offline_world, tmp_path):
    body = RESUME.replace("splits: [dev, test]", "splits: [dev]")
    body = body.replace("arms: [none]\n", AUGMENTED % (offline_world["local"] / "muse"))
    exp = write_experiment(tmp_path / "exp.yaml", offline_world, body)

    def run(out: str) -> subprocess.Popen:
        return start_run(exp, tmp_path / out)

    whole, killed = run("whole"), run("killed")
    deadline = time.time() + 300
    while not list((tmp_path / "killed").glob("target-*/checkpoint/step-1-copa/state.pt")):
        assert killed.poll() is None and time.time() < deadline, "no checkpoint inside the copa step"
        time.sleep(0.05)
    killed.send_signal(signal.SIGKILL)
    killed.wait()
    (target,) = (tmp_path / "killed").glob("target-*")
    assert (target / "checkpoint" / "step-0-siqa.done.pt").is_file() and not (target / "done").exists()
    resumed = run("killed")
    _, err = resumed.communicate(timeout=600)
    assert resumed.returncode == 0, err
    assert "resuming from" in err and "step-1-copa" in err
    assert whole.wait(timeout=600) == 0

    def metrics(runs: Path) -> dict:
        return {p.parent.name: json.loads(p.read_text()) for p in sorted(runs.glob("*/metrics.json"))}

    assert metrics(tmp_path / "killed") == metrics(tmp_path / "whole") and len(metrics(tmp_path / "whole")) == 2
    target_metrics = json.loads(next((tmp_path / "killed").glob("target-*/metrics.json")).read_text())
    assert [a["step"] for a in target_metrics["augment"]] == ["siqa", "copa"]  # the finished step's record too
