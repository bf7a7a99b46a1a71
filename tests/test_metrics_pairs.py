"""BUCC pair F1 and accuracy on hand-computed cases."""

import pytest

from harness.metrics.classification import accuracy
from harness.metrics.pairs import bucc_f1


def test_bucc_f1():
    # 2 correct; P 2/3, R 2/4, F1 = 2 * (2/3) * (1/2) / (2/3 + 1/2) = 4/7.
    gold = [("de-1", "en-1"), ("de-2", "en-2"), ("de-3", "en-3"), ("de-4", "en-4")]
    pred = [("de-1", "en-1"), ("de-2", "en-2"), ("de-3", "en-9"), ("de-1", "en-1")]
    scores = bucc_f1(gold, pred)
    assert scores == pytest.approx({"f1": 400 / 7, "precision": 200 / 3, "recall": 50.0})


def test_bucc_no_correct_pair_is_zero():
    assert bucc_f1({("a", "b")}, {("a", "c")}) == {"f1": 0.0, "precision": 0.0, "recall": 0.0}
    assert bucc_f1({("a", "b")}, set()) == {"f1": 0.0, "precision": 0.0, "recall": 0.0}


def test_accuracy():
    assert accuracy(["0", "1", "1", "0"], ["0", "1", "0", "0"]) == {"accuracy": 75.0}
