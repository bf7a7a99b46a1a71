"""`xstilts run --jobs N`: independent stages run at once, each in its own process, upstream first; a failed
stage stops only the stages that need it; Ctrl-C stops every stage resumably. The scheduler's rules are
checked with fake processes, the rest with the real command on CPU."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

import pytest
from conftest import CLI, TINY_HPARAMS, write_experiment

from harness.checkpoint import Interrupted
from harness.errors import UserError
from harness.executors.schedule import StagesFailed, run_concurrently
from harness.plan import Stage

# two targets after one intermediate: the targets (and their evaluations) are independent branches
BRANCHES = f"""name: jobs
seeds: [1]
arms: [mnli]
targets:
  - {{task: pawsx, languages: [en, de]}}
  - {{task: xnli, languages: [en, de]}}
splits: [dev]
{TINY_HPARAMS}"""

TWO_CHAINS = BRANCHES.replace("arms: [mnli]", "arms: [none]")  # target -> evaluate, twice


def _keys(exp: Path) -> dict[str, str]:
    """{"intermediate" | "target-pawsx" | "evaluate-xnli" ...: stage key} of the experiment's plan."""
    from harness.experiment import load_experiment
    from harness.plan import plan

    return {s.kind if s.kind == "intermediate" else f"{s.kind}-{s.meta['task']}": s.key
            for s in plan(load_experiment(exp))}


def _times(runs: Path, key: str) -> tuple[float, float]:
    record = json.loads((runs / key / "stage.json").read_text())
    return record["started_at"], record["finished_at"]


def _metrics(runs: Path) -> dict[str, bytes]:
    return {p.parent.name: p.read_bytes() for p in sorted(runs.glob("*/metrics.json"))}


# --- the scheduler, with fake stage processes -----------------------------------------------------------


class _Fake:
    """A stage process that exits with `code` after a few polls; a clean exit marks the stage done."""

    def __init__(self, world: dict, stage: Stage, log: Path, code: int):
        self.world, self.stage, self.log, self.code, self.polls = world, stage, log, code, 3
        self.signals: list[int] = []
        log.write_text("==> attempt\nsome output\nerror: boom in " + stage.key + "\n" if code else "==> attempt\n")
        world["running"].add(stage.key)
        world["most"] = max(world["most"], len(world["running"]))

    def poll(self):
        if self.signals:
            self.code = 130
        else:
            self.polls -= 1
            if self.polls > 0:
                return None
        self.world["running"].discard(self.stage.key)
        if self.code == 0:
            (self.log.parent / "done").write_text("")
        self.world["finished"].append(self.stage.key)
        return self.code

    def send_signal(self, signum: int) -> None:
        self.signals.append(signum)

    def kill(self) -> None:
        self.code = -9


def _stage(key: str, upstream: str | None = None) -> Stage:
    return Stage(kind="target", key=key, config={}, upstream=upstream)


def _fake_world(fail: set[str], on_launch=None):
    world: dict = {"running": set(), "most": 0, "finished": [], "launched": [], "processes": {}}

    def launch(stage: Stage, slot: int, log: Path) -> _Fake:
        # a stage starts only when its upstream has finished
        assert stage.upstream is None or stage.upstream in world["finished"] or stage.upstream == "done-before"
        world["launched"].append((stage.key, slot))
        process = _Fake(world, stage, log, 1 if stage.key in fail else 0)
        world["processes"][stage.key] = process
        if on_launch:
            on_launch(stage)
        return process

    return world, launch


def test_the_scheduler_keeps_to_the_dag_and_the_slots_and_a_failure_stops_only_what_needs_it(tmp_path):
    stages = [_stage("a"), _stage("b", "a"), _stage("c", "b"), _stage("d"), _stage("e", "d"), _stage("f"),
              _stage("g", "f"), _stage("done-before"), _stage("h", "done-before")]
    (tmp_path / "done-before").mkdir()
    (tmp_path / "done-before" / "done").write_text("")
    (tmp_path / "done-before" / "failed.json").write_text("{}")  # stale: removed
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "failed.json").write_text("{}")  # a failure of d's previous attempt: removed at its start
    world, launch = _fake_world(fail={"a"})
    events: list[tuple[str, str]] = []

    with pytest.raises(StagesFailed) as caught:
        run_concurrently(stages, tmp_path, 2, launch, lambda s, e: events.append((s.key, e)))

    message = str(caught.value)
    assert "\n" not in message
    assert message.startswith(f"stage a failed: boom in a; log: {tmp_path / 'a' / 'stage.log'}; ")
    assert "not run for want of it: 2 stages; ran: 5" in message
    failed = json.loads((tmp_path / "a" / "failed.json").read_text())
    assert failed["exit_code"] == 1 and failed["error"] == "boom in a" and failed["executor"] == "local"
    assert failed["log"] == str((tmp_path / "a" / "stage.log").resolve())
    assert [k for k, _ in world["launched"]] == ["a", "d", "e", "f", "g", "h"]
    assert world["most"] == 2 and {slot for _, slot in world["launched"]} == {0, 1}
    assert ("b", "blocked") in events and ("c", "blocked") in events and not (tmp_path / "b").exists()
    assert ("done-before", "skipped") in events
    assert [p.parent.name for p in tmp_path.glob("*/failed.json")] == ["a"]
    outcome = {key: event for key, event in events if event != "start"}
    assert outcome == {"a": "failed", "b": "blocked", "c": "blocked", "d": "ran", "e": "ran", "f": "ran",
                       "g": "ran", "done-before": "skipped", "h": "ran"}


def test_a_stop_is_forwarded_once_to_every_running_stage_and_nothing_new_starts(tmp_path):
    stages = [_stage("a"), _stage("b"), _stage("c"), _stage("d", "a")]
    world, launch = _fake_world(fail=set(), on_launch=lambda s: s.key == "b" and signal.raise_signal(signal.SIGINT))
    events: list[tuple[str, str]] = []
    handler = signal.getsignal(signal.SIGINT)

    with pytest.raises(Interrupted, match=r"^stopped by SIGINT: a, b stopped \(each kept its progress"):
        run_concurrently(stages, tmp_path, 2, launch, lambda s, e: events.append((s.key, e)))

    assert [k for k, _ in world["launched"]] == ["a", "b"]
    assert world["processes"]["a"].signals == [signal.SIGINT] == world["processes"]["b"].signals
    assert {k: e for k, e in events if e != "start"} == {"a": "stopped", "b": "stopped"}
    assert not list(tmp_path.glob("*/failed.json"))
    assert signal.getsignal(signal.SIGINT) is handler  # given back


# --- devices, defaults, and executors that run one stage at a time -------------------------------------


@pytest.mark.parametrize(("visible", "gpus"), [("0,1", ["0", "1"]), ("", []), ("-1", []), ("2, 3,-1,4", ["2", "3"]),
                                                ("GPU-8f2a,GPU-11c0", ["GPU-8f2a", "GPU-11c0"])])
def test_visible_gpus_follow_cuda_visible_devices(monkeypatch, visible, gpus):
    from harness.executors.devices import default_jobs, slot_gpu, visible_gpus

    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", visible)
    assert visible_gpus() == gpus
    assert default_jobs() == max(1, len(gpus))
    assert slot_gpu(gpus, 3) == (gpus[3 % len(gpus)] if gpus else None)


def test_jobs_default_to_the_gpus_for_the_local_executor_only(monkeypatch):
    from harness.cli.run import resolve_jobs
    from harness.executors.docker import DockerExecutor
    from harness.executors.local import LocalExecutor

    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "0,1,2")
    assert resolve_jobs(None, LocalExecutor()) == 3 and resolve_jobs(2, LocalExecutor()) == 2
    assert resolve_jobs(None, DockerExecutor()) == 1
    with pytest.raises(UserError, match=r"^--jobs 2: the docker executor runs one stage at a time"):
        DockerExecutor().set_jobs(2)


def test_each_slot_gets_its_gpu_and_the_stage_log(tmp_path, monkeypatch):
    from harness.executors import local

    seen = []

    def popen(command, **kwargs):
        seen.append((command, kwargs["env"].get("CUDA_VISIBLE_DEVICES"), kwargs["start_new_session"]))
        return "process"

    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "4,6")
    monkeypatch.setattr(local.subprocess, "Popen", popen)
    executor = local.LocalExecutor()
    for slot in (0, 1, 2):
        log = tmp_path / f"s{slot}" / "stage.log"
        assert executor.launch(_stage(f"s{slot}"), tmp_path, None, slot, log) == "process"
    assert [gpu for _, gpu, _ in seen] == ["4", "6", "4"] and all(new for _, _, new in seen)
    assert seen[1][0][-3:] == ["run-stage", str(tmp_path.resolve()), "s1"]
    assert (tmp_path / "s1" / "stage.log").read_text().startswith("==> ")
    assert "slot 1 (GPU 6): xstilts run-stage" in (tmp_path / "s1" / "stage.log").read_text()


def test_jobs_must_be_positive(tmp_path, xstilts):
    code, _, err = xstilts("run", tmp_path / "e.yaml", "--jobs", "0")
    assert code == 2 and "--jobs" in err and "Traceback" not in err


def test_concurrent_stage_events_are_lines_on_a_terminal_too(tmp_path):
    import io

    from rich.console import Console

    from harness.cli.progress import stage_reporter

    (tmp_path / "a").mkdir()
    log = tmp_path / "a" / "stage.log"
    (tmp_path / "a" / "failed.json").write_text(json.dumps({"error": "[Errno 2] no such file", "log": str(log)}))
    out = io.StringIO()
    terminal = Console(file=out, force_terminal=True, width=60)
    with stage_reporter(terminal, 3, tmp_path, concurrent=True) as (on_stage, _):
        for key, event in (("a", "start"), ("b", "start"), ("a", "failed"), ("c", "blocked"), ("b", "ran")):
            on_stage(_stage(key, "a" if key == "c" else None), event)
    text = out.getvalue()
    assert "[1/3] start a" in text and "[2/3] start b" in text and "[2/3] done b in " in text
    assert f"[1/3] failed a after 0.0 s: [Errno 2] no such file; log: {log}" in text  # unwrapped, no markup
    assert "[-/3] not run c: it needs a, which did not finish" in text


# --- the real command -----------------------------------------------------------------------------------


@pytest.mark.slow
def test_jobs_2_runs_branches_at_once_upstream_first_with_the_results_of_jobs_1(offline_world, tmp_path, xstilts):
    from harness.cli.run import run_experiment

    exp = write_experiment(tmp_path / "exp.yaml", offline_world, BRANCHES)
    keys = _keys(exp)
    one, two = tmp_path / "one", tmp_path / "two"
    assert run_experiment(exp, one, dry_run=False, allow_mixed=False, jobs=1) == {"ran": 5, "skipped": 0}
    assert not list(one.glob("*/stage.log"))  # jobs 1: every stage ran in this process

    code, out, err = xstilts("run", exp, "--output", two, "--jobs", "2")
    assert code == 0, err
    assert "5 stages ran, 0 were already done" in out and "up to 2 at a time" in " ".join(err.split())
    assert _metrics(two) == _metrics(one) and len(_metrics(one)) == 5  # byte for byte
    # the two target branches overlapped: each started before the other finished
    pawsx, xnli = _times(two, keys["target-pawsx"]), _times(two, keys["target-xnli"])
    assert max(pawsx[0], xnli[0]) < min(pawsx[1], xnli[1]), (pawsx, xnli)
    # and every stage started after its upstream had finished
    inter = _times(two, keys["intermediate"])
    assert pawsx[0] >= inter[1] and xnli[0] >= inter[1]
    assert _times(two, keys["evaluate-pawsx"])[0] >= pawsx[1] and _times(two, keys["evaluate-xnli"])[0] >= xnli[1]
    for key in keys.values():
        log = (two / key / "stage.log").read_text()
        assert log.startswith("==> ") and f"{key}: done" in log
        assert f" start {key}" in err and f" done {key} in " in err
    assert not list(two.glob("*/failed.json"))

    code, out, _ = xstilts("run", exp, "--output", two, "--jobs", "2")
    assert code == 0 and "nothing to do: all 5 stages" in out


@pytest.mark.slow
def test_a_failed_stage_is_one_line_its_downstream_waits_and_the_rerun_recomputes_nothing_done(
        offline_world, tmp_path, xstilts):
    hub = tmp_path / "hub"
    shutil.copytree(offline_world["hub"], hub)
    exp = write_experiment(tmp_path / "exp.yaml", {**offline_world, "hub": hub}, TWO_CHAINS)
    keys = _keys(exp)
    train = hub / "google" / "xtreme" / "PAWS-X.en" / "train-00000-of-00001.parquet"
    good = train.read_bytes()
    train.write_bytes(b"not a parquet file")
    runs = tmp_path / "runs"

    code, _, err = xstilts("run", exp, "--output", runs, "--jobs", "2")

    failed, log = keys["target-pawsx"], runs / keys["target-pawsx"] / "stage.log"
    assert code == 2, err
    assert "Traceback" not in err
    (error,) = [line for line in err.splitlines() if line.startswith("error: ")]
    assert error.startswith(f"error: stage {failed} failed: cannot load dataset {hub / 'google' / 'xtreme'}")
    assert f"; log: {log}; not run for want of it: 1 stages; ran: 2;" in error
    (reported,) = [line for line in err.splitlines() if f"] failed {failed} after " in line]
    assert reported.endswith(f"; log: {log}")
    record = json.loads((runs / failed / "failed.json").read_text())
    assert record["key"] == failed and record["log"] == str(log) and record["exit_code"] == 2
    assert "Parquet" in log.read_text() or "parquet" in log.read_text()
    assert f"not run {keys['evaluate-pawsx']}: it needs {failed}" in err
    assert not (runs / keys["evaluate-pawsx"]).exists()
    assert all((runs / keys[k] / "done").exists() for k in ("target-xnli", "evaluate-xnli"))

    train.write_bytes(good)  # fixed
    done = {p: p.stat().st_mtime_ns for k in ("target-xnli", "evaluate-xnli") for p in (runs / keys[k]).rglob("*")
            if p.is_file()}
    code, out, err = xstilts("run", exp, "--output", runs, "--jobs", "2")
    assert code == 0, err
    assert "2 stages ran, 2 were already done" in out
    assert {p: p.stat().st_mtime_ns for p in done} == done  # not one file of the done branch rewritten
    assert not (runs / failed / "failed.json").exists() and (runs / keys["evaluate-pawsx"] / "done").exists()
    assert log.read_text().count("==> ") == 2  # the log keeps both attempts


LONG = TWO_CHAINS.replace(TINY_HPARAMS, """hparams:
  lr: 1.0e-3
  batch_size: 8
  max_steps: 200
  save_every: 20
  max_seq_length: 32
  eval_examples: 20
  eval_every: 1000
""")


@pytest.mark.slow
def test_ctrl_c_stops_every_running_stage_resumably_and_the_rerun_gives_the_same_results(
        offline_world, tmp_path, xstilts):
    from harness.cli.run import run_experiment

    exp = write_experiment(tmp_path / "exp.yaml", offline_world, LONG)
    keys = _keys(exp)
    reference, runs = tmp_path / "reference", tmp_path / "runs"
    run_experiment(exp, reference, dry_run=False, allow_mixed=False, jobs=1)
    targets = [runs / keys["target-pawsx"], runs / keys["target-xnli"]]

    with open(tmp_path / "first.err", "w") as err_file:
        proc = subprocess.Popen([*CLI, "run", str(exp), "--output", str(runs), "--jobs", "2"],
                                env={**os.environ, "OMP_NUM_THREADS": "1"}, stdout=subprocess.DEVNULL, stderr=err_file)
        try:
            deadline = time.time() + 300
            while not all((t / "checkpoint" / "state.pt").exists() for t in targets):  # both train
                assert proc.poll() is None, (tmp_path / "first.err").read_text()
                assert time.time() < deadline, (tmp_path / "first.err").read_text()
                time.sleep(0.05)
            proc.send_signal(signal.SIGINT)  # to the parent only, as a terminal would (children: own session)
            code = proc.wait(timeout=180)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    err = (tmp_path / "first.err").read_text()
    assert code == 130, err
    assert "Traceback" not in err
    assert f"interrupted: stopped by SIGINT: {keys['target-pawsx']}, {keys['target-xnli']} stopped" in err
    for target in targets:
        assert f"stopped {target.name} after " in err
        assert f"interrupted: stage {target.name} stopped by SIGINT at step " in (target / "stage.log").read_text()
        assert (target / "checkpoint" / "state.pt").exists() and not (target / "done").exists()
    assert not list(runs.glob("evaluate-*")) and not list(runs.glob("*/failed.json"))

    code, out, err = xstilts("run", exp, "--output", runs, "--jobs", "2")
    assert code == 0, err
    assert "4 stages ran" in out
    for target in targets:
        assert "resuming from " in (target / "stage.log").read_text()
    assert _metrics(runs) == _metrics(reference) and len(_metrics(runs)) == 4
