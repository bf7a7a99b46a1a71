"""HellaSwag (Rowan/hellaswag): 4-way commonsense sentence completion; label is a string ("" in test)."""

from harness.spec import HFSource, TaskSpec

FIELDS = {"id": "ind", "context": "ctx", "choices": "endings", "label": "label"}
TRANSFORM = "tasks.intermediate.multiple_choice:index_label"


def _source(split: str, rows: int) -> HFSource:
    return HFSource(repo="Rowan/hellaswag", split=split, fields=FIELDS, transform=TRANSFORM,
                    expected_rows={"en": rows})


TASK = TaskSpec(
    name="hellaswag",
    kind="multiple_choice",
    description="HellaSwag, English 4-way commonsense completion (accuracy)",
    metric="accuracy",
    score_metrics=("accuracy",),
    train=_source("train", 39905),
    dev=_source("validation", 10042),
    role="intermediate",
    hparams={"epochs": 2, "max_seq_length": 256, "batch_size": 16},
    license="MIT",
    citation="Zellers, Holtzman, Bisk, Farhadi, Choi. HellaSwag: Can a Machine Really Finish Your Sentence? "
    "ACL 2019.",
    homepage="https://rowanzellers.com/hellaswag/",
)
