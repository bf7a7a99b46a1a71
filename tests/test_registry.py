"""Plugins come from entry points; a task defined outside the package registers like a built-in."""

from __future__ import annotations

import sys
import textwrap

import pytest
from conftest import installed_plugin

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
    sentiment = textwrap.dedent('''
        from harness.spec import HFSource, TaskSpec
        TASK = TaskSpec(name="toy_sentiment", kind="classification", description="a third-party task",
                        metric="accuracy", score_metrics=("accuracy",), labels=("neg", "pos"),
                        train=HFSource(repo="someone/toy", split="train",
                                       fields={"text_a": "text", "label": "label"}))
    ''')
    with installed_plugin(tmp_path, "my_tasks", {"__init__.py": "", "sentiment.py": sentiment},
                          "[xstilts.tasks]\ntoy_sentiment = my_tasks.sentiment:TASK\n", monkeypatch):
        assert "toy_sentiment" in registry.names("task")
        assert "my_tasks.sentiment" not in sys.modules  # lazy: listing names imports nothing
        spec = registry.task("toy_sentiment")
        assert spec.labels == ("neg", "pos")


def test_builtin_kinds_and_metrics_are_entry_points():
    from harness.kinds import kind_class
    from harness.kinds.base import Kind
    from harness.metrics import metric

    builtin = {"classification", "multiple_choice", "tagging", "span_qa", "retrieval", "mlm"}
    assert builtin <= set(registry.names("kind"))
    for spec in registry.all_tasks():  # every task's kind and metric resolve by name
        assert issubclass(kind_class(spec.kind), Kind), spec.name
        assert callable(metric(spec.metric)), spec.name
    with pytest.raises(UserError, match="unknown metric 'acuracy' \\(did you mean 'accuracy'\\?\\); register it"):
        metric("acuracy")
