"""QQP (GLUE): English question-pair paraphrase detection; scored by accuracy and F1 of "duplicate"."""

from harness.spec import HFSource, TaskSpec

LABELS = ("0", "1")
"""not_duplicate, duplicate: named "0"/"1" so the positive class is "1" for the F1 score."""
FIELDS = {"id": "idx", "text_a": "question1", "text_b": "question2", "label": "label"}

TASK = TaskSpec(
    name="qqp",
    kind="classification",
    description="Quora Question Pairs, English paraphrase detection (GLUE)",
    metric="accuracy_f1",
    score_metrics=("accuracy", "f1"),
    labels=LABELS,
    train=HFSource(repo="nyu-mll/glue", config="qqp", split="train", fields=FIELDS, label_names=LABELS,
                   expected_rows={"en": 363846}),
    dev=HFSource(repo="nyu-mll/glue", config="qqp", split="validation", fields=FIELDS, label_names=LABELS,
                 expected_rows={"en": 40430}),
    role="intermediate",
    hparams={"epochs": 2, "max_seq_length": 256},
    license="Quora terms (non-commercial research)",
    citation="Iyer, Dandekar, Csernai. First Quora Dataset Release: Question Pairs. 2017.",
    homepage="https://quoradata.quora.com/First-Quora-Dataset-Release-Question-Pairs",
)
