"""XTREME-R's UD-POS: XTREME's 33 languages plus lt pl uk wo ro (38).

Built from the XTREME spec (`tasks.xtreme.udpos`): training, labels, metric and the 33 XTREME languages
read google/xtreme `udpos.<Name>` (UD v2.5) exactly as `udpos` does. google/xtreme's 33 udpos configs are
XTREME's languages only, so the five additions come from the Hugging Face `universal_dependencies`
repository (UD v2.7, the release XTREME-R used), one config per treebank. As XTREME's preprocessing does,
a language's evaluation split is all its treebanks' rows of that split, concatenated (each treebank is one
source holding that language; a language is read from the sources that hold it). That repository is a
loading script, which `datasets` 5 cannot run: it is read from the hub's parquet conversion branch.
Multi-word token lines (UPOS "_", e.g. Polish fused forms) are dropped, as XTREME drops them, so every
word carries one of the 17 UPOS tags. Row counts of these treebanks are not stated (unverified here).
"""

from dataclasses import replace

from harness.spec import PARQUET_BRANCH, HFSource
from tasks.xtreme import udpos

EXTRA = ("lt", "pl", "uk", "wo", "ro")
"""The order of evaluate.py's XTREME_R_TASK2LANGS["udpos"]."""
LANGUAGES = udpos.LANGUAGES + EXTRA
UD_REPO = "universal-dependencies/universal_dependencies"
TREEBANKS = {
    "lt": {"lt_alksnis": ("train", "validation", "test"), "lt_hse": ("train", "validation", "test")},
    "pl": {"pl_lfg": ("train", "validation", "test"), "pl_pdb": ("train", "validation", "test"),
           "pl_pud": ("test",)},
    "uk": {"uk_iu": ("train", "validation", "test")},
    "wo": {"wo_wtb": ("train", "validation", "test")},
    "ro": {"ro_nonstandard": ("train", "validation", "test"), "ro_rrt": ("train", "validation", "test"),
           "ro_simonero": ("train", "validation", "test")},
}
"""UD v2.7 treebanks of each added language and the splits each has (PUD treebanks are test only)."""
MULTIWORD = "_"
"""The UPOS of a multi-word token line in `universal_dependencies` (its words follow on their own lines)."""


def drop_multiword(columns: dict[str, list]) -> dict[str, list]:
    """Remove the multi-word token lines (tag "_") from every sentence, keeping tokens and tags aligned."""
    tokens, tags = [], []
    for words, labels in zip(columns["tokens"], columns["tags"], strict=True):
        keep = [i for i, t in enumerate(labels) if t != MULTIWORD]
        tokens.append([words[i] for i in keep])
        tags.append([labels[i] for i in keep])
    return {**columns, "tokens": tokens, "tags": tags}


def treebank_sources(split: str) -> tuple[HFSource, ...]:
    """One source per (language, treebank) that has `split` ("train", "validation" or "test")."""
    return tuple(
        HFSource(repo=UD_REPO, config=config, split=split, revision=PARQUET_BRANCH,
                 fields={"tokens": "tokens", "tags": "upos"}, transform="tasks.xtreme_r.udpos:drop_multiword",
                 languages=(lang,))
        for lang, banks in TREEBANKS.items() for config, splits in banks.items() if split in splits
    )


def _split(xtreme: HFSource, split: str) -> tuple[HFSource, ...]:
    return (replace(xtreme, languages=xtreme.languages or udpos.LANGUAGES), *treebank_sources(split))


TASK = replace(
    udpos.TASK,
    name="udpos_xr",
    description="UD-POS in XTREME-R's 38 languages (XTREME's 33 + 5 from UD v2.7; seqeval F1 on raw tags)",
    languages=LANGUAGES,
    dev=_split(udpos.TASK.dev, "validation"),
    test=_split(udpos.TASK.test, "test"),
    suites=("xtreme_r",),
    aliases=(),
)
