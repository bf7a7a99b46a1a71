"""UD-POS: part-of-speech tagging on Universal Dependencies v2.5 treebanks in 33 languages.

The official XTREME score is seqeval 0.0.12 chunk F1 applied to raw UPOS tags (see
harness/metrics/tagging.py for the quirk); token accuracy is reported beside it.
"""

from harness.spec import HFSource, Submission, TaskSpec

LANGUAGES = (
    "af", "ar", "bg", "de", "el", "en", "es", "et", "eu", "fa", "fi", "fr", "he", "hi", "hu", "id", "it",
    "ja", "kk", "ko", "mr", "nl", "pt", "ru", "ta", "te", "th", "tl", "tr", "ur", "vi", "yo", "zh",
)
UPOS = (
    "ADJ", "ADP", "ADV", "AUX", "CCONJ", "DET", "INTJ", "NOUN", "NUM", "PART", "PRON", "PROPN", "PUNCT",
    "SCONJ", "SYM", "VERB", "X",
)
"""The 17 UPOS tags in the ClassLabel order of google/xtreme `udpos.*`."""
LANG_NAMES = {
    "af": "Afrikaans", "ar": "Arabic", "bg": "Bulgarian", "de": "German", "el": "Greek", "en": "English",
    "es": "Spanish", "et": "Estonian", "eu": "Basque", "fa": "Persian", "fi": "Finnish", "fr": "French",
    "he": "Hebrew", "hi": "Hindi", "hu": "Hungarian", "id": "Indonesian", "it": "Italian", "ja": "Japanese",
    "kk": "Kazakh", "ko": "Korean", "mr": "Marathi", "nl": "Dutch", "pt": "Portuguese", "ru": "Russian",
    "ta": "Tamil", "te": "Telugu", "th": "Thai", "tl": "Tagalog", "tr": "Turkish", "ur": "Urdu",
    "vi": "Vietnamese", "yo": "Yoruba", "zh": "Chinese",
}
"""Config names are `udpos.<EnglishName>` (dataset card of google/xtreme, `dataset_info`)."""


TEST_ONLY = ("th", "tl", "yo")
"""Treebanks with a test set only (UD v2.5 as packaged by XTREME)."""
NO_DEV = ("kk", *TEST_ONLY)
"""Languages without a validation split: evaluated on test only, never on dev."""


def _udpos(split: str, expected: dict[str, int], languages: tuple[str, ...] | None = None) -> HFSource:
    return HFSource(
        repo="google/xtreme",
        config="udpos.{lang_name}",
        split=split,
        fields={"tokens": "tokens", "tags": "pos_tags"},
        label_names=UPOS,
        lang_names=LANG_NAMES,
        expected_rows=expected,
        languages=languages,
    )


TASK = TaskSpec(
    name="udpos",
    kind="tagging",
    description="UD-POS part-of-speech tagging (UD v2.5; official score: seqeval 0.0.12 F1 on raw tags)",
    metric="seqeval_2020",
    score_metrics=("f1",),
    languages=LANGUAGES,
    labels=UPOS,
    train=_udpos("train", {"en": 21253}),
    dev=_udpos("validation", {"en": 3974}, tuple(lang for lang in LANGUAGES if lang not in NO_DEV)),
    test=_udpos("test", {"en": 5440}),
    suites=("xtreme", "xtreme_r"),
    submission=Submission(folder="udpos", ext="tsv"),
    hparams={"epochs": 10, "max_seq_length": 256},
    license="Universal Dependencies v2.5 (per-treebank licences)",
    citation="Nivre et al. Universal Dependencies v2.5. LINDAT/CLARIN, 2019.",
    homepage="https://universaldependencies.org/",
    aliases=("ud-pos",),
)
