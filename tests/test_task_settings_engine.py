"""Engine settings the research-question tasks build on: training languages and their sampler, label maps,
a task's `prepare` function, per-arm task settings and the arm's `augment` plugin in the plan."""

from __future__ import annotations

from dataclasses import replace

import pytest
from conftest import write_experiment

from harness import registry
from harness.data.load import load_split, map_labels
from harness.data.mixing import LanguageSampler, language_counts, mix_languages, train_languages
from harness.data.settings import DataSettings
from harness.errors import UserError
from harness.experiment import load_experiment
from harness.plan import plan
from harness.spec import HFSource, TaskSpec


def _cols(lang: str, n: int) -> dict[str, list]:
    return {"id": [str(i) for i in range(n)], "text_a": [f"{lang}{i}" for i in range(n)], "label": ["0"] * n}


def test_language_counts_follow_the_sampler():
    sizes = {"en": 900, "de": 100}
    assert language_counts(sizes, LanguageSampler()) == sizes
    assert language_counts(sizes, LanguageSampler(name="uniform")) == {"en": 500, "de": 500}
    # T = 2: shares 30 : 10 of the 1000 rows
    assert language_counts(sizes, LanguageSampler(name="temperature", temperature=2)) == {"en": 750, "de": 250}
    assert language_counts(sizes, LanguageSampler(cap=200)) == {"en": 200, "de": 100}
    equal = language_counts({"a": 5, "b": 5, "c": 5}, LanguageSampler(name="temperature", temperature=3))
    assert equal == {"a": 5, "b": 5, "c": 5}


def test_mixing_is_seeded_shuffled_and_repeats_a_small_language():
    by_lang = {"en": _cols("en", 6), "de": _cols("de", 2)}
    uniform = LanguageSampler(name="uniform")
    columns, record = mix_languages(by_lang, uniform, seed=1)
    assert record["rows_drawn"] == {"en": 4, "de": 4} and record["rows_available"] == {"en": 6, "de": 2}
    assert len(set(columns["id"])) == 8  # repeats of de's two rows carry "#k"
    assert sorted(i for i in columns["id"] if i.startswith("de:")) == ["de:0", "de:0#1", "de:1", "de:1#1"]
    assert mix_languages(by_lang, uniform, seed=1)[0] == columns
    assert mix_languages(by_lang, uniform, seed=2)[0]["id"] != columns["id"]
    assert [t[:2] for t in columns["text_a"]] != sorted(t[:2] for t in columns["text_a"])  # interleaved
    with pytest.raises(UserError, match=r"no training rows in \['de'\]"):
        mix_languages({"en": _cols("en", 6), "de": _cols("de", 0)}, uniform, seed=1)


def test_train_languages_setting_resolves_against_the_train_split():
    source = HFSource(repo="x/y", config="{lang}", split="train", languages=("en", "de", "fr"))
    spec = TaskSpec(name="t", kind="classification", description="", metric="accuracy",
                    score_metrics=("accuracy",), languages=("en", "de", "fr", "sw"), train=source)
    assert train_languages(spec) == []
    assert train_languages(replace(spec, settings={"train_languages": "all"})) == ["en", "de", "fr"]
    assert train_languages(replace(spec, settings={"train_languages": ["deu", "en"]})) == ["de", "en"]
    with pytest.raises(UserError, match="'sw' is not one of its languages.*with training data \\(en, de, fr\\)"):
        train_languages(replace(spec, settings={"train_languages": ["sw"]}))
    with pytest.raises(UserError, match="expected \"all\" or a non-empty list"):
        train_languages(replace(spec, settings={"train_languages": "de"}))


def test_label_map_maps_labels_and_tags_with_a_default():
    spec = replace(registry.task("panx"), settings={"label_map": {"B-PERSON": "B-PER"}, "label_map_default": "O"})
    columns = {"id": ["a"], "tags": [["B-PERSON", "B-TIME", "O", "B-LOC"]]}
    mapped, changes = map_labels(columns, spec)
    assert mapped["tags"] == [["B-PER", "O", "O", "B-LOC"]]
    assert changes == {"B-PERSON->B-PER": 1, "B-TIME->O": 1}
    no_default = replace(spec, settings={"label_map": {}})
    with pytest.raises(UserError, match="label 'B-PERSON' is neither in its label_map nor in its label set"):
        map_labels(columns, no_default)
    assert map_labels(columns, registry.task("panx")) == (columns, {})


def double_rows(columns, *, split, lang, seed, settings):
    """A `prepare` function for the test: every row twice, the copy's id carrying the seed and a setting."""
    out = {k: list(v) * 2 for k, v in columns.items()}
    out["id"] = columns["id"] + [f"{i}/{seed}/{settings['tag']}/{split}/{lang}" for i in columns["id"]]
    return out


def test_prepare_runs_after_loading_with_the_seed(offline_world):
    spec = replace(registry.task("pawsx"), prepare="test_task_settings_engine:double_rows", settings={"tag": "x"})
    data = DataSettings(snapshot_root=str(offline_world["hub"]))
    plain, _ = load_split(registry.task("pawsx"), "dev", "de", data)
    columns, prov = load_split(spec, "dev", "de", data, seed=7)
    n = len(plain["id"])
    assert len(columns["id"]) == 2 * n and columns["id"][n] == f"{plain['id'][0]}/7/x/dev/de"
    assert prov["prepared"] == {"function": "test_task_settings_engine:double_rows", "seed": 7,
                                "rows_loaded": n, "rows": 2 * n}


BODY = """name: settings
seeds: [1]
arms:
  - none
  - {name: de, tasks: [mnli], task_settings: {mnli: {max_seq_length_note: 1}}}
  - {name: plain, tasks: [mnli]}
targets:
  - {task: pawsx, languages: [en, de]}
"""


def test_arm_task_settings_key_only_that_arm(offline_world, tmp_path):
    config = load_experiment(write_experiment(tmp_path / "e.yaml", offline_world, BODY))
    inter = {s.meta["arm"]: s for s in plan(config) if s.kind == "intermediate"}
    assert inter["de"].key != inter["plain"].key
    assert inter["de"].config["tasks"][0]["settings"]["max_seq_length_note"] == 1
    bad = BODY.replace("task_settings: {mnli:", "task_settings: {squad:")
    with pytest.raises(UserError, match=r"arms\[1\]\.task_settings\.squad: 'squad' is not one of this arm's tasks"):
        load_experiment(write_experiment(tmp_path / "bad.yaml", offline_world, bad))
    sampler = BODY.replace("max_seq_length_note: 1", "language_sampler: {name: warm}")
    with pytest.raises(UserError, match=r"arms\[1\]\.tasks\[0\]: mnli language_sampler.name"):
        load_experiment(write_experiment(tmp_path / "s.yaml", offline_world, sampler))


def test_augment_is_part_of_the_target_key_only_when_set(offline_world, tmp_path):
    body = BODY + "  - xnli\n"
    base = {s.key for s in plan(load_experiment(write_experiment(tmp_path / "a.yaml", offline_world, body)))}
    unknown = body.replace("{name: plain, tasks: [mnli]}", "{name: plain, tasks: [mnli], augment: {name: swap}}")
    with pytest.raises(UserError, match=r"arms\[2\]\.augment\.name: unknown augmentation 'swap'"):
        load_experiment(write_experiment(tmp_path / "u.yaml", offline_world, unknown))
    if "code_switch" not in registry.names("augmentation"):
        pytest.skip("no augmentation plugin installed")
    dicts = tmp_path / "muse"
    augmented = body.replace("{name: plain, tasks: [mnli]}",
                             f"{{name: plain, tasks: [mnli], augment: {{name: code_switch, dictionaries: {dicts}}}}}")
    stages = plan(load_experiment(write_experiment(tmp_path / "b.yaml", offline_world, augmented)))
    changed = [s for s in stages if s.key not in base]
    assert {(s.kind, s.meta["arm"]) for s in changed} == {("target", "plain"), ("evaluate", "plain")}
    pawsx = next(s for s in changed if s.kind == "target" and s.meta["task"] == "pawsx")
    assert pawsx.config["augment"] == {"name": "code_switch", "settings": {"dictionaries": str(dicts)},
                                       "languages": ["de"]}
    assert "baselines.augmentations.code_switch" in pawsx.code["modules"]
    # a code-mixed target names the languages an augmentation works into (its augment_languages setting)
    lince = plan(load_experiment(write_experiment(tmp_path / "c.yaml", offline_world,
                                                  augmented + "  - lince_ner_hineng\n")))
    (target,) = [s for s in lince if s.kind == "target" and s.meta == {"arm": "plain", "seed": 1,
                                                                        "task": "lince_ner_hineng"}]
    assert target.config["augment"]["languages"] == ["hi"]
    # a target evaluated in English only has nothing to augment towards: its stage is the plain one
    english = plan(load_experiment(write_experiment(tmp_path / "en.yaml", offline_world,
                                                    augmented + "  - {task: panx, languages: [en]}\n")))
    panx = [s for s in english if s.kind == "target" and s.meta["task"] == "panx"]
    assert len(panx) == 3 and all("augment" not in s.config for s in panx)  # none, de, plain: one each


def test_a_baseline_stays_out_of_the_stages_it_does_not_change(offline_world, tmp_path):
    body = BODY.replace("  - {name: plain, tasks: [mnli]}\n", """  - {name: plain, tasks: [mnli]}
  - name: tt
    tasks: [mnli]
    baseline: translate_train
    settings: {tasks: {xnli: {repo: facebook/xnli, config: "{lang}", languages: [de]}}}
""") + "  - {task: xnli, languages: [en, de]}\n"
    stages = plan(load_experiment(write_experiment(tmp_path / "tt.yaml", offline_world, body)))
    by_arm = {}
    for stage in stages:
        for use in stage.uses:
            by_arm[(use["arm"], stage.kind, use.get("task"))] = stage
    # mnli is not translated: the intermediate stage and the pawsx target are the plain arm's, shared
    assert by_arm[("tt", "intermediate", None)] is by_arm[("plain", "intermediate", None)]
    assert by_arm[("tt", "target", "pawsx")] is by_arm[("plain", "target", "pawsx")]
    xnli = by_arm[("tt", "target", "xnli")]
    assert xnli is not by_arm[("plain", "target", "xnli")] and xnli.config["baseline"] == "translate_train"
    assert "baselines.translate_train" in xnli.code["modules"]
    assert "baselines.translate_train" not in by_arm[("tt", "target", "pawsx")].code["modules"]
