"""The pure scorer: XTREME submission folders, official aggregation, one-line errors for bad input."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from harness import registry
from harness.errors import UserError
from harness.scoring import aggregate_suite, score_submission, task_score
from harness.spec import Submission, Suite, TaskSpec
from tasks.xtreme.suite import SUITE

# Stand-ins for tasks another module may not have registered yet (same metric, layout and languages).
_FALLBACK = {
    "bucc2018": TaskSpec(
        name="bucc2018", kind="retrieval", description="", metric="bucc_f1", score_metrics=("f1",),
        languages=("de", "fr", "ru", "zh"), submission=Submission("bucc2018"),
    ),
    "tatoeba": TaskSpec(
        name="tatoeba", kind="retrieval", description="", metric="accuracy", score_metrics=("accuracy",),
        languages=("ar", "de", "zh"), submission=Submission("tatoeba"),
    ),
}


def _specs() -> dict[str, TaskSpec]:
    specs = {}
    for name in SUITE.tasks:
        try:
            specs[name] = registry.task(name)
        except UserError:
            specs[name] = _FALLBACK[name]
    return specs


def _write_gold(spec: TaskSpec, root: Path) -> None:
    """Made-up gold files for every language of `spec`, in the submission layout."""
    folder = root / spec.submission.folder
    folder.mkdir(parents=True)
    for lang in spec.languages:
        path = folder / f"test-{lang}.{spec.submission.ext}"
        if spec.metric in ("squad", "mlqa"):
            qas = [
                {"id": f"{lang}-q{i}", "question": "what?", "answers": [{"text": t, "answer_start": 0}]}
                for i, t in enumerate(["zorp blim", "the quux", "北京 dax"])
            ]
            path.write_text(json.dumps({"version": "1.1", "data": [{"paragraphs": [{"qas": qas}]}]}))
        elif spec.metric == "seqeval_2020":
            tags = list(spec.labels)
            sentences = [tags[:3], tags[3:4], tags[-4:]]
            path.write_text("\n\n".join("\n".join(s) for s in sentences) + "\n")
        elif spec.metric == "bucc_f1":
            path.write_text("".join(f"{lang}-{i:06d}\ten-{i:06d}\n" for i in range(3)))
        else:
            labels = list(spec.labels) or ["0", "1", "2", "3"]
            path.write_text("\n".join(labels[i % len(labels)] for i in range(4)) + "\n")


def _answers_as_predictions(gold: Path, pred: Path) -> None:
    """Prediction JSON {id: first gold answer} for every QA gold file."""
    for path in gold.rglob("*.json"):
        data = json.loads(path.read_text())
        qas = [qa for p in data["data"][0]["paragraphs"] for qa in p["qas"]]
        answers = {qa["id"]: qa["answers"][0]["text"] for qa in qas}
        target = pred / path.relative_to(gold)
        target.write_text(json.dumps(answers, ensure_ascii=False))


@pytest.fixture()
def world(tmp_path: Path) -> tuple[Path, Path, dict[str, TaskSpec]]:
    specs = _specs()
    gold, pred = tmp_path / "gold", tmp_path / "pred"
    for spec in specs.values():
        _write_gold(spec, gold)
    shutil.copytree(gold, pred)
    _answers_as_predictions(gold, pred)
    return pred, gold, specs


def test_gold_as_prediction_scores_100_everywhere(world):
    pred, gold, specs = world
    result = score_submission(pred, gold, SUITE, specs)
    assert result["suite"] == "xtreme"
    assert result["score"] == pytest.approx(100.0)
    assert result["groups"] == pytest.approx({g: 100.0 for g in SUITE.groups})
    assert list(result["tasks"]) == list(SUITE.tasks)
    for name, task in result["tasks"].items():
        assert task["score"] == pytest.approx(100.0), name
        assert list(task["languages"]) == list(specs[name].languages)
        for lang, metrics in task["languages"].items():
            assert all(v == pytest.approx(100.0) for v in metrics.values()), (name, lang, metrics)
    json.dumps(result)  # JSON-ready


def test_hand_computed_aggregation(world):
    pred, gold, specs = world
    # PAWS-X en: one of four labels wrong -> 75; the 6 other languages 100.
    (pred / "pawsx" / "test-en.tsv").write_text("0\n0\n0\n1\n")
    # XQuAD de: "zorp" for "zorp blim" (EM 0, F1 2/3), the other two right -> EM 200/3, F1 800/9.
    answers = json.loads((pred / "xquad" / "test-de.json").read_text())
    answers["de-q0"] = "zorp"
    (pred / "xquad" / "test-de.json").write_text(json.dumps(answers, ensure_ascii=False))
    result = score_submission(pred, gold, SUITE, specs)

    pawsx = (6 * 100 + 75) / 7
    assert result["tasks"]["pawsx"]["languages"]["en"]["accuracy"] == pytest.approx(75.0)
    assert result["tasks"]["pawsx"]["score"] == pytest.approx(pawsx)
    n = len(specs["xquad"].languages)
    em, f1 = (100 * (n - 1) + 200 / 3) / n, (100 * (n - 1) + 800 / 9) / n
    assert result["tasks"]["xquad"]["metrics"] == pytest.approx({"exact_match": em, "f1": f1})
    xquad = (em + f1) / 2
    assert result["tasks"]["xquad"]["score"] == pytest.approx(xquad)
    assert result["groups"]["classification"] == pytest.approx((pawsx + 100) / 2)
    assert result["groups"]["qa"] == pytest.approx((xquad + 200) / 3)
    assert result["groups"]["retrieval"] == pytest.approx(100.0)
    assert result["score"] == pytest.approx((pawsx + xquad + 700) / 9)


def test_missing_task_leaves_totals_null(world):
    pred, gold, specs = world
    shutil.rmtree(pred / "xnli")
    result = score_submission(pred, gold, SUITE, specs)
    assert "xnli" not in result["tasks"]
    assert result["score"] is None
    assert result["groups"]["classification"] is None
    assert result["groups"]["qa"] == pytest.approx(100.0)


def test_prediction_folders_without_gold_are_reported_not_silently_dropped(world, tmp_path, monkeypatch):
    from click.testing import CliRunner

    from harness.cli.score import score_command

    pred, gold, specs = world
    shutil.rmtree(gold / "xnli")
    (pred / "xnli-old").mkdir()
    result = score_submission(pred, gold, SUITE, specs)
    assert "xnli" not in result["tasks"] and result["score"] is None
    assert set(result["ignored"]) == {"xnli", "xnli-old"}
    assert "no gold folder" in result["ignored"]["xnli"]
    assert "no task of suite 'xtreme' has this folder" in result["ignored"]["xnli-old"]
    monkeypatch.setattr(registry, "task", specs.__getitem__)
    run = CliRunner().invoke(score_command, [str(pred), str(gold)])
    assert run.exit_code == 0
    assert f"not scored: {pred / 'xnli'}: no gold folder" in run.output


def test_missing_language_file_names_it(world):
    pred, gold, specs = world
    (pred / "udpos" / "test-de.tsv").unlink()
    with pytest.raises(UserError, match=r"udpos/test-de\.tsv: missing"):
        score_submission(pred, gold, SUITE, specs)


def _edit(path: Path, text: str) -> None:
    path.write_text(text, encoding="utf-8")


@pytest.mark.parametrize(
    ("relpath", "content", "expected"),
    [
        ("pawsx/test-en.tsv", "0\n1\n0\n", r"pawsx/test-en\.tsv:4: 3 lines for 4"),
        ("pawsx/test-en.tsv", "0\n7\n0\n1\n", r"pawsx/test-en\.tsv:2: unknown label '7'"),
        ("udpos/test-en.tsv", "ADJ\nADP\nADV\n\nAUX\n", r"udpos/test-en\.tsv:6: 2 sentences for 3"),
        ("udpos/test-en.tsv", "ADJ\nADP\n\nAUX\n\nSCONJ\nSYM\nVERB\nX\n",
         r"udpos/test-en\.tsv:1: sentence 1 has 2"),
        ("udpos/test-en.tsv", "ADJ\nADP\nADV\n\nNOPE\n\nSCONJ\nSYM\nVERB\nX\n",
         r"udpos/test-en\.tsv:5: unknown label 'NOPE'"),
        ("xquad/test-en.json", '{"en-q0": "x",\n oops}', r"xquad/test-en\.json:2: not valid JSON"),
        ("xquad/test-en.json", '["x"]', r"xquad/test-en\.json:1: expected a JSON object"),
        ("mlqa/test-en.json", '{"en-q0": "x", "en-q1": "y"}', r"mlqa/test-en\.json:1: no answer .*'en-q2'"),
        ("bucc2018/test-de.tsv", "de-000000\ten-000000\nde-000001 en-000001\n",
         r"bucc2018/test-de\.tsv:2: malformed line"),
    ],
)
def test_malformed_prediction_names_file_and_line(world, relpath, content, expected):
    pred, gold, specs = world
    _edit(pred / relpath, content)
    with pytest.raises(UserError, match=expected):
        score_submission(pred, gold, SUITE, specs)


def test_malformed_gold_json(world):
    pred, gold, specs = world
    _edit(gold / "tydiqa" / "test-en.json", '{"data": [{"no_paragraphs": []}]}')
    with pytest.raises(UserError, match=r"tydiqa/test-en\.json:1: not SQuAD-format JSON"):
        score_submission(pred, gold, SUITE, specs)


def test_task_score_and_suite_rules():
    langs = {"en": {"exact_match": 50.0, "f1": 70.0}, "de": {"exact_match": 70.0, "f1": 90.0}}
    assert task_score(langs, ("exact_match", "f1")) == pytest.approx(70.0)
    assert task_score(langs, ("f1",)) == pytest.approx(80.0)
    assert task_score(langs, ("f1",), languages=("en", "de", "fr")) is None
    assert task_score({}, ("f1",)) is None

    suite = Suite(name="s", tasks=("a", "b", "c"), groups={"g1": ("a", "b"), "g2": ("c",)},
                  overall="mean_of_groups")
    assert aggregate_suite(suite, {"a": 60.0, "b": 80.0, "c": 40.0}) == {
        "score": 55.0,
        "groups": {"g1": 70.0, "g2": 40.0},
        "scores": {},
    }
    partial = aggregate_suite(suite, {"a": 60.0, "c": 40.0})
    assert partial["score"] is None and partial["groups"]["g1"] is None and partial["groups"]["g2"] == 40.0
    flat = Suite(name="t", tasks=("a", "b", "c"), groups={"g1": ("a", "b"), "g2": ("c",)})
    assert aggregate_suite(flat, {"a": 60.0, "b": 80.0, "c": 40.0})["score"] == pytest.approx(60.0)


def test_score_command_writes_json(world, tmp_path, monkeypatch):
    from click.testing import CliRunner

    from harness.cli.score import score_command

    pred, gold, specs = world
    monkeypatch.setattr(registry, "task", specs.__getitem__)
    out = tmp_path / "scores.json"
    result = CliRunner().invoke(score_command, [str(pred), str(gold), "--output-json", str(out)])
    assert result.exit_code == 0, result.output
    assert json.loads(out.read_text())["score"] == pytest.approx(100.0)
    assert "overall" in result.output


def test_score_command_user_error_propagates(tmp_path):
    from click.testing import CliRunner

    from harness.cli.score import score_command

    result = CliRunner().invoke(score_command, [str(tmp_path / "nope"), str(tmp_path)])
    assert isinstance(result.exception, UserError)
    assert "nope" in str(result.exception)
