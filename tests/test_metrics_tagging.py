"""seqeval 0.0.12 chunk F1 on raw tags (XTREME's 2020 POS/NER score), hand-computed cases."""

import pytest

from harness.metrics.tagging import TAGGING_RULE, chunks, seqeval_2020


def test_rule_name_is_recorded():
    assert TAGGING_RULE == "seqeval-0.0.12-chunks-on-raw-tags"


def test_run_of_equal_pos_tags_is_one_chunk():
    # gold NOUN NOUN VERB -> chunks (NOUN,0,1), (VERB,2,2); pred NOUN VERB VERB -> (NOUN,0,0), (VERB,1,2).
    # No chunk matches: F1 0, although 2 of 3 tokens are right.
    gold, pred = [["NOUN", "NOUN", "VERB"]], [["NOUN", "VERB", "VERB"]]
    assert chunks(gold) == {("NOUN", 0, 1), ("VERB", 2, 2)}
    scores = seqeval_2020(gold, pred)
    assert scores["f1"] == 0.0 and scores["precision"] == 0.0 and scores["recall"] == 0.0
    assert scores["token_accuracy"] == pytest.approx(200 / 3)


def test_sentences_are_separated_by_o():
    # Flattened: NOUN O NOUN (O): the sentence boundary splits the run.
    assert chunks([["NOUN"], ["NOUN"]]) == {("NOUN", 0, 0), ("NOUN", 2, 2)}


def test_tags_starting_with_s_or_i_act_as_prefixes():
    # SYM has prefix "S": an S always closes its chunk, so SYM SYM is two chunks, unlike NOUN NOUN.
    assert chunks([["SYM", "SYM"]]) == {("SYM", 0, 0), ("SYM", 1, 1)}
    # INTJ has prefix "I": (I, I) of one type continues the chunk, as a plain run does.
    assert chunks([["INTJ", "INTJ"]]) == {("INTJ", 0, 1)}
    # gold SYM SYM -> {(SYM,0,0), (SYM,1,1)}; pred SYM X -> {(SYM,0,0), (X,1,1)}: 1 correct of 2 and 2.
    # Were SYM a plain tag, gold would be {(SYM,0,1)} and F1 would be 0.
    scores = seqeval_2020([["SYM", "SYM"]], [["SYM", "X"]])
    assert scores["f1"] == pytest.approx(50.0)
    assert scores["precision"] == pytest.approx(50.0)
    assert scores["recall"] == pytest.approx(50.0)
    assert scores["token_accuracy"] == pytest.approx(50.0)


def test_differs_from_seqeval_1x():
    # 0.0.12 (type = whole tag without "-"): gold CCONJ SCONJ -> {(CCONJ,0,0), (SCONJ,1,1)};
    # pred SCONJ SCONJ -> {(SCONJ,0,0), (SCONJ,1,1)}; 1 correct: P = R = F1 = 50.
    # seqeval 1.x takes the type after the first character ("CONJ" for both): gold -> {(CONJ,1,1)},
    # pred -> {(CONJ,0,0), (CONJ,1,1)}: P 50, R 100, F1 66.67. The official 2020 number is 50.
    scores = seqeval_2020([["CCONJ", "SCONJ"]], [["SCONJ", "SCONJ"]])
    assert scores["f1"] == pytest.approx(50.0)
    assert scores["recall"] == pytest.approx(50.0)


def test_iob2_entities():
    # gold {(PER,0,1), (LOC,3,3)}; pred {(PER,0,1), (ORG,3,3)}: P = R = F1 = 50; 3 of 4 tokens right.
    gold = [["B-PER", "I-PER", "O", "B-LOC"]]
    pred = [["B-PER", "I-PER", "O", "B-ORG"]]
    scores = seqeval_2020(gold, pred)
    assert scores == pytest.approx({"f1": 50.0, "precision": 50.0, "recall": 50.0, "token_accuracy": 75.0})


def test_iob2_lenient_i_start_and_precision_recall_differ():
    # pred I-PER I-PER starts a chunk at an I after O (0.0.12 is lenient): (PER,0,1) matches gold.
    # gold {(PER,0,1), (ORG,4,4)} (the second sentence begins at 4); pred {(PER,0,1)}: P 100, R 50, F1 66.67.
    gold = [["B-PER", "I-PER", "O"], ["B-ORG"]]
    pred = [["I-PER", "I-PER", "O"], ["O"]]
    scores = seqeval_2020(gold, pred)
    assert scores["precision"] == pytest.approx(100.0)
    assert scores["recall"] == pytest.approx(50.0)
    assert scores["f1"] == pytest.approx(200 / 3)


def test_gold_as_prediction_is_100():
    gold = [["B-LOC", "O", "B-PER", "I-PER"], ["NOUN", "SYM", "SYM", "INTJ"]]
    scores = seqeval_2020(gold, gold)
    assert scores == pytest.approx(
        {"f1": 100.0, "precision": 100.0, "recall": 100.0, "token_accuracy": 100.0}
    )


def test_no_chunks_scores_zero():
    assert seqeval_2020([["O", "O"]], [["O", "O"]])["f1"] == 0.0


def test_shape_mismatch_raises():
    with pytest.raises(ValueError, match="sentence"):
        seqeval_2020([["O"]], [["O"], ["O"]])
    with pytest.raises(ValueError, match="sentence 1"):
        seqeval_2020([["O", "O"]], [["O"]])
