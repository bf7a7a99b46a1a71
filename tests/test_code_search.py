"""code_search: the CodeXGLUE NL-code-search-Adv snapshot loads from the hub layout, `pairs` draws seeded
negatives (exact pairs, counts per rate, no true pair labelled "0"), bad settings are one-line errors, and the
task trains end to end as an intermediate arm."""

from __future__ import annotations

import json
from collections import Counter

import pytest
from conftest import TINY_HPARAMS, write_experiment

from harness import registry
from harness.data.load import load_split
from harness.data.settings import DataSettings
from harness.errors import UserError
from harness.experiment import load_experiment
from tasks.intermediate.code_search import join_tokens, pairs

REPO = "google/code_x_glue_tc_nl_code_search_adv"
ROWS = {"id": ["a", "b", "c", "d"], "text_a": ["doc a", "doc b", "doc c", "doc d"],
        "text_b": ["code a", "code b", "code b", "code d"]}
"""Four matching rows; b and c have the same code, so neither may get it as a negative."""


def drawn(rate, seed=13, split="train", columns=ROWS) -> dict[str, list]:
    return pairs(columns, split=split, lang="en", seed=seed, settings={"negatives_per_positive": rate})


def test_spec_is_qqp_shaped_pair_classification():
    spec, qqp = registry.task("code_search"), registry.task("qqp")
    assert (spec.kind, spec.metric, spec.score_metrics, spec.labels) == (qqp.kind, qqp.metric, qqp.score_metrics,
                                                                         qqp.labels)
    assert spec.role == "intermediate" and spec.languages == ("en",) and spec.hparams["max_seq_length"] == 256
    assert spec.prepare == "tasks.intermediate.code_search:pairs" and spec.settings == {"negatives_per_positive": 1}
    assert [(s.repo, s.config, s.split, s.parquet_branch) for s in (spec.train, spec.dev, spec.test)] == [
        (REPO, "default", "train", False), (REPO, "default", "validation", False), (REPO, "default", "test", False)]
    assert [s.expected_rows["en"] for s in (spec.train, spec.dev, spec.test)] == [251820, 9604, 19210]
    assert spec.train.fields == {"id": "id", "text_a": "docstring_tokens", "text_b": "code_tokens"}
    assert spec.license and "CodeXGLUE" in spec.citation and "CodeSearchNet" in spec.citation and spec.homepage


def test_join_tokens_makes_one_text_per_row():
    out = join_tokens({"id": ["1"], "text_a": [["Adds", "two", "numbers", "."]], "text_b": [["def", "f", "(", ")"]]})
    assert out == {"id": ["1"], "text_a": ["Adds two numbers ."], "text_b": ["def f ( )"]}


def test_the_snapshot_loads_through_the_hub_code_path(offline_world):
    root = offline_world["hub"] / REPO
    assert sorted(p.name for p in (root / "data").iterdir()) == [
        "test-00000-of-00001.parquet", "train-00000-of-00002.parquet", "train-00001-of-00002.parquet",
        "validation-00000-of-00001.parquet"]
    settings = DataSettings(snapshot_root=str(offline_world["hub"]))
    raw = __import__("pandas").read_parquet(root / "data" / "validation-00000-of-00001.parquet")
    assert len(raw.columns) == 19 and str(raw["score"].dtype) == "float32" and str(raw["id"].dtype) == "int32"
    assert all(doc in code for doc, code in zip(raw["docstring"], raw["code"], strict=True))  # why code_tokens
    loaded = {}
    for split, n in (("train", 200), ("dev", 40), ("test", 40)):
        columns, prov = load_split(registry.task("code_search"), split, "en", settings, seed=5)
        assert (prov["repo"], prov["config"], prov["rows"], prov["synthetic"]) == (REPO, "default", n, True)
        assert prov["prepared"] == {"function": "tasks.intermediate.code_search:pairs", "seed": 5,
                                    "rows_loaded": n, "rows": 2 * n}
        assert Counter(columns["label"]) == {"1": n, "0": n} and len(set(columns["id"])) == 2 * n
        loaded[split] = columns
    dev = loaded["dev"]
    assert dev["id"][:2] == ["0+", "0-1"] and dev["text_a"][0] == dev["text_a"][1] == " ".join(
        raw["docstring_tokens"].iloc[0])
    assert dev["text_b"][0] == " ".join(raw["code_tokens"].iloc[0]) != dev["text_b"][1]
    assert all(t.startswith("def Func ( arg_0") for t in loaded["test"]["text_b"])  # test functions are anonymised


def test_pairs_are_pinned_for_a_hand_made_input():
    out = drawn(1)
    assert list(zip(out["id"], out["text_a"], out["text_b"], out["label"], strict=True)) == [
        ("a+", "doc a", "code a", "1"), ("a-1", "doc a", "code d", "0"),
        ("b+", "doc b", "code b", "1"), ("b-1", "doc b", "code a", "0"),
        ("c+", "doc c", "code b", "1"), ("c-1", "doc c", "code a", "0"),
        ("d+", "doc d", "code d", "1"), ("d-1", "doc d", "code b", "0")]


def test_same_seed_same_pairs_other_seed_or_split_other_pairs():
    assert drawn(1) == drawn(1) and drawn(2, seed=7) == drawn(2, seed=7)
    assert drawn(1, seed=14)["text_b"] != drawn(1)["text_b"]
    assert drawn(1, split="dev")["text_b"] != drawn(1)["text_b"]
    assert drawn(1, seed=14)["id"] == drawn(1)["id"]  # the same rows, other negatives


@pytest.mark.parametrize(("rate", "negatives"), [(0, 0), (1, 4), (2, 8), (0.5, 2), (1.5, 6), (0.25, 1)])
def test_rate_sets_the_number_of_negatives(rate, negatives):
    out = drawn(rate)
    assert Counter(out["label"]) == Counter({"1": 4, "0": negatives}) - Counter()
    assert len(set(out["id"])) == len(out["id"]) == 4 + negatives
    per_row = Counter(i.split("-")[0] for i in out["id"] if "-" in i)
    assert set(per_row.values()) <= {int(rate), int(rate) + 1}  # a fraction: some rows one negative more


def test_no_negative_is_a_true_pair():
    many = {"id": [str(i) for i in range(300)], "text_a": [f"doc {i % 50}" for i in range(300)],
            "text_b": [f"code {i % 40}" for i in range(300)]}
    true_pairs = set(zip(many["text_a"], many["text_b"], strict=True))
    for rate in (1, 3):
        out = drawn(rate, columns=many)
        negatives = [(a, b) for a, b, y in zip(out["text_a"], out["text_b"], out["label"], strict=True) if y == "0"]
        assert len(negatives) == 300 * rate and not set(negatives) & true_pairs
        by_row = Counter((i.split("-")[0], b) for i, b, y in zip(out["id"], out["text_b"], out["label"], strict=True)
                         if y == "0")
        assert max(by_row.values()) == 1  # a row's negatives are different codes


def test_a_row_gets_no_more_negatives_than_codes_it_may_meet():
    out = drawn(3)  # a may meet b, d; b and c only a, d; d only a, b: two each, not three
    assert Counter(out["label"]) == {"1": 4, "0": 8}
    assert {b for i, b in zip(out["id"], out["text_b"], strict=True) if i.startswith("b-")} == {"code a", "code d"}
    same = {"id": ["x", "y"], "text_a": ["doc", "doc"], "text_b": ["code 1", "code 2"]}  # one docstring, both codes
    assert drawn(1, columns=same)["label"] == ["1", "1"]


@pytest.mark.parametrize("settings", [{"negatives_per_positive": -1}, {"negatives_per_positive": "two"},
                                      {"negatives_per_positive": True}, {"negatives_per_positive": float("nan")},
                                      {"negative_per_positive": 2}])
def test_a_bad_setting_is_a_one_line_user_error(settings):
    with pytest.raises(UserError) as err:
        pairs(ROWS, split="train", lang="en", seed=0, settings=settings)
    message = str(err.value)
    assert "\n" not in message and "task_settings.code_search" in message and "negatives_per_positive" in message


def test_xstilts_validate_rejects_a_bad_rate(offline_world, tmp_path):
    body = ("name: cs\narms:\n  - {name: a, tasks: [code_search], task_settings: {code_search: "
            "{negatives_per_positive: -2}}}\ntargets: [xnli]\n")
    with pytest.raises(UserError, match=r"arms\[0\]\.tasks\[0\]: task_settings.code_search.negatives_per_positive "
                                        r"must be a number >= 0"):
        load_experiment(write_experiment(tmp_path / "bad.yaml", offline_world, body))
    top = "name: cs\narms: [code_search]\ntargets: [xnli]\ntask_settings: {code_search: {negatives_per_positive: x}}\n"
    with pytest.raises(UserError, match=r"top.yaml: arms\[0\]\.tasks\[0\]: task_settings.code_search.negatives_per"):
        load_experiment(write_experiment(tmp_path / "top.yaml", offline_world, top))


def _spy_train_rows(monkeypatch) -> list:
    """Record every (seed, training columns) the stages load for code_search."""
    import harness.stages

    seen, real = [], harness.stages.load_split

    def spy(spec, split, lang, data, seed=0):
        columns, prov = real(spec, split, lang, data, seed)
        if spec.name == "code_search" and split == "train":
            seen.append((seed, columns))
        return columns, prov

    monkeypatch.setattr(harness.stages, "load_split", spy)
    return seen


def test_code_search_intermediate_runs_end_to_end(offline_world, tmp_path, monkeypatch):
    from harness.cli.run import run_experiment

    seen = _spy_train_rows(monkeypatch)
    body = ("name: code-search-test\nseeds: [1]\narms: [code_search]\n"
            "task_settings: {code_search: {negatives_per_positive: 2}}\n"
            "targets:\n  - {task: xnli, languages: [en, de]}\n" + TINY_HPARAMS)
    exp = write_experiment(tmp_path / "exp.yaml", offline_world, body)
    for runs in (tmp_path / "runs", tmp_path / "again"):
        run_experiment(exp, runs, dry_run=False, allow_mixed=False)
    (stage,) = (tmp_path / "runs").glob("intermediate-code_search-*")
    metrics = json.loads((stage / "metrics.json").read_text())
    assert metrics["train"]["steps"] == 6 and 0 <= metrics["dev_score"] <= 100
    data = json.loads((stage / "stage.json").read_text())["data"]
    assert [(d["repo"], d["source_split"], d["rows"], d["prepared"]["seed"], d["prepared"]["rows"]) for d in data] == [
        (REPO, "train", 200, 1, 600), (REPO, "validation", 40, 1, 120)]
    assert (stage / "done").exists() and len(list((tmp_path / "runs").glob("evaluate-xnli-*/done"))) == 1
    (first_seed, first), (again_seed, again) = seen
    assert first_seed == again_seed == 1 and first == again and Counter(first["label"]) == {"1": 200, "0": 400}
