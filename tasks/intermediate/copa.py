"""COPA (SuperGLUE, aps/super_glue config "copa"): English 2-way causal commonsense reasoning.

The hub repository is a loading script, so it is read from the hub's parquet conversion branch. The
question word ("cause"/"effect") becomes an English question after the premise, as XTREME-R does
(tasks.intermediate.multiple_choice:copa_inputs). XTREME-R trains on it after SIQA for XCOPA.
"""

from harness.spec import PARQUET_BRANCH, HFSource, TaskSpec

FIELDS = {"id": "idx", "context": "premise", "question": "question", "choices": ("choice1", "choice2"),
          "label": "label"}
TRANSFORM = "tasks.intermediate.multiple_choice:copa_inputs"


def source(split: str, rows: int) -> HFSource:
    """One split of SuperGLUE COPA on the parquet branch."""
    return HFSource(repo="aps/super_glue", split=split, config="copa", revision=PARQUET_BRANCH, fields=FIELDS,
                    transform=TRANSFORM, expected_rows={"en": rows})


TRAIN = source("train", 400)

TASK = TaskSpec(
    name="copa",
    kind="multiple_choice",
    description="COPA (SuperGLUE), English 2-way causal commonsense reasoning (accuracy)",
    metric="accuracy",
    score_metrics=("accuracy",),
    train=TRAIN,
    dev=source("validation", 100),
    role="intermediate",
    hparams={"epochs": 5, "lr": 2e-5, "max_seq_length": 128, "batch_size": 32},
    license="BSD 2-Clause",
    citation="Roemmele, Bejan, Gordon. Choice of Plausible Alternatives: An Evaluation of Commonsense Causal "
    "Reasoning. AAAI Spring Symposium 2011.",
    homepage="https://people.ict.usc.edu/~gordon/copa.html",
)
