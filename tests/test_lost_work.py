"""Work a run must not lose or hide: a done stage whose result no longer reads back is recomputed (and named
by the leaderboard), Ctrl-C keeps the running stage's progress in a checkpoint, and result files follow
the umask."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import threading
import time
from pathlib import Path

import pytest
from conftest import CLI, TINY_HPARAMS, write_experiment

SMALL = """name: lost-work
seeds: [1]
arms: [mnli]
targets:
  - {task: xnli, languages: [en]}
splits: [dev]
""" + TINY_HPARAMS



def _stage(runs: Path, kind: str) -> Path:
    (stage,) = runs.glob(f"{kind}-*")
    return stage


def test_run_recomputes_only_the_stages_whose_results_do_not_read_back(offline_world, tmp_path, capsys):
    from harness.cli.run import run_experiment

    exp = write_experiment(tmp_path / "exp.yaml", offline_world, SMALL)
    runs = tmp_path / "runs"
    assert run_experiment(exp, runs, dry_run=False, allow_mixed=False) == {"ran": 3, "skipped": 0}
    inter, target, evaluate = (_stage(runs, k) for k in ("intermediate", "target", "evaluate"))
    before = {s: (s / "metrics.json").read_text() for s in (target, evaluate)}
    untouched = {p: p.stat().st_mtime_ns for p in inter.rglob("*") if p.is_file()}
    metrics = evaluate / "metrics.json"
    metrics.write_text(before[evaluate][: len(before[evaluate]) // 2])  # truncated (a full disk, a crash)
    (target / "stage.json").write_text("")
    capsys.readouterr()

    assert run_experiment(exp, runs, dry_run=False, allow_mixed=False) == {"ran": 2, "skipped": 1}
    err = capsys.readouterr().err
    assert f"{evaluate.name}: {metrics} is unreadable: not valid JSON" in err
    assert f"{target.name}: {target / 'stage.json'} is unreadable" in err and "running this stage again" in err
    assert {s: (s / "metrics.json").read_text() for s in (target, evaluate)} == before  # same result again
    assert json.loads((target / "stage.json").read_text())["key"] == target.name
    assert {p: p.stat().st_mtime_ns for p in inter.rglob("*") if p.is_file()} == untouched  # stayed skipped
    assert run_experiment(exp, runs, dry_run=False, allow_mixed=False) == {"ran": 0, "skipped": 3}


def test_leaderboard_names_an_unreadable_result_in_one_line(tmp_path, xstilts):
    from test_leaderboard_v2 import make_runs

    runs = make_runs(tmp_path / "runs")
    damaged = runs / "evaluate-xnli-mnli-s1" / "metrics.json"
    damaged.write_text(damaged.read_text()[:40])
    code, _, err = xstilts("leaderboard", runs, "--out", tmp_path / "reports")
    assert code == 2, err
    assert err.count("\n") == 1 and "Traceback" not in err
    assert f"error: {damaged} is unreadable: not valid JSON" in err
    assert "`xstilts run` on this experiment recomputes stage evaluate-xnli-mnli-s1" in err

    damaged.write_text(json.dumps({"splits": {}}))
    stage_json = runs / "evaluate-xnli-none-s2" / "stage.json"
    stage_json.write_text("{")
    code, _, err = xstilts("leaderboard", runs, "--out", tmp_path / "reports")
    assert code == 2, err
    assert err == f"error: {stage_json} is unreadable: not valid JSON (Expecting property name enclosed in " \
                  "double quotes: line 1 column 2 (char 1))\n"


LONG = """name: interrupted
seeds: [1]
arms: [mnli]
targets:
  - {task: xnli, languages: [en]}
splits: [dev]
hparams: {lr: 1.0e-3, batch_size: 8, max_seq_length: 32, eval_examples: 16, eval_every: 1000000, save_every: 25}
task_hparams:
  mnli: {max_steps: 1000000}
"""
STOPPED = re.compile(r"^interrupted: stage (intermediate-\S+) stopped by (SIG\w+) at step (\d+) of 1000000; "
                     r"checkpoint in (\S+); run again to resume$", re.M)


class _Run:
    """`xstilts run` in a subprocess (umask 022), its stderr collected line by line as it comes."""

    def __init__(self, exp: Path, out: Path) -> None:
        env = {**os.environ, "OMP_NUM_THREADS": "1"}
        self.proc = subprocess.Popen([*CLI, "run", str(exp), "-o", str(out)], env=env, stdout=subprocess.DEVNULL,
                                     stderr=subprocess.PIPE, text=True, umask=0o022)
        self.lines: list[str] = []
        self.reader = threading.Thread(target=lambda: self.lines.extend(self.proc.stderr), daemon=True)
        self.reader.start()

    def wait_for(self, ready, what: str, seconds: float = 180) -> None:
        deadline = time.time() + seconds
        while not ready():
            assert self.proc.poll() is None, f"the run ended before {what}:\n{''.join(self.lines)}"
            assert time.time() < deadline, f"no {what} within {seconds} s:\n{''.join(self.lines)}"
            time.sleep(0.05)

    def stop(self, signum: int) -> tuple[int, str]:
        self.proc.send_signal(signum)
        code = self.proc.wait(timeout=120)
        self.reader.join(timeout=10)
        return code, "".join(self.lines)

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


def _saved_at(checkpoint: Path) -> int | None:
    """The step of the checkpoint in `checkpoint`, None while there is none (or it is being swapped)."""
    import torch

    try:
        return torch.load(checkpoint / "state.pt", map_location="cpu", weights_only=True)["loop"]["steps"]
    except (FileNotFoundError, RuntimeError, EOFError):
        return None


@pytest.mark.slow
def test_ctrl_c_writes_a_checkpoint_says_where_and_the_next_run_resumes(offline_world, tmp_path):
    exp = write_experiment(tmp_path / "exp.yaml", offline_world, LONG)
    runs = tmp_path / "runs"
    first = _Run(exp, runs)
    try:
        # the first periodic checkpoint (step 25) says the training loop runs; Ctrl-C lands some steps later
        first.wait_for(lambda: list(runs.glob("intermediate-*/checkpoint/state.pt")), "checkpoint")
        inter = _stage(runs, "intermediate")
        first.wait_for(lambda: (_saved_at(inter / "checkpoint") or 0) >= 25, "first checkpoint")
        time.sleep(0.3)
        code, err = first.stop(signal.SIGINT)
    finally:
        first.kill()
    assert code == 130, err
    assert "Traceback" not in err
    found = STOPPED.search(err)
    assert found, err
    key, signame, step, directory = found.group(1), found.group(2), int(found.group(3)), Path(found.group(4))
    assert (key, signame, directory) == (inter.name, "SIGINT", inter / "checkpoint")
    assert _saved_at(directory) == step  # written on Ctrl-C: the steps since the periodic one are kept
    assert not (inter / "done").exists() and not (inter / "metrics.json").exists()
    modes = {p.name: p.stat().st_mode & 0o777 for p in directory.iterdir() if p.is_file()}
    assert "state.pt" in modes and set(modes.values()) == {0o644}, modes

    again = _Run(exp, runs)
    try:
        again.wait_for(lambda: any("resuming from" in line for line in again.lines), "resume message")
        assert any(f"resuming from {directory / 'state.pt'} at step {step} of 1000000" in line
                   for line in again.lines), again.lines
        # the next periodic checkpoint says its loop runs (SIGTERM takes the same path as Ctrl-C)
        again.wait_for(lambda: (_saved_at(directory) or 0) > step, "checkpoint after resuming")
        code, err = again.stop(signal.SIGTERM)
    finally:
        again.kill()
    assert code == 130, err
    found = STOPPED.search(err)
    assert found and found.group(2) == "SIGTERM" and int(found.group(3)) > step, err
    assert _saved_at(directory) == int(found.group(3))


NONE_ARM = SMALL.replace("arms: [mnli]", "arms: [none]")


@pytest.mark.parametrize("umask", [0o022, 0o077], ids=["umask-022", "umask-077"])
def test_written_files_follow_the_umask(offline_world, tmp_path, umask):
    exp = write_experiment(tmp_path / "exp.yaml", offline_world, NONE_ARM)
    runs, reports = tmp_path / "runs", tmp_path / "reports"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    for args in (["run", exp, "-o", runs], ["leaderboard", runs, "--out", reports, "--split", "dev"]):
        proc = subprocess.run([*CLI, *map(str, args)], env=env, capture_output=True, text=True, umask=umask,
                              timeout=600)
        assert proc.returncode == 0, proc.stderr
    files = [p for root in (runs, reports) for p in root.rglob("*") if p.is_file()]
    names = {p.name for p in files}
    assert {"experiment.json", "stage.json", "metrics.json", "done", "leaderboard.json", "leaderboard.md",
            "dev-en.tsv", "heads.safetensors"} <= names, names
    wrong = {str(p.relative_to(tmp_path)): oct(p.stat().st_mode & 0o777) for p in files
             if p.stat().st_mode & 0o777 != 0o666 & ~umask}
    assert not wrong, f"not {oct(0o666 & ~umask)} under umask {oct(umask)}: {wrong}"


def test_a_stop_during_a_stages_last_step_finishes_it_then_stops_the_run(tmp_path, monkeypatch):
    """A Ctrl-C with no step left to stop after used to be dropped: the run went on to the next stage."""
    from harness import execute, stages
    from harness.checkpoint import Interrupted, defer_stop
    from harness.data.settings import DataSettings
    from harness.experiment import load_experiment
    from harness.plan import plan
    from harness.store import is_done

    (tmp_path / "exp.yaml").write_text("name: t\nmodel: /nonexistent/model\narms: [mnli]\ntargets: [xnli]\n")
    stage = next(s for s in plan(load_experiment(tmp_path / "exp.yaml")) if s.upstream is None)

    def runner(ctx):
        defer_stop("SIGINT")  # what train() does when the signal came during its last step
        return {"ok": True}

    monkeypatch.setitem(stages.RUNNERS, stage.kind, runner)
    monkeypatch.setattr(execute, "seed_everything", lambda seed: None)
    with pytest.raises(Interrupted, match=rf"stage {stage.key} finished; stopped by SIGINT before the next stage"):
        execute.run_stage(stage, tmp_path / "runs", DataSettings())
    assert is_done(tmp_path / "runs" / stage.key)  # the finished stage is kept
    monkeypatch.setitem(stages.RUNNERS, stage.kind, lambda ctx: {"ok": True})
    assert not execute.run_stage(stage, tmp_path / "runs", DataSettings())  # done: nothing pending any more
