"""LinCE named entity recognition, Spanish-English (CALCS 2018) and Hindi-English tweets, zero-shot from PAN-X en.

The model trains on English PAN-X (WikiANN: PER, ORG, LOC in IOB2), selects on English PAN-X dev and is scored
on LinCE's validation split with seqeval entity F1 (micro over entities), the NER score LinCE reports. Scores
are not comparable with LinCE's leaderboard, which counts every LinCE type; here LinCE's tags are mapped into
the training set (task setting `label_map`, the rest become `label_map_default` "O"), so only the types the
model can predict are gold entities:

- spaeng (PER, LOC, ORG, GROUP, TITLE, PROD, EVENT, TIME, OTHER): PER, LOC, ORG map to themselves. GROUP maps to
  ORG: its members (bands, sports teams, collectives) are tagged ORG in WikiANN, whose types come from the
  Wikipedia entity's class. TITLE (works), PROD, EVENT, TIME and OTHER have no PAN-X counterpart and become O.
- hineng (PERSON, ORGANISATION, PLACE): PERSON -> PER, ORGANISATION -> ORG, PLACE -> LOC; nothing becomes O.

With IOB2 tags, seqeval 0.0.12's chunking (harness/metrics/tagging.py) equals conlleval's; its quirks only
touch malformed sequences (an I- after O starts an entity in both).
"""

from __future__ import annotations

from harness.spec import TaskSpec
from tasks.lince import tagging_target
from tasks.xtreme import panx


def _bio(pairs: dict[str, str]) -> dict[str, str]:
    """{LinCE type: PAN-X type} as a tag map over both IOB2 prefixes."""
    return {f"{p}-{a}": f"{p}-{b}" for a, b in pairs.items() for p in ("B", "I")}


SPAENG_TYPES = ("PER", "LOC", "ORG", "GROUP", "TITLE", "PROD", "EVENT", "TIME", "OTHER")
HINENG_TYPES = ("PERSON", "ORGANISATION", "PLACE")
SPAENG_MAP = _bio({"PER": "PER", "LOC": "LOC", "ORG": "ORG", "GROUP": "ORG"})
HINENG_MAP = _bio({"PERSON": "PER", "ORGANISATION": "ORG", "PLACE": "LOC"})


def _task(lang: str, types_map: dict[str, str], mapping: str, citation: str) -> TaskSpec:
    return tagging_target(f"lince_ner_{lang}", lang, panx.TASK,
                          f"LinCE {lang} code-mixed NER, zero-shot from PAN-X en (entity F1 on LinCE validation)",
                          "seqeval_2020", ("f1",), types_map, "O", mapping, citation)


SPAENG = _task("spaeng", SPAENG_MAP, "GROUP->ORG; TITLE, PROD, EVENT, TIME, OTHER -> O",
               "Aguilar et al. Named Entity Recognition on Code-Switched Data: Overview of the CALCS 2018 Shared "
               "Task. CALCS 2018.")
HINENG = _task("hineng", HINENG_MAP, "PERSON->PER, ORGANISATION->ORG, PLACE->LOC",
               "Singh, Sen, Kumaraguru. Language Identification and Named Entity Recognition in Hinglish Code "
               "Mixed Tweets. ACL SRW 2018.")
