"""Language codes: results use XTREME's 2-letter codes; ISO 639-3 codes are accepted on input.

The table holds the 3-letter codes of the XTREME/XTREME-R languages as Tatoeba and LASER spell them
(e.g. `pes` for Persian, `cmn` for Mandarin, `swh` for Swahili) plus the generic ISO 639-3 codes.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated

from pydantic import AfterValidator

from harness.errors import UserError, did_you_mean

ISO3_TO_ISO2: dict[str, str] = {
    "afr": "af", "ara": "ar", "aze": "az", "ben": "bn", "bul": "bg", "cmn": "zh", "deu": "de", "ell": "el",
    "eng": "en", "est": "et", "eus": "eu", "fas": "fa", "fin": "fi", "fra": "fr", "heb": "he", "hin": "hi",
    "hun": "hu", "ind": "id", "ita": "it", "jav": "jv", "jpn": "ja", "kat": "ka", "kaz": "kk", "kor": "ko",
    "lit": "lt", "mal": "ml", "mar": "mr", "msa": "ms", "mya": "my", "nld": "nl", "pes": "fa", "pol": "pl",
    "por": "pt", "ron": "ro", "rus": "ru", "spa": "es", "swa": "sw", "swh": "sw", "tam": "ta", "tel": "te",
    "tgl": "tl", "tha": "th", "tur": "tr", "ukr": "uk", "urd": "ur", "vie": "vi", "yor": "yo", "zho": "zh",
}


def to_iso2(code: str) -> str:
    """The 2-letter code of `code` (2-letter codes pass through, lower-cased)."""
    code = code.strip().lower()
    return ISO3_TO_ISO2.get(code, code)


LanguageCode = Annotated[str, AfterValidator(to_iso2)]
"""A language code in user config: ISO 639-3 (`deu`) is accepted and stored as XTREME's 2-letter code."""


def distinct(codes: list[str]) -> list[str]:
    """`codes` unchanged, or a ValueError naming the codes given twice (after normalisation)."""
    repeated = sorted({c for c in codes if codes.count(c) > 1})
    if repeated:
        raise ValueError(f"language(s) {repeated} listed more than once (ISO 639-3 codes count as their "
                         "2-letter code); list each once")
    return codes


def resolve_languages(codes: Sequence[str], known: Sequence[str], where: str) -> list[str]:
    """Normalise user-given codes to 2-letter ones of `known`; an unknown code is a UserError."""
    out = []
    for code in codes:
        lang = to_iso2(code)
        if lang not in known:
            raise UserError(f"{where}: '{code}' is not one of its languages{did_you_mean(lang, list(known))}")
        if lang not in out:
            out.append(lang)
    return out
