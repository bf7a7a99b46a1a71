"""PAWS-X: adversarial paraphrase identification in 7 languages (labels "0"/"1")."""

from harness.spec import HFSource, Submission, TaskSpec

LANGUAGES = ("de", "en", "es", "fr", "ja", "ko", "zh")
FIELDS = {"text_a": "sentence1", "text_b": "sentence2", "label": "label"}

TASK = TaskSpec(
    name="pawsx",
    kind="classification",
    description="PAWS-X paraphrase identification",
    metric="accuracy",
    score_metrics=("accuracy",),
    languages=LANGUAGES,
    labels=("0", "1"),
    train=HFSource(repo="google/xtreme", config="PAWS-X.en", split="train", fields=FIELDS),
    dev=HFSource(repo="google/xtreme", config="PAWS-X.{lang}", split="validation", fields=FIELDS,
                 expected_rows={lang: 2000 for lang in LANGUAGES}),
    test=HFSource(repo="google/xtreme", config="PAWS-X.{lang}", split="test", fields=FIELDS,
                  expected_rows={lang: 2000 for lang in LANGUAGES}),
    suites=("xtreme",),
    submission=Submission(folder="pawsx"),
    hparams={"epochs": 5, "max_seq_length": 256},
    license="custom (PAWS-X: may be freely used for any purpose, with attribution)",
    citation="Yang et al. PAWS-X: A Cross-lingual Adversarial Dataset for Paraphrase Identification. EMNLP 2019.",
    homepage="https://github.com/google-research-datasets/paws/tree/master/pawsx",
    aliases=("paws-x",),
)
