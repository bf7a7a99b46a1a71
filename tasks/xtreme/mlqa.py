"""MLQA: extractive QA in 7 languages; XTREME evaluates context language == question language."""

from harness.spec import HFSource, Submission, TaskSpec
from tasks.xtreme.xquad import QA_FIELDS, QA_HPARAMS, QA_SETTINGS, SQUAD_TRAIN

LANGUAGES = ("en", "es", "de", "ar", "hi", "vi", "zh")
DEV_ROWS = {"en": 1148, "es": 500, "de": 512, "ar": 517, "hi": 507, "vi": 511, "zh": 504}
TEST_ROWS = {"en": 11590, "es": 5253, "de": 4517, "ar": 5335, "hi": 4918, "vi": 5495, "zh": 5137}


def _mlqa(split: str, expected: dict[str, int]) -> HFSource:
    return HFSource(
        repo="google/xtreme",
        config="MLQA.{lang}.{lang}",
        split=split,
        fields=QA_FIELDS,
        expected_rows=expected,
    )


TASK = TaskSpec(
    name="mlqa",
    kind="span_qa",
    description="MLQA extractive QA (train: SQuAD v1.1; MLQA EM/F1 with per-language normalisation)",
    metric="mlqa",
    score_metrics=("exact_match", "f1"),
    languages=LANGUAGES,
    train=SQUAD_TRAIN,
    dev=_mlqa("validation", DEV_ROWS),
    test=_mlqa("test", TEST_ROWS),
    suites=("xtreme", "xtreme_r"),
    submission=Submission(folder="mlqa", ext="json"),
    hparams=QA_HPARAMS,
    settings=QA_SETTINGS,
    license="CC BY-SA 3.0",
    citation="Lewis et al. MLQA: Evaluating Cross-lingual Extractive Question Answering. ACL 2020.",
    homepage="https://github.com/facebookresearch/MLQA",
)
