"""PAN-X (WikiANN) named entity recognition in 40 languages, IOB2 tags, scored by seqeval chunk F1."""

from harness.spec import HFSource, Submission, TaskSpec

LANGUAGES = (
    "ar", "he", "vi", "id", "jv", "ms", "tl", "eu", "ml", "ta", "te", "af", "nl", "en", "de", "el", "bn",
    "hi", "mr", "ur", "fa", "fr", "it", "pt", "es", "bg", "ru", "ja", "ka", "ko", "th", "sw", "yo", "my",
    "zh", "kk", "tr", "et", "fi", "hu",
)
NER_TAGS = ("O", "B-PER", "I-PER", "B-ORG", "I-ORG", "B-LOC", "I-LOC")
"""ClassLabel order of google/xtreme `PAN-X.*` ner_tags."""


def _panx(split: str, expected: dict[str, int]) -> HFSource:
    return HFSource(
        repo="google/xtreme",
        config="PAN-X.{lang}",
        split=split,
        fields={"tokens": "tokens", "tags": "ner_tags"},
        label_names=NER_TAGS,
        expected_rows=expected,
    )


TASK = TaskSpec(
    name="panx",
    kind="tagging",
    description="PAN-X / WikiANN named entity recognition (PER, ORG, LOC; seqeval entity F1)",
    metric="seqeval_2020",
    score_metrics=("f1",),
    languages=LANGUAGES,
    labels=NER_TAGS,
    train=_panx("train", {"en": 20000}),
    dev=_panx("validation", {"en": 10000, "jv": 100, "my": 100, "yo": 100}),
    test=_panx("test", {"en": 10000, "jv": 100, "my": 100, "yo": 100}),
    suites=("xtreme", "xtreme_r"),
    submission=Submission(folder="panx", ext="tsv"),
    hparams={"epochs": 10, "max_seq_length": 256},
    license="ODC-BY (WikiANN)",
    citation="Pan et al. Cross-lingual Name Tagging and Linking for 282 Languages. ACL 2017.",
    homepage="https://github.com/afshinrahimi/mmner",
    aliases=("pan-x",),
)
