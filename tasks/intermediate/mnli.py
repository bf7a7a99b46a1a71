"""MNLI (GLUE): English 3-way NLI; the paper's strongest intermediate task and XNLI's training set."""

from harness.spec import HFSource, TaskSpec

NLI_LABELS = ("entailment", "neutral", "contradiction")
FIELDS = {"id": "idx", "text_a": "premise", "text_b": "hypothesis", "label": "label"}


def _mnli(split: str, rows: int) -> HFSource:
    return HFSource(repo="nyu-mll/glue", config="mnli", split=split, fields=FIELDS, label_names=NLI_LABELS,
                    expected_rows={"en": rows})


MNLI_TRAIN = _mnli("train", 392702)

TASK = TaskSpec(
    name="mnli",
    kind="classification",
    description="MultiNLI, English natural language inference (GLUE)",
    metric="accuracy",
    score_metrics=("accuracy",),
    labels=NLI_LABELS,
    train=MNLI_TRAIN,
    dev=_mnli("validation_matched", 9815),
    role="intermediate",
    hparams={"epochs": 2, "max_seq_length": 256},
    license="mixed (OANC, CC BY 3.0 and others; see the MultiNLI paper)",
    citation="Williams, Nangia, Bowman. A Broad-Coverage Challenge Corpus for Sentence Understanding "
    "through Inference. NAACL 2018.",
    homepage="https://cims.nyu.edu/~sbowman/multinli/",
    aliases=("multinli",),
)
