"""ANLI (adversarial NLI, rounds R1-R3) and ANLI+ (the rounds with SNLI and MNLI under one NLI head).

X-STILTs' "ANLI+" trains one 3-way head on the concatenation of ANLI R1+R2+R3, SNLI and MNLI; the
rounds are also registered alone (anli_r1, anli_r2, anli_r3). Labels share MNLI's ClassLabel order.
SNLI rows without a gold label (label -1) are dropped.
"""

from harness.spec import HFSource, TaskSpec
from tasks.intermediate.mnli import MNLI_TRAIN, NLI_LABELS

ANLI_FIELDS = {"id": "uid", "text_a": "premise", "text_b": "hypothesis", "label": "label"}
ROUNDS = {"r1": (16946, 1000, 1000), "r2": (45460, 1000, 1000), "r3": (100459, 1200, 1200)}
"""Round -> (train, dev, test) rows of facebook/anli."""
CITATION = ("Nie, Williams, Dinan, Bansal, Weston, Kiela. Adversarial NLI: A New Benchmark for Natural "
            "Language Understanding. ACL 2020.")


def anli_source(split: str, rnd: str, rows: int) -> HFSource:
    return HFSource(repo="facebook/anli", config="plain_text", split=f"{split}_{rnd}", fields=ANLI_FIELDS,
                    label_names=NLI_LABELS, expected_rows={"en": rows})


SNLI_TRAIN = HFSource(
    repo="stanfordnlp/snli",
    config="plain_text",
    split="train",
    fields={"text_a": "premise", "text_b": "hypothesis", "label": "label"},
    label_names=NLI_LABELS,
    where=(("label", "!=", "-1"),),
    expected_rows={"en": 549367},  # 550,152 pairs, 785 without a gold label
)


def _task(name: str, rounds: tuple[str, ...], extra: tuple = (), description: str = "") -> TaskSpec:
    return TaskSpec(
        name=name,
        kind="classification",
        description=description,
        metric="accuracy",
        score_metrics=("accuracy",),
        labels=NLI_LABELS,
        train=tuple(anli_source("train", r, ROUNDS[r][0]) for r in rounds) + extra,
        dev=tuple(anli_source("dev", r, ROUNDS[r][1]) for r in rounds),
        test=tuple(anli_source("test", r, ROUNDS[r][2]) for r in rounds),
        role="intermediate",
        hparams={"epochs": 2, "max_seq_length": 256},
        license="CC BY-NC 4.0 (ANLI); CC BY-SA 4.0 (SNLI); mixed (MNLI)",
        citation=CITATION,
        homepage="https://github.com/facebookresearch/anli",
    )


TASK = _task("anli", ("r1", "r2", "r3"), (SNLI_TRAIN, MNLI_TRAIN),
             "ANLI+: ANLI R1-R3 with SNLI and MNLI under one NLI head (dev/test: ANLI R1-R3)")
R1 = _task("anli_r1", ("r1",), description="ANLI round 1 alone")
R2 = _task("anli_r2", ("r2",), description="ANLI round 2 alone")
R3 = _task("anli_r3", ("r3",), description="ANLI round 3 alone")
