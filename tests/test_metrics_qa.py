"""SQuAD v1.1 and MLQA EM/F1 on hand-computed cases (made-up text)."""

import pytest

from harness.metrics.qa import mlqa, normalize_mlqa, normalize_squad, read_squad_gold, squad


def test_squad_normalisation():
    assert normalize_squad("The  Big, cat!") == "big cat"
    assert normalize_squad("an apple a day") == "apple day"
    assert normalize_squad("«cat»") == "«cat»"  # not ASCII punctuation: kept


def test_squad_max_over_gold_answers_and_mean():
    gold = {
        "q1": ["The Big Cat", "cat"],  # pred "big cat!" -> "big cat" == "big cat": EM 1, F1 1
        "q2": ["red fox"],  # pred "brown fox": 1 common, P 1/2, R 1/2: EM 0, F1 0.5
        "q3": ["alpha beta gamma", "beta"],  # pred "beta gamma": F1 0.8 vs first, 2/3 vs second: max 0.8
    }
    pred = {"q1": "big cat!", "q2": "a brown fox", "q3": "beta gamma", "extra": "ignored"}
    scores = squad(gold, pred)
    assert scores["exact_match"] == pytest.approx(100 / 3)
    assert scores["f1"] == pytest.approx(100 * (1 + 0.5 + 0.8) / 3)


def test_missing_prediction_raises_with_id():
    with pytest.raises(ValueError, match="q2"):
        squad({"q1": ["x"], "q2": ["y"]}, {"q1": "x"})


def test_mlqa_chinese_mixed_segmentation():
    # Each CJK character is a token: "北京大学" -> 北 京 大 学; "北京" -> 北 京: P 1, R 1/2, F1 2/3.
    assert normalize_mlqa("abc北京，大学", "zh") == "abc 北 京 大 学"
    scores = mlqa({"q": ["北京大学"]}, {"q": "北京"}, "zh")
    assert scores["exact_match"] == 0.0
    assert scores["f1"] == pytest.approx(200 / 3)
    # SQuAD rules see one token each: F1 0.
    assert squad({"q": ["北京大学"]}, {"q": "北京"})["f1"] == 0.0


def test_mlqa_arabic_article_anywhere():
    # MLQA's expression replaces every "ال" with a space, even inside a word.
    assert normalize_mlqa("الكتاب", "ar") == "كتاب"
    assert normalize_mlqa("مال", "ar") == "م"
    scores = mlqa({"q1": ["الكتاب"], "q2": ["م"]}, {"q1": "كتاب", "q2": "مال"}, "ar")
    assert scores == pytest.approx({"exact_match": 100.0, "f1": 100.0})


def test_mlqa_german_and_spanish_articles():
    assert mlqa({"q": ["der Hund"]}, {"q": "Hund"}, "de")["exact_match"] == 100.0
    assert mlqa({"q": ["los perros"]}, {"q": "perros"}, "es")["exact_match"] == 100.0
    assert mlqa({"q": ["những con mèo"]}, {"q": "con mèo"}, "vi")["exact_match"] == 100.0
    # English rules keep "der": "der hund" vs "hund": P 1, R 1/2, F1 2/3.
    en = mlqa({"q": ["der Hund"]}, {"q": "Hund"}, "en")
    assert en["exact_match"] == 0.0 and en["f1"] == pytest.approx(200 / 3)
    # Hindi has no articles: "the" stays.
    assert mlqa({"q": ["the x"]}, {"q": "x"}, "hi")["f1"] == pytest.approx(200 / 3)


def test_mlqa_unicode_punctuation():
    assert mlqa({"q": ["«hola»"]}, {"q": "¿hola?"}, "es")["exact_match"] == 100.0
    assert squad({"q": ["«hola»"]}, {"q": "hola"})["exact_match"] == 0.0


def test_mlqa_unknown_language():
    with pytest.raises(ValueError, match="xx"):
        mlqa({"q": ["a"]}, {"q": "a"}, "xx")


def test_read_squad_gold_dict_and_list():
    articles = [{"paragraphs": [{"qas": [{"id": "a1", "answers": [{"text": "x"}, {"text": "y"}]}]}]}]
    assert read_squad_gold({"version": "1.1", "data": articles}) == {"a1": ["x", "y"]}
    assert read_squad_gold(articles) == {"a1": ["x", "y"]}
