"""The MLM corpus is streamed: max_sentences lines in order, and nothing past them is read."""

from __future__ import annotations

import os
from types import SimpleNamespace

import pytest

from baselines.mlm import TASK_NAME, load_corpus, parse_settings
from harness.data.load import stream_column
from harness.data.settings import DataSettings
from harness.data.snapshot import write_snapshot
from harness.errors import UserError
from harness.spec import HFSource

REPO = "wikimedia/wikipedia"
SOURCE = HFSource(repo=REPO, config="20231101.{lang}", split="train", fields={"text": "text"})


def _article(lang: str, i: int) -> str:
    """An article of three paragraphs with blank and padded lines, like a Wikipedia row."""
    return f"{lang} {i} first\n\n  {lang} {i} second  \n\n\n{lang} {i} third\n"


def _wiki(tmp_path, articles: int = 20, shards: int = 2, langs: tuple[str, ...] = ("en",)):
    root = tmp_path / "hub" / REPO
    configs = {f"20231101.{lang}": {"train": {"id": [str(i) for i in range(articles)],
                                              "title": [f"t{i}" for i in range(articles)],
                                              "text": [_article(lang, i) for i in range(articles)]}}
               for lang in langs}
    write_snapshot(root, configs, shards=shards)
    return root


def _lines(lang: str, n: int) -> list[str]:
    return [f"{lang} {i} {p}" for i in range(n) for p in ("first", "second", "third")]


def _corrupt_second_shard(root, config: str = "20231101.en") -> None:
    shard = root / config / "train-00001-of-00002.parquet"
    assert shard.exists()
    shard.write_bytes(os.urandom(4096))


def test_limit_lines_come_back_in_order_with_provenance(tmp_path):
    _wiki(tmp_path)
    settings = DataSettings(snapshot_root=str(tmp_path / "hub"))
    texts, prov = stream_column(SOURCE, "en", settings, limit=7, split_lines=True)
    assert texts == _lines("en", 3)[:7]
    assert prov["rows"] == 7 and prov["rows_read"] == 3 and prov["streamed"] is True and prov["limit"] == 7
    assert prov["revision"].startswith("local-") and prov["snapshot"] and prov["config"] == "20231101.en"
    texts, prov = stream_column(SOURCE, "en", settings)  # no limit, whole rows
    assert texts == [_article("en", i) for i in range(20)] and prov["rows_read"] == 20


def test_nothing_past_the_limit_is_read(tmp_path):
    """Shard 2 is garbage: a limit reached within shard 1 loads; reading on into shard 2 fails."""
    root = _wiki(tmp_path)
    _corrupt_second_shard(root)
    settings = DataSettings(snapshot_root=str(tmp_path / "hub"))
    texts, prov = stream_column(SOURCE, "en", settings, limit=30, split_lines=True)  # shard 1 = 10 articles
    assert texts == _lines("en", 10) and prov["rows_read"] == 10
    with pytest.raises(UserError, match=f"cannot load dataset .*{REPO}"):
        stream_column(SOURCE, "en", settings, limit=31, split_lines=True)


def test_hub_id_goes_through_load_dataset_streaming_with_the_pinned_revision(monkeypatch):
    import datasets

    calls = []

    def fake_load_dataset(location, config, **kwargs):
        calls.append((location, config, kwargs))
        return iter([{"text": "a\nb"}, {"text": "c"}, {"text": "never read"}])

    monkeypatch.setattr(datasets, "load_dataset", fake_load_dataset)
    sha = "a" * 40
    texts, prov = stream_column(SOURCE, "de", DataSettings(revisions={TASK_NAME: sha}), limit=3,
                                split_lines=True, name=TASK_NAME)
    assert texts == ["a", "b", "c"] and prov["revision"] == sha and prov["snapshot"] is None
    assert calls == [(REPO, "20231101.de", {"split": "train", "revision": sha, "cache_dir": None,
                                            "streaming": True})]


def test_missing_text_column_is_a_user_error(tmp_path):
    _wiki(tmp_path)
    source = HFSource(repo=REPO, config="20231101.{lang}", split="train", fields={"text": "body"})
    with pytest.raises(UserError, match="has no column 'body'"):
        stream_column(source, "en", DataSettings(snapshot_root=str(tmp_path / "hub")), limit=5)


def _ctx(tmp_path) -> SimpleNamespace:
    return SimpleNamespace(data=DataSettings(snapshot_root=str(tmp_path / "hub")), provenance=[])


def test_mlm_baseline_reads_max_sentences_paragraphs_per_language(tmp_path):
    root = _wiki(tmp_path, langs=("en", "de"))
    _corrupt_second_shard(root, "20231101.de")
    ctx = _ctx(tmp_path)
    settings = parse_settings({"languages": ["en", "de"], "max_sentences": 5,
                               "hf": {"repo": REPO, "config": "20231101.{lang}", "text": "text"}})
    corpus, sizes, sizes_from = load_corpus(ctx, settings)
    assert corpus == {"en": _lines("en", 2)[:5], "de": _lines("de", 2)[:5]}
    assert sizes == {"en": 5, "de": 5} and sizes_from.startswith("lines read")  # the snapshot states no sizes
    assert [(p["task"], p["split"], p["language"], p["rows"], p["rows_read"]) for p in ctx.provenance] == [
        (TASK_NAME, "train", "en", 5, 2), (TASK_NAME, "train", "de", 5, 2)]
    assert all(p["repo"] == REPO and p["revision"].startswith("local-") for p in ctx.provenance)


def test_mlm_baseline_without_max_sentences_reads_the_whole_corpus(tmp_path):
    _wiki(tmp_path)
    ctx = _ctx(tmp_path)
    settings = parse_settings({"languages": ["en"], "hf": {"repo": REPO, "config": "20231101.{lang}"}})
    assert load_corpus(ctx, settings)[0] == {"en": _lines("en", 20)}
    assert ctx.provenance[0]["rows_read"] == 20 and ctx.provenance[0]["limit"] is None


def test_language_shares_come_from_corpus_sizes_not_from_the_capped_counts(tmp_path):
    """max_sentences cuts every big corpus to the same count; the temperature must still see their sizes."""
    from baselines.mlm import mix_languages

    (tmp_path / "en.txt").write_text("".join(f"en {i}\n" for i in range(900)))
    (tmp_path / "sw.txt").write_text("".join(f"sw {i}\n" for i in range(100)))
    ctx = _ctx(tmp_path)
    settings = parse_settings({"languages": ["en", "sw"], "dir": str(tmp_path), "max_sentences": 50})
    corpus, sizes, sizes_from = load_corpus(ctx, settings)
    assert {k: len(v) for k, v in corpus.items()} == {"en": 50, "sw": 50}
    assert sizes == {"en": 900, "sw": 100} and sizes_from.startswith("corpus")
    proportional = mix_languages(corpus, 1.0, seed=0, sizes=sizes)  # T = 1: shares 9 : 1
    assert sum(t.startswith("en") for t in proportional) == 90 and len(proportional) == 100
    flattened = mix_languages(corpus, 1e6, seed=0, sizes=sizes)  # T -> infinity: uniform
    assert sum(t.startswith("en") for t in flattened) == 50
    explicit = parse_settings({"languages": ["en", "sw"], "dir": str(tmp_path), "max_sentences": 50,
                               "sizes": {"en": 1, "swh": 1}})  # ISO 639-3 keys are normalised too
    assert load_corpus(ctx, explicit)[1:] == ({"en": 1, "sw": 1}, "settings.sizes")
