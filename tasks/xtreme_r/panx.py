"""XTREME-R's PAN-X (WikiANN NER): XTREME's 40 languages plus qu pl uk az lt pa gu ro (48).

Built from the XTREME spec (`tasks.xtreme.panx`), so training, labels, metric and the 40 XTREME languages
read exactly the same data (google/xtreme `PAN-X.{lang}`); the eight extra languages, which google/xtreme
does not have, come from `unimelb-nlp/wikiann` (a parquet repository: one config per language code, columns
tokens, ner_tags, langs, spans; the same Rahimi et al. 2019 balanced splits and the same 7 IOB2 tags in the
same ClassLabel order). Each dev/test split is the pair of sources, and each language is read from the one
that holds it (`HFSource.languages`).
"""

from dataclasses import replace

from harness.spec import HFSource
from tasks.xtreme import panx

EXTRA = ("qu", "pl", "uk", "az", "lt", "pa", "gu", "ro")
"""XTREME-R's additions, in the order of evaluate.py's XTREME_R_TASK2LANGS["panx"]."""
LANGUAGES = panx.LANGUAGES + EXTRA
WIKIANN_ROWS = {
    "validation": {"qu": 100, "pl": 10000, "uk": 10000, "az": 1000, "lt": 10000, "pa": 100, "gu": 100,
                   "ro": 10000},
    "test": {"qu": 100, "pl": 10000, "uk": 10000, "az": 1000, "lt": 10000, "pa": 100, "gu": 100, "ro": 10000},
}
"""Rows of WikiANN's splits in the extra languages (its dataset_infos, as released with the loading script)."""


def _split(xtreme: HFSource, split: str) -> tuple[HFSource, HFSource]:
    wikiann = HFSource(repo="unimelb-nlp/wikiann", config="{lang}", split=split,
                       fields={"tokens": "tokens", "tags": "ner_tags"}, label_names=panx.NER_TAGS,
                       expected_rows=WIKIANN_ROWS[split], languages=EXTRA)
    return replace(xtreme, languages=panx.LANGUAGES), wikiann


TASK = replace(
    panx.TASK,
    name="panx_xr",
    description="PAN-X / WikiANN NER in XTREME-R's 48 languages (XTREME's 40 + WikiANN for 8; seqeval F1)",
    languages=LANGUAGES,
    dev=_split(panx.TASK.dev, "validation"),
    test=_split(panx.TASK.test, "test"),
    suites=("xtreme_r",),
    aliases=(),
    homepage="https://huggingface.co/datasets/unimelb-nlp/wikiann",
)
