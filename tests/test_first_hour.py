"""Mistakes a new user makes in the first hour: each is one clear line (exit 2), never a wrong number."""

from __future__ import annotations

import pytest

from harness.errors import UserError
from harness.experiment import load_experiment

HEAD = "name: t\nmodel: /nonexistent/model\narms: [none]\n"


def _load(tmp_path, body: str):
    path = tmp_path / "exp.yaml"
    path.write_text(HEAD + body)
    return load_experiment(path)


@pytest.mark.parametrize("body, message", [
    ("targets: [xnli, {task: xnli, languages: [fr]}]", r"targets\[1\]: task 'xnli' is already targets\[0\]"),
    ("targets: [mnli]", r"targets\[0\]\.task: 'mnli' is an intermediate task .*targets are: .*xnli"),
    ("seeds: [1, 1]\ntargets: [xnli]", r"seeds: .*seed\(s\) \[1\] listed more than once"),
    ("targets: [{task: xnli, languages: [de, deu]}]", r"language\(s\) \['de'\] listed more than once"),
    ("hparams: {lr: fast}\ntargets: [xnli]", r"hparams\.lr: Input should be a valid number.*'fast'"),
])
def test_misleading_grids_are_rejected_with_one_line(tmp_path, body, message):
    with pytest.raises(UserError, match=message):
        _load(tmp_path, body)


def test_an_unset_variable_names_itself_and_the_field(tmp_path, monkeypatch):
    monkeypatch.delenv("MY_MODEL_DIR", raising=False)
    path = tmp_path / "exp.yaml"
    path.write_text("name: t\nmodel: ${MY_MODEL_DIR}\narms: [none]\ntargets: [xnli]\n")
    with pytest.raises(UserError, match=r"exp\.yaml: model: environment variable \$\{MY_MODEL_DIR\} is not set"):
        load_experiment(path)
    path.write_text("name: t\nmodel: ${MY_MODEL_DIR:-/models/x}\narms: [none]\ntargets: [xnli]\n")
    assert load_experiment(path).model == "/models/x"  # a default still applies
    monkeypatch.setenv("MY_MODEL_DIR", "/models/y")
    assert load_experiment(path).model == "/models/y"


def test_iso_639_3_codes_are_accepted_in_yaml_and_recorded_as_xtreme_codes(tmp_path):
    config = _load(tmp_path, "targets: [{task: xnli, languages: [deu, rus, en]}]")
    assert config.targets[0].languages == ["de", "ru", "en"]
    body = ("arms:\n  - {name: mlm, tasks: [mnli], baseline: mlm, settings: {dir: /x, languages: [deu]}}\n"
            "targets: [xnli]\n")
    path = tmp_path / "exp2.yaml"
    path.write_text("name: t\nmodel: /nonexistent/model\n" + body)
    from baselines.mlm import parse_settings

    assert parse_settings(load_experiment(path).arms[0].settings).languages == ["de"]


RETRIEVAL_ONLY = "name: lines\nseeds: [1]\narms: [none]\ntargets: [{task: tatoeba, languages: [de]}]\n"


def test_output_that_is_a_file_is_one_line_and_left_untouched(tmp_path, offline_world, xstilts):
    from conftest import write_experiment

    exp = write_experiment(tmp_path / "exp.yaml", offline_world, RETRIEVAL_ONLY)
    target = tmp_path / "README.md"
    target.write_text("keep me\n")
    code, _, err = xstilts("run", exp, "--output", target)
    assert code == 2 and "a file, not a directory" in err and "Traceback" not in err
    assert target.read_text() == "keep me\n"


def test_without_a_terminal_each_stage_logs_a_start_and_a_done_line(tmp_path, offline_world, xstilts):
    from conftest import write_experiment

    exp = write_experiment(tmp_path / "exp.yaml", offline_world, RETRIEVAL_ONLY)
    code, _, err = xstilts("run", exp, "--output", tmp_path / "runs")
    assert code == 0, err
    (start,) = [line for line in err.splitlines() if " start evaluate-tatoeba-s1-" in line]
    (done,) = [line for line in err.splitlines() if " done evaluate-tatoeba-s1-" in line]
    assert start.startswith("[1/1]") and done.startswith("[1/1]")
    assert " s: test score " in done  # key, seconds, headline metric
    code, _, err = xstilts("run", exp, "--output", tmp_path / "runs")
    assert code == 0 and " start " not in err  # done stages are not logged again


def test_validate_takes_several_files_and_checks_them_all(tmp_path, xstilts):
    from conftest import ROOT

    bad = tmp_path / "bad.yaml"
    bad.write_text(HEAD + "targets: [mnli]\n")
    code, out, err = xstilts("validate", ROOT / "experiments" / "smoke.yaml", bad, ROOT / "experiments" / "paper.yaml")
    assert code == 2
    assert "smoke.yaml: ok" in out and "paper.yaml: ok" in out
    assert "'mnli' is an intermediate task" in err and "1 of 3 experiment files have problems" in err


def test_a_snapshot_root_without_the_repository_names_the_setting_and_the_path(tmp_path):
    from harness import registry
    from harness.data.load import load_split
    from harness.data.settings import DataSettings

    data = DataSettings(snapshot_root=str(tmp_path / "hub"))
    with pytest.raises(UserError) as caught:
        load_split(registry.task("xnli"), "test", "de", data)
    message = str(caught.value)
    assert str(tmp_path / "hub" / "google" / "xtreme") in message and "data.snapshot_root is set" in message
    assert "data.snapshots[" not in message


def _make_dry_run(*args: str) -> str:
    import subprocess

    from conftest import ROOT

    # -o: never rebuild the venv for this check (pyproject.toml may be newer in a working tree)
    proc = subprocess.run(["make", "-n", "-o", ".venv/bin/xstilts", *args], cwd=ROOT, capture_output=True,
                          text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def test_make_demo_rewrites_fixtures_only_when_their_code_changed(tmp_path):
    import os

    offline = tmp_path / "offline"
    offline.mkdir()
    (offline / ".written").touch()
    assert "xstilts fixtures" not in _make_dry_run("demo", f"OFFLINE={offline}")
    os.utime(offline / ".written", (0, 0))  # older than the code that writes the fixtures
    assert f"xstilts fixtures {offline}" in _make_dry_run("demo", f"OFFLINE={offline}")


def test_make_clean_removes_everything_the_demo_wrote():
    clean = _make_dry_run("clean")
    assert "reports/heatmap.png" in clean and ".xstilts/cache" in clean
    assert "XSTILTS_CACHE=.xstilts/cache" in _make_dry_run("demo")  # the demo's feature cache stays in the project


def test_tables_off_a_terminal_do_not_break_words(xstilts):
    code, out, _ = xstilts("tasks", env={"COLUMNS": ""})
    assert code == 0
    assert "multiple_choice" in out and "intermediate" in out  # whole words in their cells
    assert max(len(line) for line in out.splitlines()) > 80


def test_a_task_naming_an_unregistered_metric_fails_validation_not_mid_run(tmp_path, monkeypatch):
    from conftest import installed_plugin

    spec = ("from harness.spec import HFSource, TaskSpec\n"
            "TASK = TaskSpec(name='typo_task', kind='classification', description='d', metric='acuracy',\n"
            "                score_metrics=('accuracy',), labels=('a', 'b'),\n"
            "                train=HFSource(repo='x/y', split='train'), test=HFSource(repo='x/y', split='test'))\n")
    message = (r"targets\[0\]\.task: task 'typo_task' names the metric 'acuracy', which is not registered "
               r"\(did you mean 'accuracy'\?\)")
    with installed_plugin(tmp_path, "typo_pkg", {"__init__.py": "", "task.py": spec},
                          "[xstilts.tasks]\ntypo_task = typo_pkg.task:TASK\n", monkeypatch), \
            pytest.raises(UserError, match=message):
        _load(tmp_path, "targets: [typo_task]")


@pytest.mark.parametrize("rows, message", [
    ("{pawsx: {dev: {xx: 1}}}", r"data\.expected_rows\.pawsx\.dev\.xx: 'xx' is not a language of pawsx"),
    ("{pawsx: {dev: {de: {0: 5}}}}", r"pawsx dev has one source; give its rows"),
    ("{anli: {train: {en: 5}}}", r"anli train is concatenated from 5 sources; give \{part index: rows\}"),
    ("{anli: {train: {en: {9: 5}}}}", r"part 9 does not exist; anli train has parts 0 to 4"),
    ("{tatoeba: {dev: {de: 5}}}", r"data\.expected_rows\.tatoeba\.dev: task 'tatoeba' has no dev split"),
])
def test_row_count_overrides_are_checked_at_validation_not_when_data_loads(tmp_path, rows, message):
    with pytest.raises(UserError, match=message):
        _load(tmp_path, f"targets: [xnli]\ndata: {{expected_rows: {rows}}}\n")


def test_row_count_override_languages_take_iso_639_3_codes(tmp_path):
    config = _load(tmp_path, "targets: [xnli]\ndata: {expected_rows: {pawsx: {dev: {deu: 1999}}}}\n")
    assert config.data.expected_rows == {"pawsx": {"dev": {"de": 1999}}}
