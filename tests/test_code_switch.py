"""The code_switch augmentation: outputs pinned for a seed on a hand-written dictionary, its invariants, its
errors, the MUSE fixture and a tiny end-to-end run."""

from __future__ import annotations

import json
import string
from pathlib import Path

import pytest
from conftest import TINY_HPARAMS, write_experiment

from baselines.augmentations.code_switch import augment, check_settings, read_dictionary
from harness.errors import UserError
from harness.offline import MARKERS, vocabulary
from tasks.fixtures.muse import LANGUAGES as MUSE_LANGUAGES

DE = "the der\nthe die\ncat Katze\nsat saß\nmat Matte\non auf\n\nbroken\n"
"""Two translations of "the", a blank line and a one-field line (skipped and counted)."""
FR = "the le\ncat chat\ndog chien\nsat était assis\n"
"""A two-word translation ("était assis")."""
WORDS = {"the", "cat", "sat", "mat", "on", "dog"}


@pytest.fixture
def dicts(tmp_path: Path) -> Path:
    (tmp_path / "en-de.txt").write_text(DE, encoding="utf-8")
    (tmp_path / "en-fr.txt").write_text(FR, encoding="utf-8")
    return tmp_path


def run(columns: dict, fields: tuple[str, ...], dicts: Path, seed: int = 13, languages=("de", "fr"),
        **settings) -> tuple[dict, dict]:
    return augment(columns, fields=fields, languages=list(languages), source_language="en",
                   settings={"dictionaries": str(dicts), **settings}, seed=seed)


CLASSIFICATION = {"id": ["a", "b"], "text_a": ["The cat sat on the mat.", "(Cat) and dog!"],
                  "text_b": ["A dog, hot.", None], "label": [0, 1]}
QA = {"id": ["q"], "context": ["The cat sat on the mat. The dog sat on the cat."],
      "question": ["Where did the cat sit?"], "answers": [{"text": ["the mat"], "answer_start": [15]}]}


def test_classification_output_is_pinned(dicts):
    out, record = run(CLASSIFICATION, ("text_a", "text_b"), dicts)
    assert out == {"id": ["a", "a-cs1", "b", "b-cs1"],
                   "text_a": ["The cat sat on the mat.", "The cat sat auf le Matte.", "(Cat) and dog!",
                              "(Cat) and chien!"],
                   "text_b": ["A dog, hot.", "A chien, hot.", None, None], "label": [0, 0, 1, 1]}
    assert record["dictionaries"]["de"] == {
        "file": "en-de.txt", "sha256": "08561f4a831e77c1be04755a1e80f1f40067cc96de19be36673c1a2b38b8bffd",
        "entries": 6, "words": 5, "skipped_lines": 1}
    assert record["dictionaries"]["fr"]["entries"] == 4
    assert {k: record[k] for k in ("name", "seed", "languages", "fields", "rows_in", "rows_augmented", "rows_out",
                                   "words_seen", "words_in_dictionary", "words_protected", "words_replaced",
                                   "replaced_by_language")} == {
        "name": "code_switch", "seed": 13, "languages": ["de", "fr"], "fields": ["text_a", "text_b"],
        "rows_in": 2, "rows_augmented": 2, "rows_out": 4, "words_seen": 12, "words_in_dictionary": 9,
        "words_protected": 0, "words_replaced": 5, "replaced_by_language": {"de": 2, "fr": 3}}
    assert record["settings"] == {"dictionaries": str(dicts), "rate": 0.5, "languages": None,
                                  "keep_original": True, "copies": 1, "max_examples": None}
    json.dumps(record)  # JSON-ready


def test_tagging_output_is_pinned_and_a_phrase_stays_one_token(dicts):
    columns = {"id": ["t"], "tokens": [["The", "cat", "sat", "on", "the", "mat", "."]], "tags": [list("ABCDEFG")]}
    out, _ = run(columns, ("tokens",), dicts, rate=1.0)
    assert out["tokens"][1] == ["le", "chat", "saß", "auf", "le", "Matte", "."]
    out, record = run(columns, ("tokens",), dicts, rate=1.0, languages=["fr"])
    assert out["tokens"][1] == ["le", "chat", "était assis", "on", "le", "mat", "."]
    assert out["tags"] == [list("ABCDEFG")] * 2 and record["languages"] == ["fr"]


def test_a_phrase_token_gets_one_tag_in_the_tagging_kind(dicts, offline_world):
    from transformers import AutoTokenizer

    from harness import registry
    from harness.hparams import Hparams
    from harness.kinds import get_kind

    columns = {"id": ["t"], "tokens": [["zorp", "sat", "quill"]], "tags": [["B-PER", "O", "B-LOC"]]}
    out, _ = run(columns, ("tokens",), dicts, rate=1.0, languages=["fr"], keep_original=False)
    assert out["tokens"] == [["zorp", "était assis", "quill"]]
    spec, kind = registry.task("panx"), get_kind("tagging")
    tokenizer = AutoTokenizer.from_pretrained(str(offline_world["model"]))
    (feature,) = kind.featurize(out, tokenizer, spec, Hparams(max_seq_length=64))
    labels = [feature["labels"][k] for k in feature["word_starts"]]
    assert labels == [spec.labels.index(t) for t in out["tags"][0]]


def test_span_qa_output_is_pinned_and_the_answer_span_is_kept(dicts):
    out, record = run(QA, ("question", "context"), dicts, rate=1.0)
    assert out["context"][1] == "die Katze était assis auf the mat. le chien saß auf der Katze."
    assert out["question"][1] == "Where did le Katze sit?"
    assert out["answers"][1] == {"text": ["the mat"], "answer_start": [26]}
    assert record["words_protected"] == 2 and QA["answers"][0]["answer_start"] == [15]  # input untouched


def test_multiple_choice_output_is_pinned(dicts):
    columns = {"id": ["m"], "context": ["The cat sat."], "question": ["What then?"],
               "choices": [["the dog ran", "On the mat"]], "label": [1]}
    out, _ = run(columns, ("context", "question", "choices"), dicts, rate=1.0)
    assert (out["context"][1], out["question"][1], out["choices"][1]) == (
        "le chat saß.", "What then?", ["le chien ran", "auf le Matte"])


def qa_rows(n: int) -> dict:
    """Contexts with one to three answers: inside, next to punctuation, mid-word, and at the edges."""
    words = ["the", "cat,", "sat", "(on)", "The", "mat.", "dog", "catalog", "runs"]
    ids, contexts, answers = [], [], []
    for i in range(n):
        context = " ".join(words[(i + k) % len(words)] for k in range(3 + i % 9))
        picks = sorted({(i * 7) % len(context), (i * 3) % len(context), 0})[: 1 + i % 3]
        texts = [context[p:p + 1 + (i + p) % 9] for p in picks]
        ids.append(f"r{i}")
        contexts.append(context)
        answers.append({"text": texts, "answer_start": picks})
    return {"id": ids, "context": contexts, "question": ["the cat?"] * n, "answers": answers}


def test_answer_spans_stay_consistent(dicts):
    columns = qa_rows(60)
    for rate in (0.5, 1.0):
        out, record = run(columns, ("question", "context"), dicts, rate=rate, copies=2)
        for context, answers in zip(out["context"], out["answers"], strict=True):
            for text, start in zip(answers["text"], answers["answer_start"], strict=True):
                assert context[start:start + len(text)] == text
        assert record["words_replaced"] > 0 and record["words_protected"] > 0
    listed = {**QA, "answers": [[{"text": "the mat", "answer_start": 15}]]}  # HF's list-of-dicts form
    out, _ = run(listed, ("question", "context"), dicts, rate=1.0)
    assert out["answers"][1] == [{"text": "the mat", "answer_start": 26}]


def test_determinism_and_row_order_independence(dicts):
    columns = qa_rows(30)
    out1, rec1 = run(columns, ("question", "context"), dicts, seed=5, copies=2, max_examples=10)
    out2, rec2 = run(columns, ("question", "context"), dicts, seed=5, copies=2, max_examples=10)
    assert out1 == out2 and rec1 == rec2
    reversed_columns = {k: v[::-1] for k, v in columns.items()}
    out3, rec3 = run(reversed_columns, ("question", "context"), dicts, seed=5, copies=2, max_examples=10)

    def by_id(out):
        return {i: tuple(json.dumps(out[k][n], sort_keys=True) for k in sorted(out)) for n, i in enumerate(out["id"])}

    assert by_id(out3) == by_id(out1) and rec3 == rec1
    out4, _ = run(columns, ("question", "context"), dicts, seed=6, copies=2, max_examples=10)
    assert out4["context"] != out1["context"]


def test_rate_zero_copies_unchanged_and_rate_one_replaces_every_dictionary_word(dicts):
    columns = {"id": ["x", "y"], "tokens": [["The", "cat", "ate", "dog's", "mat!"], ["Sat", "ON", "(the)", "zorp"]],
               "tags": [list("ABCDE"), list("FGHI")]}
    out, record = run(columns, ("tokens",), dicts, rate=0.0)
    assert out["tokens"] == [columns["tokens"][0]] * 2 + [columns["tokens"][1]] * 2
    assert record["words_replaced"] == 0 and record["words_in_dictionary"] == 6
    out, record = run(columns, ("tokens",), dicts, rate=1.0)
    assert record["words_replaced"] == record["words_in_dictionary"] == 6
    for original, copy in ((columns["tokens"][0], out["tokens"][1]), (columns["tokens"][1], out["tokens"][3])):
        for before, after in zip(original, copy, strict=True):
            replaced = before.strip(string.punctuation).lower() in WORDS  # "dog's" is not a dictionary word
            assert replaced == (before != after)
    assert out["tokens"][3][2][0] + out["tokens"][3][2][-1] == "()" and out["tags"][3] == list("FGHI")


def test_keep_original_copies_and_max_examples_counts(dicts):
    columns = {"id": [f"i{k}" for k in range(10)], "text_a": ["the cat"] * 10, "label": list(range(10))}
    out, record = run(columns, ("text_a",), dicts, copies=3)
    assert len(out["id"]) == record["rows_out"] == 40 and out["label"][:4] == [0, 0, 0, 0]
    assert out["id"][:4] == ["i0", "i0-cs1", "i0-cs2", "i0-cs3"]
    out, record = run(columns, ("text_a",), dicts, copies=2, keep_original=False)
    assert len(out["id"]) == record["rows_out"] == 20 and not set(out["id"]) & set(columns["id"])
    out, record = run(columns, ("text_a",), dicts, copies=2, keep_original=False, max_examples=4)
    assert len(out["id"]) == record["rows_out"] == 6 + 4 * 2 and record["rows_augmented"] == 4
    assert sum(i.endswith("-cs1") for i in out["id"]) == 4


def test_ids_are_unique_even_when_the_suffix_is_taken(dicts):
    columns = {"id": ["a", "a-cs1", "a-cs1.2"], "text_a": ["cat", "cat", "cat"], "label": [0, 1, 2]}
    out, _ = run(columns, ("text_a",), dicts)
    assert out["id"] == ["a", "a-cs1.3", "a-cs1", "a-cs1-cs1", "a-cs1.2", "a-cs1.2-cs1"]
    assert len(set(out["id"])) == len(out["id"]) and out["label"] == [0, 0, 1, 1, 2, 2]


@pytest.mark.parametrize(("settings", "message"), [
    ({}, r"^exp.yaml: arms\[2\].augment.dictionaries: Field required \(code_switch augmentation\)$"),
    ({"dictionaries": "d", "rate": 1.5}, r"^exp.yaml: arms\[2\].augment.rate: Input should be less than or equal"),
    ({"dictionaries": "d", "copies": 0}, r"^exp.yaml: arms\[2\].augment.copies: Input should be greater than"),
    ({"dictionaries": "d", "ratio": 0.5}, r"^exp.yaml: arms\[2\].augment.ratio: Extra inputs are not permitted"),
    ({"dictionaries": "d", "languages": ["de", "deu"]}, r"^exp.yaml: arms\[2\].augment.languages: .*more than once"),
    ({"dictionaries": "d", "max_examples": 0}, r"^exp.yaml: arms\[2\].augment.max_examples: Input should be"),
])
def test_bad_settings_are_one_line_errors(settings, message):
    with pytest.raises(UserError, match=message) as err:
        check_settings(settings, "exp.yaml: arms[2].augment")
    assert "\n" not in str(err.value)
    check_settings({"name": "code_switch", "dictionaries": "~/muse", "languages": ["deu"], "rate": 1}, "x")


def test_a_missing_dictionary_names_the_file(dicts, tmp_path):
    # a language the user listed must have its dictionary
    with pytest.raises(UserError, match=r"no dictionary .*en-sw.txt for language 'sw'; put the MUSE file") as err:
        augment(CLASSIFICATION, fields=("text_a",), languages=["de"], source_language="en", seed=13,
                settings={"dictionaries": str(dicts), "languages": ["de", "sw"]})
    assert "\n" not in str(err.value)
    # the target's own languages (the default pool) are switched into where a dictionary exists, the rest recorded
    _, record = run(CLASSIFICATION, ("text_a",), dicts, languages=("de", "sw", "spaeng"))
    assert record["languages"] == ["de"] and record["languages_without_dictionary"] == ["sw", "spaeng"]
    with pytest.raises(UserError, match=r"no dictionary en-<lang>.txt in .* for any of the target's languages"):
        run(CLASSIFICATION, ("text_a",), dicts, languages=("sw",))
    with pytest.raises(UserError, match=r"dictionaries directory .*nowhere not found"):
        run(CLASSIFICATION, ("text_a",), tmp_path / "nowhere")
    (dicts / "en-fr.txt").write_bytes(b"cat chat\nthe \xff\n")
    with pytest.raises(UserError, match=r"en-fr.txt is not UTF-8 text \(byte 13\)"):
        run(CLASSIFICATION, ("text_a",), dicts)
    with pytest.raises(UserError, match="no target language to switch into"):
        run(CLASSIFICATION, ("text_a",), dicts, languages=())


def test_the_muse_fixture_translates_fixture_words(offline_world):
    muse = offline_world["local"] / "muse"
    assert sorted(p.name for p in muse.glob("en-*.txt")) == [f"en-{lang}.txt" for lang in MUSE_LANGUAGES]
    de = read_dictionary(muse / "en-de.txt", "de")
    assert de.skipped_lines == 0 and 0.6 * 120 < len(de.translations) < de.entries < 2 * 120
    assert set(de.translations) <= set(vocabulary("en")) and not set(de.translations) & set(MARKERS)
    assert {t for ts in de.translations.values() for t in ts} <= set(vocabulary("de"))


def test_a_code_switched_target_runs_and_reruns_identically(offline_world, tmp_path):
    from harness.cli.run import run_experiment

    body = ("name: cs-test\nseeds: [1]\narms:\n  - {name: cs, augment: {name: code_switch, dictionaries: "
            f"{offline_world['local'] / 'muse'}, rate: 0.5}}}}\n"
            "targets:\n  - {task: xnli, languages: [en, de]}\n" + TINY_HPARAMS)
    exp = write_experiment(tmp_path / "exp.yaml", offline_world, body)
    metrics = []
    for runs in (tmp_path / "runs1", tmp_path / "runs2"):
        run_experiment(exp, runs, dry_run=False, allow_mixed=False)
        (target,) = runs.glob("target-xnli-*")
        (evaluate,) = runs.glob("evaluate-xnli-*")
        metrics.append(((target / "metrics.json").read_bytes(), (evaluate / "metrics.json").read_bytes()))
    assert metrics[0] == metrics[1]
    (record,) = json.loads(metrics[0][0])["augment"]
    assert (record["name"], record["languages"]) == ("code_switch", ["de"])
    assert record["dictionaries"]["de"]["file"] == "en-de.txt" and record["rows_out"] == 2 * record["rows_in"]
    assert 0 < record["words_replaced"] < record["words_in_dictionary"]
    assert record["replaced_by_language"] == {"de": record["words_replaced"]}
