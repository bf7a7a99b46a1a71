"""CommonsenseQA (tau/commonsense_qa): 5-way questions; choices{label, text}, answerKey a letter."""

from harness.spec import HFSource, TaskSpec

FIELDS = {"id": "id", "question": "question", "choices": "choices", "label": "answerKey"}
TRANSFORM = "tasks.intermediate.multiple_choice:lettered_choices"


def _source(split: str, rows: int) -> HFSource:
    return HFSource(repo="tau/commonsense_qa", split=split, fields=FIELDS, transform=TRANSFORM,
                    expected_rows={"en": rows})


TASK = TaskSpec(
    name="commonsenseqa",
    kind="multiple_choice",
    description="CommonsenseQA, English 5-way commonsense questions (accuracy)",
    metric="accuracy",
    score_metrics=("accuracy",),
    train=_source("train", 9741),
    dev=_source("validation", 1221),
    role="intermediate",
    hparams={"epochs": 2, "max_seq_length": 256, "batch_size": 16},
    license="MIT",
    citation="Talmor, Herzig, Lourie, Berant. CommonsenseQA: A Question Answering Challenge Targeting "
    "Commonsense Knowledge. NAACL 2019.",
    homepage="https://www.tau-nlp.sites.tau.ac.il/commonsenseqa",
    aliases=("commonsense_qa", "csqa"),
)
