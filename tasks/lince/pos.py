"""LinCE part-of-speech tagging, Spanish-English and Hindi-English, zero-shot from UD-POS en (token accuracy).

The model trains on English UD v2.5 (the 17 UPOS tags), selects on English UD dev and is scored on LinCE's
validation split with token accuracy, the POS score LinCE reports. LinCE's tag sets are UD v1-style; the task
setting `label_map` names the one UPOS tag each tag stands for, anything else becomes `label_map_default` "X":

- spaeng (ADJ ADP ADV AUX CONJ DET INTJ NOUN NUM PART PRON PROPN PUNCT SCONJ UNK VERB X): CONJ is UD v1's name of
  v2's CCONJ; UNK (tokens the annotators left unknown) -> X, UPOS's tag for tokens without a category.
- hineng (ADJ ADP ADV CONJ DET NOUN NUM PART PART_NEG PRON PRON_WH PROPN VERB X): CONJ -> CCONJ; the two refined
  tags fold into their UPOS parents, PART_NEG -> PART (UD tags negation particles PART) and PRON_WH -> PRON.
"""

from __future__ import annotations

from harness.spec import TaskSpec
from tasks.lince import tagging_target
from tasks.xtreme import udpos

SPAENG_TAGS = ("ADJ", "ADP", "ADV", "AUX", "CONJ", "DET", "INTJ", "NOUN", "NUM", "PART", "PRON", "PROPN", "PUNCT",
               "SCONJ", "UNK", "VERB", "X")
HINENG_TAGS = ("ADJ", "ADP", "ADV", "CONJ", "DET", "NOUN", "NUM", "PART", "PART_NEG", "PRON", "PRON_WH", "PROPN",
               "VERB", "X")
SPAENG_MAP = {"CONJ": "CCONJ", "UNK": "X"}
HINENG_MAP = {"CONJ": "CCONJ", "PART_NEG": "PART", "PRON_WH": "PRON"}


def _task(lang: str, tag_map: dict[str, str], citation: str) -> TaskSpec:
    return tagging_target(f"lince_pos_{lang}", lang, udpos.TASK,
                          f"LinCE {lang} code-mixed POS tagging, zero-shot from UD-POS en (token accuracy on LinCE "
                          "validation)", "token_accuracy", ("accuracy",), tag_map, "X",
                          ", ".join(f"{a}->{b}" for a, b in tag_map.items()) + "; other tags -> X", citation)


SPAENG = _task("spaeng", SPAENG_MAP, "AlGhamdi et al. Part of Speech Tagging for Code Switched Data. CALCS 2016.")
HINENG = _task("hineng", HINENG_MAP, "Singh, Sen, Kumaraguru. A Twitter Corpus for Hindi-English Code Mixed POS "
               "Tagging. SocialNLP 2018.")
