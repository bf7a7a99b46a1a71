"""XTREME-R's Tatoeba: XTREME's 36 languages plus az lt pl uk ro (41), retrieval against English.

Built from the XTREME spec (`tasks.xtreme.tatoeba`): the 36 XTREME languages read google/xtreme
`tatoeba.{iso3}` as before. google/xtreme has no configs for the five additions (its 36 `tatoeba.*`
configs are XTREME's); they are read from `mteb/tatoeba-bitext-mining`, which holds the same LASER Tatoeba
v1 test pairs as configs `{iso3}-eng` (split `test`; columns sentence1 = the non-English sentence,
sentence2 = its English translation). Its row counts are not stated here (unverified: up to 1,000 pairs
each, as LASER's files).

XTREME-R evaluates Tatoeba with an encoder fine-tuned on SQuAD v1.1 (see the README, "XTREME-R"); that is
a setting of the experiment's retrieval targets, not of this spec: the target entry
`{task: tatoeba_xr, encoder_from: squad}` plans a squad target stage (from the arm's intermediate encoder)
and evaluates its encoder. The evaluation's key, stage.json and metrics.json record `encoder_from`, so
zero-shot and SQuAD-tuned numbers of the same data are never mixed.
"""

from dataclasses import replace

from harness.spec import HFSource
from tasks.xtreme import tatoeba

EXTRA = ("az", "lt", "pl", "uk", "ro")
"""The order of evaluate.py's XTREME_R_TASK2LANGS["tatoeba"]."""
LANGUAGES = tatoeba.LANGUAGES + EXTRA
ISO3 = {"az": "aze", "lt": "lit", "pl": "pol", "uk": "ukr", "ro": "ron"}
"""2-letter code -> the 3-letter code of LASER's Tatoeba files and of the mteb configs."""

MTEB = HFSource(repo="mteb/tatoeba-bitext-mining", config="{lang_name}-eng", split="test", lang_names=ISO3,
                fields={"src_text": "sentence1", "trg_text": "sentence2"}, languages=EXTRA)

TASK = replace(
    tatoeba.TASK,
    name="tatoeba_xr",
    description="Tatoeba retrieval in XTREME-R's 41 languages (XTREME's 36 + 5 from mteb; top-1 accuracy)",
    languages=LANGUAGES,
    test=(replace(tatoeba.TASK.test, languages=tatoeba.LANGUAGES), MTEB),
    suites=("xtreme_r",),
)
