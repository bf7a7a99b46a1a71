"""XCOPA: causal commonsense reasoning in 11 languages (2 choices); XTREME-R's multiple-choice task.

Data: cambridgeltl/xcopa, one config per language (100 validation / 500 test rows), read from the hub's
parquet conversion branch because the repository is a loading script. There is no English XCOPA: as in
XTREME-R's recipe (google-research/xtreme scripts/train_xcopa.sh) the target phase trains on English Social
IQa, then on English COPA, one model and head carried through (a TrainChain, 5 epochs each), and evaluates
zero-shot. Input: the premise followed by "What was the cause?" or "What was the effect?" (XTREME-R's
run_xcopa.py wording, English in every language), paired with each choice. XCOPA's validation rows exist only
in the target languages, so there is no English dev split and training runs its epochs without early
stopping, as XTREME-R does; an experiment that selects on the target languages (`early_stop_on: target`)
uses them. Submission: xcopa/test-{lang}.jsonl, {"label": index} per line (evaluate.py's read_xcopa).
"""

from harness.spec import PARQUET_BRANCH, HFSource, Submission, TaskSpec, TrainChain, TrainStep
from tasks.intermediate import copa, siqa

LANGUAGES = ("et", "ht", "id", "it", "qu", "sw", "ta", "th", "tr", "vi", "zh")
FIELDS = copa.FIELDS
TRANSFORM = copa.TRANSFORM


def _xcopa(split: str, rows: int) -> HFSource:
    return HFSource(repo="cambridgeltl/xcopa", split=split, config="{lang}", revision=PARQUET_BRANCH,
                    fields=FIELDS, transform=TRANSFORM, languages=LANGUAGES,
                    expected_rows={lang: rows for lang in LANGUAGES})


TASK = TaskSpec(
    name="xcopa",
    kind="multiple_choice",
    description="XCOPA causal commonsense reasoning, 11 languages (train: English SIQA, then COPA)",
    metric="accuracy",
    score_metrics=("accuracy",),
    languages=LANGUAGES,
    train=TrainChain((TrainStep("siqa", siqa.TRAIN, {"epochs": 5}), TrainStep("copa", copa.TRAIN, {"epochs": 5}))),
    dev=_xcopa("validation", 100),
    test=_xcopa("test", 500),
    suites=("xtreme-r",),
    submission=Submission(folder="xcopa", ext="jsonl"),
    hparams={"lr": 2e-5, "max_seq_length": 128, "batch_size": 32},
    license="CC BY 4.0",
    citation="Ponti, Glavaš, Majewska, Liu, Vulić, Korhonen. XCOPA: A Multilingual Dataset for Causal "
    "Commonsense Reasoning. EMNLP 2020.",
    homepage="https://github.com/cambridgeltl/xcopa",
)
