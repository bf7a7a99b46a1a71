"""Social IQa (allenai/social_i_qa): English 3-way commonsense QA about social situations.

The hub repository is a loading script, so it is read from the hub's parquet conversion branch (config
"default"). Label "1".."3" names answerA..answerC. XTREME-R trains on it before COPA for XCOPA.
"""

from harness.spec import PARQUET_BRANCH, HFSource, TaskSpec

FIELDS = {"context": "context", "question": "question", "choices": ("answerA", "answerB", "answerC"),
          "label": "label"}
TRANSFORM = "tasks.intermediate.multiple_choice:numbered_label"


def source(split: str, rows: int) -> HFSource:
    """One split of Social IQa on the parquet branch."""
    return HFSource(repo="allenai/social_i_qa", split=split, config="default", revision=PARQUET_BRANCH,
                    fields=FIELDS, transform=TRANSFORM, expected_rows={"en": rows})


TRAIN = source("train", 33410)

TASK = TaskSpec(
    name="siqa",
    kind="multiple_choice",
    description="Social IQa, English 3-way social commonsense QA (accuracy)",
    metric="accuracy",
    score_metrics=("accuracy",),
    train=TRAIN,
    dev=source("validation", 1954),
    role="intermediate",
    hparams={"epochs": 5, "lr": 2e-5, "max_seq_length": 128, "batch_size": 32},
    license="CC BY 4.0",
    citation="Sap, Rashkin, Chen, Le Bras, Choi. Social IQa: Commonsense Reasoning about Social Interactions. "
    "EMNLP 2019.",
    homepage="https://leaderboard.allenai.org/socialiqa",
    aliases=("social_i_qa", "socialiqa"),
)
