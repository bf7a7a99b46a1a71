"""LinCE Spanish-English sentiment analysis (SemEval-2020 Task 9 tweets), zero-shot from English TweetEval.

XTREME has no sentiment task, so the model trains on English tweets: cardiffnlp/tweet_eval, config
"sentiment" (SemEval-2017 Task 4; label ClassLabel negative, neutral, positive; 45,615 train / 2,000
validation rows), selects on its validation split and is scored on LinCE's sa_spaeng validation split, whose
`sa` column already holds the same three names (no label mapping). LinCE gives words, not text: they are joined
with spaces. The score is the support-weighted F1 over the three classes (LinCE's sentiment score).
"""

from __future__ import annotations

from harness.spec import HFSource, Submission, TaskSpec
from tasks.lince import AUGMENT_LANGUAGES, HOMEPAGE, LICENSE, LINCE_CITATION, note, validation

LABELS = ("negative", "neutral", "positive")
"""ClassLabel order of tweet_eval `sentiment`; LinCE's `sa` values are these names."""


def join_words(columns: dict[str, list]) -> dict[str, list]:
    """LinCE's word lists as one space-separated text per row (`text_a`)."""
    return {**columns, "text_a": [" ".join(words) for words in columns["text_a"]]}


def _tweet_eval(split: str, rows: int) -> HFSource:
    return HFSource(repo="cardiffnlp/tweet_eval", config="sentiment", split=split,
                    fields={"text_a": "text", "label": "label"}, languages=("en",), expected_rows={"en": rows})


SPAENG = TaskSpec(
    name="lince_sa_spaeng",
    kind="classification",
    description="LinCE spaeng code-mixed sentiment, zero-shot from TweetEval en (weighted F1 on LinCE validation)",
    metric="weighted_f1",
    score_metrics=("weighted_f1",),
    languages=("spaeng",),
    labels=LABELS,
    train=_tweet_eval("train", 45615),
    dev=_tweet_eval("validation", 2000),
    test=validation("sa_spaeng", "spaeng", {"text_a": "words", "label": "sa"}, "tasks.lince.sentiment:join_words"),
    submission=Submission(folder="lince_sa_spaeng", ext="tsv"),
    hparams={"epochs": 3, "max_seq_length": 128},
    settings={"augment_languages": AUGMENT_LANGUAGES["spaeng"]},
    license=LICENSE,
    citation="Patwa et al. SemEval-2020 Task 9: Overview of Sentiment Analysis of Code-Mixed Tweets. SemEval 2020. "
    "Barbieri et al. TweetEval: Unified Benchmark and Comparative Evaluation for Tweet Classification. Findings of "
    f"EMNLP 2020. {LINCE_CITATION}",
    homepage=HOMEPAGE,
    note=note("none (LinCE's negative/neutral/positive are TweetEval's labels)"),
)
