"""Cosmos QA (allenai/cosmos_qa): 4-way reading comprehension needing commonsense; answers answer0..3."""

from harness.spec import HFSource, TaskSpec

FIELDS = {"id": "id", "context": "context", "question": "question",
          "choices": ("answer0", "answer1", "answer2", "answer3"), "label": "label"}
TRANSFORM = "tasks.intermediate.multiple_choice:index_label"


def _source(split: str, rows: int) -> HFSource:
    return HFSource(repo="allenai/cosmos_qa", split=split, fields=FIELDS, transform=TRANSFORM,
                    expected_rows={"en": rows})


TASK = TaskSpec(
    name="cosmosqa",
    kind="multiple_choice",
    description="Cosmos QA, English 4-way commonsense reading comprehension (accuracy)",
    metric="accuracy",
    score_metrics=("accuracy",),
    train=_source("train", 25262),
    dev=_source("validation", 2985),
    role="intermediate",
    hparams={"epochs": 2, "max_seq_length": 256, "batch_size": 16},
    license="CC BY 4.0",
    citation="Huang, Le Bras, Bhagavatula, Choi. Cosmos QA: Machine Reading Comprehension with Contextual "
    "Commonsense Reasoning. EMNLP 2019.",
    homepage="https://wilburone.github.io/cosmos/",
    aliases=("cosmos_qa",),
)
