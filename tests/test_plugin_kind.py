"""A third-party package adds a kind and a metric through entry points, without touching harness/.

The package `kw_plugin` (written into the test's temporary directory) registers a binary keyword kind whose
predictions are scores in [0, 1] (its own file format, one score per line), a metric over those scores, a
task using both and a suite holding the task. The engine finds them by name, evaluates the task through the
one evaluation path, and `xstilts score` reads a submission through the kind's reader and the plugin metric.
"""

from __future__ import annotations

import json
import os
import sys
import textwrap
from pathlib import Path
from types import SimpleNamespace

import pytest
from conftest import installed_plugin

from harness import fingerprint, registry
from harness.errors import UserError
from harness.evaluation import evaluate_task
from harness.hparams import Hparams
from harness.kinds import get_kind, kind_class, kind_trains
from harness.kinds.base import Kind
from harness.metrics import metric

PACKAGE = "kw_plugin"
KIND = textwrap.dedent('''
    """Binary keyword detection: does a text mention the task's keyword? Predictions are scores in [0, 1]."""

    from __future__ import annotations

    import math
    from pathlib import Path

    from harness.errors import UserError
    from harness.kinds.base import Kind, encode
    from harness.kinds.submission import SubmissionFile, check_count, lines, write_lines


    def _read(path: Path, parse, what: str, ok) -> SubmissionFile:
        values = []
        for number, line in enumerate(lines(path), start=1):
            try:
                value = parse(line)
            except ValueError:
                value = None
            if value is None or not ok(value):
                raise UserError(f"{path}:{number}: {line!r} is not {what}; write one per line")
            values.append(value)
        return SubmissionFile(path, values, list(range(1, len(values) + 1)))


    class KeywordKind(Kind):
        name = "keyword"
        submission_ext = "txt"

        def resolve_settings(self, model, spec, settings):
            return {"keyword": "xstilts", **settings}

        def predict(self, model, tokenizer, spec, columns, hp, lang, settings):
            """A rule, no encoder: 0.9 when the text mentions the keyword, else 0.1."""
            word = settings["keyword"].lower()
            return [0.9 if word in text.lower() else 0.1 for text in columns["text"]]

        def featurize(self, columns, tokenizer, task, hp, with_labels=True):
            enc = tokenizer(columns["text"], truncation=True, max_length=hp.max_seq_length)
            features = [{"input_ids": ids, "example": i} for i, ids in enumerate(enc["input_ids"])]
            if with_labels:
                for f, label in zip(features, columns["label"], strict=True):
                    f["labels"] = int(label)
            return features

        def build_head(self, hidden_size, task, hp):
            from torch import nn

            return nn.Linear(hidden_size, 1)

        def forward(self, encoder, head, batch):
            return head(encode(encoder, batch)[:, 0]).squeeze(-1)

        def loss(self, logits, batch):
            import torch.nn.functional as F

            return F.binary_cross_entropy_with_logits(logits.float(), batch["labels"].float())

        def decode(self, outputs, features, columns, task, settings=None):
            return [1 / (1 + math.exp(-float(o))) for o in outputs]

        def gold(self, columns, task, settings=None):
            labels = columns.get("label")
            return None if labels is None else [int(v) for v in labels]

        def write_predictions(self, path, predictions):
            write_lines(path, (f"{p:.4f}" for p in predictions))

        def read_submission(self, path, task):
            return _read(path, float, "a score in [0, 1]", lambda v: 0.0 <= v <= 1.0)

        def read_gold(self, path, task):
            return _read(path, int, "0 or 1", lambda v: v in (0, 1))

        def check_submission(self, task, pred, gold):
            n, m = len(pred.items), len(gold.items)
            check_count(pred.path, min(n, m) + 1, "scores", n, m)
''')
METRIC = textwrap.dedent('''
    """Scores in [0, 1] against 0/1 gold: accuracy at 0.5 and the mean confidence in the gold answer."""


    def keyword_accuracy(gold, pred, language=""):
        if not gold:
            return {"accuracy": 0.0, "confidence": 0.0}
        hits = sum(int((p >= 0.5) == bool(g)) for g, p in zip(gold, pred, strict=True))
        confidence = sum(p if g else 1 - p for g, p in zip(gold, pred, strict=True))
        return {"accuracy": 100.0 * hits / len(gold), "confidence": 100.0 * confidence / len(gold)}
''')
TASK = textwrap.dedent('''
    from harness.spec import HFSource, Submission, Suite, TaskSpec

    TASK = TaskSpec(name="toy_keyword", kind="keyword", description="does the text say zorp?",
                    metric="keyword_accuracy", score_metrics=("accuracy",), languages=("en", "de"),
                    test=HFSource(repo="someone/toy_keyword", split="test", fields={"text": "text", "label": "label"}),
                    submission=Submission(folder="toy_keyword", ext="txt"), settings={"keyword": "zorp"})
    SUITE = Suite(name="toy", tasks=("toy_keyword",), groups={"keywords": ("toy_keyword",)})
''')
ENTRY_POINTS = f"""[xstilts.kinds]
keyword = {PACKAGE}.keyword:KeywordKind

[xstilts.metrics]
keyword_accuracy = {PACKAGE}.metrics:keyword_accuracy

[xstilts.tasks]
toy_keyword = {PACKAGE}.task:TASK

[xstilts.suites]
toy = {PACKAGE}.task:SUITE
"""
COLUMNS = {
    "en": {"text": ["Zorp is here", "nothing", "a zorp", "no"], "label": [1, 0, 0, 0]},  # 3 of 4 right
    "de": {"text": ["zorp", "nichts"], "label": [1, 0]},
}


@pytest.fixture
def plugin(tmp_path, monkeypatch):
    """The package installed (as if by pip) under tmp_path/site; yields that directory."""
    site = tmp_path / "site"
    site.mkdir()
    files = {"__init__.py": "", "keyword.py": KIND, "metrics.py": METRIC, "task.py": TASK}
    with installed_plugin(site, PACKAGE, files, ENTRY_POINTS, monkeypatch):
        yield site


def test_kind_contract_is_abstract():
    assert Kind.__abstractmethods__ == {
        "featurize", "build_head", "forward", "loss", "decode", "gold",
        "write_predictions", "read_submission", "read_gold", "check_submission",
    }

    class Half(Kind):
        def featurize(self, columns, tokenizer, task, hp, with_labels=True):
            return []

    with pytest.raises(TypeError, match="abstract"):
        Half()


def test_registry_finds_the_plugin_kind_and_metric_lazily(plugin):
    assert "keyword" in registry.names("kind") and "keyword_accuracy" in registry.names("metric")
    assert f"{PACKAGE}.keyword" not in sys.modules  # listing names imports nothing
    assert issubclass(kind_class("keyword"), Kind) and kind_trains("keyword")
    assert metric("keyword_accuracy")([1, 0], [0.9, 0.6]) == pytest.approx({"accuracy": 50.0, "confidence": 65.0})
    assert fingerprint.kind_module("keyword") == f"{PACKAGE}.keyword"
    modules = fingerprint.stage_code([(registry.task("toy_keyword"), {})])["modules"]
    assert {f"{PACKAGE}.keyword", f"{PACKAGE}.metrics", "harness.kinds.submission"} <= set(modules)
    with pytest.raises(UserError, match="unknown kind 'keywrd' \\(did you mean 'keyword'\\?\\)"):
        get_kind("keywrd")
    with pytest.raises(UserError, match="unknown metric 'keyword_acc' \\(did you mean 'keyword_accuracy'\\?\\)"):
        metric("keyword_acc")


def test_kind_trains_a_head(plugin):
    import torch

    kind, spec = get_kind("keyword"), registry.task("toy_keyword")

    def encoder(input_ids, attention_mask):
        torch.manual_seed(0)
        return SimpleNamespace(last_hidden_state=torch.randn(*input_ids.shape, 8))

    def tokenizer(texts, truncation, max_length):
        return {"input_ids": [[0, *range(5, 5 + len(t.split())), 2] for t in texts]}

    features = kind.featurize(COLUMNS["en"], tokenizer, spec, Hparams(max_seq_length=16))
    batch = kind.collate_for_training(features, pad_id=1, position=0)
    head = kind.build_head(8, spec, Hparams())
    loss = kind.loss(kind.forward(encoder, head, batch), batch)
    loss.backward()
    assert torch.isfinite(loss) and head.weight.grad is not None


def _gold(root: Path) -> Path:
    folder = root / "toy_keyword"
    folder.mkdir(parents=True)
    for lang, columns in COLUMNS.items():
        (folder / f"test-{lang}.txt").write_text("".join(f"{v}\n" for v in columns["label"]))
    return root


def test_evaluation_and_score_go_through_the_kind_and_metric(plugin, tmp_path, xstilts):
    spec, kind = registry.task("toy_keyword"), get_kind("keyword")
    pred = tmp_path / "pred" / "toy_keyword"
    pred.mkdir(parents=True)

    def write(split, lang, predictions):
        kind.write_predictions(pred / f"{split}-{lang}.{kind.submission_ext}", predictions)

    stub_model = SimpleNamespace(to=lambda device: None)
    record = evaluate_task(stub_model, None, spec, kind, list(spec.languages), ["test"], Hparams(), spec.settings,
                           lambda split, lang: COLUMNS[lang], write)
    test = record["splits"]["test"]
    assert record["settings"]["keyword"] == "zorp"
    assert test["languages"]["en"] == pytest.approx({"accuracy": 75.0, "confidence": 70.0})
    assert test["languages"]["de"] == pytest.approx({"accuracy": 100.0, "confidence": 90.0})
    assert test["score"] == pytest.approx(87.5)
    assert (pred / "test-en.txt").read_text() == "0.9000\n0.1000\n0.9000\n0.1000\n"

    gold, out = _gold(tmp_path / "gold"), tmp_path / "scores.json"
    env = {"PYTHONPATH": os.pathsep.join([str(plugin), os.environ.get("PYTHONPATH", "")])}
    code, stdout, stderr = xstilts("score", tmp_path / "pred", gold, "--suite", "toy", "--output-json", out, env=env)
    assert code == 0, stderr
    scored = json.loads(out.read_text())
    assert scored["tasks"]["toy_keyword"]["languages"] == test["languages"]
    assert scored["score"] == scored["groups"]["keywords"] == pytest.approx(87.5)

    (pred / "test-de.txt").write_text("0.9\nmaybe\n")
    code, _, stderr = xstilts("score", tmp_path / "pred", gold, "--suite", "toy", env=env)
    assert code == 2
    assert "toy_keyword/test-de.txt:2: 'maybe' is not a score in [0, 1]; write one per line" in stderr
    (pred / "test-de.txt").write_text("0.9\n")
    code, _, stderr = xstilts("score", tmp_path / "pred", gold, "--suite", "toy", env=env)
    assert code == 2 and "toy_keyword/test-de.txt:2: 1 scores for 2 in the gold file" in stderr
