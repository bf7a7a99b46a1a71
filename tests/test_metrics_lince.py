"""weighted_f1 (LinCE sentiment) and token_accuracy (LinCE POS) on hand-computed cases."""

from __future__ import annotations

import pytest

from harness import registry
from harness.metrics.classification import weighted_f1
from harness.metrics.tagging import seqeval_2020, token_accuracy


def test_weighted_f1_weights_each_gold_class_by_its_support():
    gold = ["a", "a", "a", "b", "b", "c"]
    pred = ["a", "a", "a", "b", "d", "a"]
    # a: tp 3, fp 1, fn 0 -> F1 6/7; b: tp 1, fp 0, fn 1 -> 2/3; c never predicted -> 0;
    # d only predicted -> no support, no weight. (3 * 6/7 + 2 * 2/3 + 1 * 0) / 6
    out = weighted_f1(gold, pred)
    assert out["weighted_f1"] == pytest.approx(100 * (3 * 6 / 7 + 2 * 2 / 3) / 6)  # 65.08
    assert out["accuracy"] == pytest.approx(100 * 4 / 6)


def test_weighted_f1_edge_cases():
    assert weighted_f1(["x", "y", "y"], ["x", "y", "y"]) == {"weighted_f1": 100.0, "accuracy": 100.0}
    # every prediction is a class without support: each gold class has F1 0
    assert weighted_f1(["x", "y"], ["z", "z"]) == {"weighted_f1": 0.0, "accuracy": 0.0}
    # one class predicted everywhere: F1 of "pos" = 2*2/(2*2+1+0) = 0.8 with support 2; "neg" 0 with support 1
    assert weighted_f1(["pos", "pos", "neg"], ["pos"] * 3)["weighted_f1"] == pytest.approx(100 * 2 * 0.8 / 3)
    assert weighted_f1([], []) == {"weighted_f1": 0.0, "accuracy": 0.0}
    with pytest.raises(ValueError, match="2 predictions for 1 gold"):
        weighted_f1(["x"], ["x", "y"])


def test_token_accuracy_counts_tokens_across_sentences():
    gold = [["NOUN", "VERB", "ADJ"], ["PROPN"]]
    pred = [["NOUN", "X", "ADJ"], ["PROPN"]]
    assert token_accuracy(gold, pred) == {"accuracy": 75.0}  # 3 of 4 tokens, not the mean of 2/3 and 1
    assert token_accuracy(gold, pred)["accuracy"] == seqeval_2020(gold, pred)["token_accuracy"]
    assert token_accuracy(gold, gold) == {"accuracy": 100.0} and token_accuracy([], []) == {"accuracy": 0.0}
    with pytest.raises(ValueError, match="sentence 2: 2 predicted tags for 1 gold tags"):
        token_accuracy(gold, [["NOUN", "X", "ADJ"], ["PROPN", "X"]])
    with pytest.raises(ValueError, match="1 predicted sentences for 2 gold"):
        token_accuracy(gold, [["NOUN", "X", "ADJ"]])


def test_both_are_registered_metrics():
    assert registry.get("metric", "weighted_f1") is weighted_f1
    assert registry.get("metric", "token_accuracy") is token_accuracy
