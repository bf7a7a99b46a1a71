"""Plugins come from entry points; a task defined outside the package registers like a built-in."""

from __future__ import annotations

import sys
import textwrap

import pytest

from harness import registry
from harness.errors import UserError


def test_builtin_tasks_are_entry_points():
    assert {"mnli", "xnli", "pawsx"} <= set(registry.names("task"))
    assert registry.task("xnli").kind == "classification"


def test_alias_resolves():
    assert registry.task("paws-x").name == "pawsx"


def test_unknown_task_suggests_the_closest_name():
    with pytest.raises(UserError, match="did you mean 'xnli'"):
        registry.task("xnlii")


def test_third_party_task_registers_through_an_entry_point(tmp_path, monkeypatch):
    pkg = tmp_path / "my_tasks"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "sentiment.py").write_text(textwrap.dedent('''
        from harness.spec import HFSource, TaskSpec
        TASK = TaskSpec(name="toy_sentiment", kind="classification", description="a third-party task",
                        metric="accuracy", score_metrics=("accuracy",), labels=("neg", "pos"),
                        train=HFSource(repo="someone/toy", split="train",
                                       fields={"text_a": "text", "label": "label"}))
    '''))
    dist = tmp_path / "my_tasks-0.1.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: my-tasks\nVersion: 0.1\n")
    (dist / "entry_points.txt").write_text("[xstilts.tasks]\ntoy_sentiment = my_tasks.sentiment:TASK\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    registry.clear_cache()
    try:
        assert "toy_sentiment" in registry.names("task")
        assert "my_tasks.sentiment" not in sys.modules  # lazy: listing names imports nothing
        spec = registry.task("toy_sentiment")
        assert spec.labels == ("neg", "pos")
    finally:
        monkeypatch.undo()
        registry.clear_cache()
        sys.modules.pop("my_tasks.sentiment", None)
        sys.modules.pop("my_tasks", None)
