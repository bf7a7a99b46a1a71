"""XNLI: cross-lingual NLI in 15 languages; trained on English MNLI, evaluated zero-shot."""

from harness.spec import HFSource, Submission, TaskSpec
from tasks.intermediate.mnli import MNLI_TRAIN, NLI_LABELS

LANGUAGES = ("ar", "bg", "de", "el", "en", "es", "fr", "hi", "ru", "sw", "th", "tr", "ur", "vi", "zh")


def _xnli(split: str, rows: int) -> HFSource:
    return HFSource(
        repo="google/xtreme",
        config="XNLI",
        split=split,
        fields={"text_a": "sentence1", "text_b": "sentence2", "label": "gold_label"},
        where=(("language", "==", "{lang}"),),
        expected_rows={lang: rows for lang in LANGUAGES},
    )


TASK = TaskSpec(
    name="xnli",
    kind="classification",
    description="XNLI cross-lingual NLI (train: English MNLI)",
    metric="accuracy",
    score_metrics=("accuracy",),
    languages=LANGUAGES,
    labels=NLI_LABELS,
    train=MNLI_TRAIN,
    dev=_xnli("validation", 2490),
    test=_xnli("test", 5010),
    suites=("xtreme", "xtreme_r"),
    submission=Submission(folder="xnli"),
    hparams={"epochs": 2, "max_seq_length": 256},
    license="CC BY-NC 4.0",
    citation="Conneau et al. XNLI: Evaluating Cross-lingual Sentence Representations. EMNLP 2018.",
    homepage="https://github.com/facebookresearch/XNLI",
)
