"""XTREME-R's XQuAD: XTREME's 11 languages plus Romanian (12).

Built from the XTREME spec (`tasks.xtreme.xquad`): same SQuAD v1.1 training and dev data, same 11 test
sets (google/xtreme `XQuAD.{lang}`). google/xtreme has no Romanian XQuAD; it is read from `google/xquad`
(config `xquad.ro`, one `validation` split of 1,190 questions, the same columns id, context, question,
answers as google/xtreme's QA configs).
"""

from dataclasses import replace

from harness.spec import HFSource
from tasks.xtreme import xquad

EXTRA = ("ro",)
LANGUAGES = xquad.LANGUAGES + EXTRA
"""The order of evaluate.py's XTREME_R_TASK2LANGS["xquad"]."""

ROMANIAN = HFSource(repo="google/xquad", config="xquad.{lang}", split="validation", fields=xquad.QA_FIELDS,
                    expected_rows={"ro": 1190}, languages=EXTRA)

TASK = replace(
    xquad.TASK,
    name="xquad_xr",
    description="XQuAD in XTREME-R's 12 languages (XTREME's 11 + ro from google/xquad; SQuAD v1.1 EM/F1)",
    languages=LANGUAGES,
    test=(replace(xquad.TASK.test, languages=xquad.LANGUAGES), ROMANIAN),
    suites=("xtreme_r",),
)
