"""The slurm executor without a cluster: its job plan (one job per stage not done, `afterok` on a submitted
upstream, resources per stage kind, adopting a job still queued), its settings' errors, how it reads the queue
while waiting (a failed job, the jobs that never run, a requeue), `sbatch` missing; and `xstilts status` on a
local run. The real cluster is in test_slurm_cluster.py."""

from __future__ import annotations

import fcntl
import functools
import json
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import TINY_HPARAMS, write_experiment

from harness.errors import UserError
from harness.executors import slurm, slurm_job
from harness.executors.slurm import SlurmExecutor, jobs_file, sbatch_parameters
from harness.layout import CHECKPOINT_DIR, DONE, EXPERIMENT_JSON, FAILED, STAGE_JSON
from harness.plan import Stage


def _stage(kind: str, key: str, upstream: str | None = None) -> Stage:
    return Stage(kind=kind, key=key, config={}, upstream=upstream)


STAGES = [
    _stage("intermediate", "intermediate-a"),
    _stage("target", "target-x", "intermediate-a"),
    _stage("evaluate", "evaluate-x", "target-x"),
    _stage("target", "target-y", "intermediate-a"),
    _stage("evaluate", "evaluate-y", "target-y"),
    _stage("evaluate", "evaluate-t", "intermediate-a"),  # retrieval: evaluates the intermediate encoder
]
SMALL = {"cpus_per_task": 1, "mem_gb": 1, "gpus_per_node": 0}


class _Submitter:
    """Stands in for submitit: records (stage key, sbatch parameters), hands out job ids from first."""

    def __init__(self, first: int = 101) -> None:
        self.calls: list[tuple[str, dict]] = []
        self.first = first

    def __call__(self, stage: Stage, params: dict) -> str:
        self.calls.append((stage.key, params))
        return str(self.first + len(self.calls) - 1)


def test_one_job_per_stage_not_done_and_afterok_on_a_submitted_upstream(tmp_path):
    runs = tmp_path / "runs"
    (runs / "target-y").mkdir(parents=True)
    (runs / "target-y" / DONE).touch()
    submit = _Submitter()
    jobs = SlurmExecutor(SMALL).submit(STAGES, runs, submit_job=submit)
    deps = {key: params.get("dependency") for key, params in submit.calls}
    assert deps == {"intermediate-a": None, "target-x": "afterok:101", "evaluate-x": "afterok:102",
                    "evaluate-y": None, "evaluate-t": "afterok:101"}  # target-y is done: no job, nothing waits
    assert list(jobs) == list(deps)
    for key, params in submit.calls:
        assert params["job_name"] == key and params["stderr_to_stdout"] is True
        assert params["additional_parameters"] == {"requeue": True, "kill-on-invalid-dep": "yes"}
        assert "gpus_per_node" not in params  # 0 GPUs: no GRES request at all
    record = json.loads(jobs_file(runs).read_text())
    logs = runs.resolve() / ".slurm" / "logs"
    assert record["folder"] == str(logs)
    assert record["jobs"]["target-x"] == {**record["jobs"]["target-x"], "job_id": "102", "kind": "target",
                                          "upstream": "intermediate-a", "dependency": "afterok:101",
                                          "log": str(logs / "102_0_log.out")}


def test_a_job_still_queued_is_adopted_not_submitted_twice(tmp_path, monkeypatch):
    runs = tmp_path / "runs"
    SlurmExecutor(SMALL).submit(STAGES[:3], runs, submit_job=_Submitter())
    live = {"101": ("RUNNING", "None"), "102": ("FAILED", "NonZeroExitCode")}
    monkeypatch.setattr(slurm, "queue_states", lambda ids: {i: live[i] for i in ids if i in live})
    submit = _Submitter(first=201)
    jobs = SlurmExecutor(SMALL).submit(STAGES[:3], runs, submit_job=submit)
    assert jobs["intermediate-a"]["adopted"] and jobs["intermediate-a"]["job_id"] == "101"
    assert [(k, p.get("dependency")) for k, p in submit.calls] == [("target-x", "afterok:101"),
                                                                  ("evaluate-x", "afterok:201")]
    assert json.loads(jobs_file(runs).read_text())["jobs"]["target-x"]["job_id"] == "201"


def test_resources_per_stage_kind_over_defaults_and_top_level_settings(tmp_path):
    settings = {"partition": "gpu", "account": "nlp", "cpus_per_task": 4,
                "resources": {"intermediate": {"timeout_min": 2880, "gpus_per_node": 2},
                              "evaluate": {"partition": "short", "mem_gb": 0.5}},
                "sbatch": {"constraint": "a100", "requeue": False}, "setup": ["module load cuda"]}
    config = SlurmExecutor(settings).config
    inter = sbatch_parameters(STAGES[0], config, None)
    target = sbatch_parameters(STAGES[1], config, "afterok:5")
    evaluate = sbatch_parameters(STAGES[2], config, None)
    assert (inter["time"], inter["gpus_per_node"], inter["cpus_per_task"], inter["mem"]) == (2880, 2, 4, "64GB")
    assert (target["time"], target["gpus_per_node"], target["mem"], target["dependency"]) == (720, 1, "64GB",
                                                                                              "afterok:5")
    assert (evaluate["time"], evaluate["partition"], evaluate["mem"]) == (180, "short", "512MB")
    assert inter["partition"] == target["partition"] == "gpu" and evaluate["account"] == "nlp"
    assert inter["additional_parameters"] == {"kill-on-invalid-dep": "yes", "constraint": "a100"}
    assert inter["setup"] == ["module load cuda"]
    # what submitit writes from them is a valid batch script
    from submitit.slurm.slurm import _make_sbatch_string

    script = _make_sbatch_string(command="run", folder=tmp_path, **target)
    for line in ("--time=720", "--gpus-per-node=1", "--cpus-per-task=4", "--mem=64GB", "--partition=gpu",
                 "--account=nlp", "--dependency=afterok:5", "--kill-on-invalid-dep=yes", "--constraint=a100",
                 "--signal=USR2@90"):
        assert f"#SBATCH {line}" in script.splitlines(), line
    assert "#SBATCH --requeue" not in script  # the experiment switched it off
    assert "#SBATCH --requeue" in _make_sbatch_string(command="run", folder=tmp_path,
                                                      **sbatch_parameters(STAGES[1], SlurmExecutor().config, None))


@pytest.mark.parametrize(("settings", "message"), [
    ({"resources": {"intermediat": {"timeout_min": 5}}},
     "executor_settings: resources: unknown stage kind 'intermediat' (did you mean 'intermediate'?)"),
    ({"resources": {"evaluate": {"gpus": 1}}},
     "executor_settings: resources.evaluate: unknown resource 'gpus' (known: account, cpus_per_task, "
     "gpus_per_node, mem_gb, partition, qos, timeout_min)"),
    ({"partiton": "gpu"},
     "executor_settings: unknown setting 'partiton' for the slurm executor (did you mean 'partition'?)"),
    ({"gpus_per_node": -1}, "executor_settings: gpus_per_node: Input should be greater than or equal to 0"),
    ({"wait": "maybe"}, "executor_settings: wait: Input should be a valid boolean, unable to interpret input"),
])
def test_bad_settings_are_one_line(settings, message):
    with pytest.raises(UserError) as err:
        SlurmExecutor(settings)
    assert str(err.value) == message


def _scripted_queue(monkeypatch, polls: list[dict], effects: dict[int, list[Path]]):
    """queue_states answering `polls` in turn (the last one again); before poll n, touch the files
    effects[n] (a stage's `done` marker appearing as its job finishes)."""
    count = {"n": 0}

    def queue_states(ids):
        n = count["n"]
        count["n"] += 1
        for path in effects.get(n, []):
            path.parent.mkdir(parents=True, exist_ok=True)
            path.touch()
        states = polls[min(n, len(polls) - 1)]
        return {i: states[i] for i in ids if i in states}

    monkeypatch.setattr(slurm, "queue_states", queue_states)
    monkeypatch.setattr(slurm, "_query", lambda cmd: [])  # the scancel of a job that can never run


def test_waiting_a_failed_job_its_dependents_and_the_other_branch(tmp_path, monkeypatch, capsys):
    runs = tmp_path / "runs"
    stages = [_stage("intermediate", "inter"), _stage("target", "t1", "inter"), _stage("evaluate", "e1", "t1"),
              _stage("target", "t2"), _stage("evaluate", "e2", "t2")]
    executor = SlurmExecutor({**SMALL, "poll_s": 0.01})
    jobs = executor.submit(stages, runs, submit_job=_Submitter())  # inter 101, t1 102, e1 103, t2 104, e2 105
    never = ("PENDING", "DependencyNeverSatisfied")
    log = runs.resolve() / ".slurm" / "logs" / "101_0_log.out"
    log.parent.mkdir(parents=True)
    log.write_text("Traceback (most recent call last):\n  ...\nModuleNotFoundError: No module named 'harness'\n"
                   "srun: error: vm: task 0: Exited with exit code 1\n")
    _scripted_queue(monkeypatch, [
        {"101": ("RUNNING", "None"), "102": ("PENDING", "Dependency"), "103": ("PENDING", "Dependency"),
         "104": ("RUNNING", "None"), "105": ("PENDING", "Dependency")},
        {"101": ("FAILED", "NonZeroExitCode"), "102": ("CANCELLED", "DependencyNeverSatisfied"), "103": never,
         "104": ("COMPLETED", "None"), "105": ("RUNNING", "None")},
        {"101": ("FAILED", "NonZeroExitCode"), "102": ("CANCELLED", "DependencyNeverSatisfied"), "103": never,
         "104": ("COMPLETED", "None"), "105": ("COMPLETED", "None")},
    ], {1: [runs / "t2" / DONE], 2: [runs / "e2" / DONE]})
    events = []
    with pytest.raises(UserError) as err:
        executor.wait(stages, runs, jobs, lambda stage, event: events.append((stage.key, event)))
    assert str(err.value) == (f"stage inter failed on SLURM (job 101): job 101 ended FAILED before the stage "
                              f"finished (ModuleNotFoundError: No module named 'harness'); log: {log}; 2 not run "
                              "(upstream failed)")
    failed = json.loads((runs / "inter" / FAILED).read_text())
    assert failed == {**failed, "key": "inter", "log": str(log), "job_id": "101", "state": "FAILED",
                      "executor": "slurm"}
    assert not (runs / "t1" / FAILED).exists() and not (runs / "e1" / FAILED).exists()  # never ran
    assert events == [("inter", "start"), ("t2", "start"), ("t2", "ran"), ("e2", "start"), ("inter", "failed"),
                      ("t1", "blocked"), ("e1", "blocked"), ("e2", "ran")]
    assert "2 stages ran, 1 failed, 2 not run" in capsys.readouterr().err


def test_waiting_through_a_requeue(tmp_path, monkeypatch, capsys):
    runs = tmp_path / "runs"
    stages = [_stage("intermediate", "inter")]
    executor = SlurmExecutor({**SMALL, "poll_s": 0.01})
    jobs = executor.submit(stages, runs, submit_job=_Submitter())
    (runs / "inter" / CHECKPOINT_DIR).mkdir(parents=True)
    _scripted_queue(monkeypatch, [{"101": ("RUNNING", "None")}, {"101": ("COMPLETED", "None")},  # between states
                                  {"101": ("PENDING", "BeginTime")}, {"101": ("RUNNING", "None")},
                                  {"101": ("COMPLETED", "None")}], {4: [runs / "inter" / DONE]})
    events = []
    assert executor.wait(stages, runs, jobs, lambda stage, event: events.append(event)) == 1
    assert events == ["start", "start", "ran"]
    assert "inter: job 101 requeued; it resumes from the stage's checkpoint" in capsys.readouterr().err


def test_ctrl_c_while_waiting_leaves_the_jobs_running(tmp_path, monkeypatch):
    from harness.checkpoint import Interrupted

    runs = tmp_path / "runs"
    executor = SlurmExecutor(SMALL)
    jobs = executor.submit(STAGES[:2], runs, submit_job=_Submitter())

    def ctrl_c(ids):
        raise KeyboardInterrupt

    monkeypatch.setattr(slurm, "queue_states", ctrl_c)
    with pytest.raises(Interrupted) as err:
        executor.wait(STAGES[:2], runs, jobs, lambda stage, event: None)
    assert str(err.value) == (f"stopped waiting; 2 SLURM jobs keep running (101, 102): `xstilts status {runs}` "
                              "follows them, `xstilts run` again waits for them")


def test_wait_false_submits_and_returns(tmp_path, monkeypatch, capsys):
    submit = _Submitter()
    monkeypatch.setattr(SlurmExecutor, "start", lambda self: None)
    monkeypatch.setattr(SlurmExecutor, "_submitter", lambda self, folder, runs_dir: submit)
    runs = tmp_path / "runs"
    (runs / "intermediate-a").mkdir(parents=True)
    (runs / "intermediate-a" / DONE).touch()
    events = []
    counts = SlurmExecutor({**SMALL, "wait": False}).run(STAGES[:3], runs, None, on_stage=lambda s, e: events.append(e))
    assert counts == {"ran": 0, "skipped": 1} and events == ["start", "skipped"]
    assert [key for key, _ in submit.calls] == ["target-x", "evaluate-x"]
    assert "submitted 2 SLURM jobs (not waiting: `wait: false`): target-x 101, evaluate-x 102" in \
        capsys.readouterr().err


BODY = f"""name: slurm-unit
arms: [none]
targets:
  - {{task: pawsx, languages: [en]}}
splits: [dev]
{TINY_HPARAMS}"""


def test_sbatch_missing_is_one_line(offline_world, tmp_path, xstilts):
    exp = write_experiment(tmp_path / "e.yaml", offline_world, BODY + "executor: slurm\n")
    empty = tmp_path / "bin"
    empty.mkdir()
    code, _, err = xstilts("run", exp, "-o", tmp_path / "runs", env={"PATH": str(empty)})
    assert code == 2, err
    assert err.strip().splitlines()[-1] == ("error: slurm executor: `sbatch` is not on PATH; run `xstilts run` "
                                            "on a SLURM login node, or set `executor: local`")
    assert "Traceback" not in err


def _status(runs: Path) -> dict:
    """`xstilts status --json` in a fresh interpreter, which must not import torch."""
    code = ("import json, sys\nfrom harness.cli.main import cli\n"
            f"cli(['status', {str(runs)!r}, '--json'], standalone_mode=False)\n"
            "assert 'torch' not in sys.modules, 'status imported torch'\n")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def test_status_of_a_local_run(offline_world, tmp_path, xstilts):
    from harness.cli.run import run_experiment

    exp = write_experiment(tmp_path / "e.yaml", offline_world,
                           BODY.replace("arms: [none]", "arms: [none, mnli]"))
    runs = tmp_path / "runs"
    assert run_experiment(exp, runs, dry_run=False, allow_mixed=False) == {"ran": 5, "skipped": 0}
    status = _status(runs)
    keys = [row["key"] for row in status["stages"]]
    assert status["counts"] == {"done": 5, "running": 0, "pending": 0, "interrupted": 0, "failed": 0}
    assert status["slurm_reachable"] is None and all(row["job_id"] is None for row in status["stages"])
    by_kind = {row["kind"]: row["key"] for row in status["stages"]}
    inter, target = by_kind["intermediate"], next(k for k in keys if k.startswith("target-") and
                                                  json.loads((runs / k / STAGE_JSON).read_text())["upstream"])
    evaluate = next(k for k in keys if k.startswith("evaluate-") and
                    json.loads((runs / k / STAGE_JSON).read_text())["upstream"] == target)

    # the mnli branch as a crash leaves it: a checkpoint, a failure record, a stage never started
    (runs / inter / DONE).unlink()
    (runs / inter / CHECKPOINT_DIR).mkdir()
    (runs / target / DONE).unlink()
    log = runs / target / "stage.log"
    log.write_text("Traceback ...\nRuntimeError: boom\n")
    (runs / target / FAILED).write_text(json.dumps({"error": "RuntimeError: boom", "log": str(log)}))
    shutil.rmtree(runs / evaluate)
    rows = {row["key"]: row for row in _status(runs)["stages"]}
    assert (rows[inter]["state"], rows[inter]["detail"]) == ("interrupted", "checkpoint kept; `xstilts run` "
                                                             "resumes it")
    assert (rows[target]["state"], rows[target]["detail"], rows[target]["log"]) == ("failed", "RuntimeError: boom",
                                                                                    str(log))
    assert rows[evaluate]["state"] == "pending"
    assert sum(row["state"] == "done" for row in rows.values()) == 2

    # a process holding a stage's lock is running it (seen in /proc/locks, without touching the lock)
    (runs / inter / DONE).touch()
    (runs / target / FAILED).unlink()
    with open(runs / target / ".lock", "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        rows = {row["key"]: row for row in _status(runs)["stages"]}
    if Path("/proc/locks").exists():
        assert (rows[target]["state"], rows[target]["detail"]) == ("running", "a process holds the stage lock")

    code, out, err = xstilts("status", runs, env={"COLUMNS": "300"})  # room for whole keys in the table
    assert code == 0, err
    assert out.strip().splitlines()[-1] == "5 stages: 3 done, 1 pending, 1 interrupted"
    assert target in out and "started, no checkpoint; `xstilts run` runs it again" in out


def test_status_outside_a_runs_directory_is_one_line(tmp_path, xstilts):
    code, _, err = xstilts("status", tmp_path)
    assert code == 2 and err == (f"error: {tmp_path} has no {EXPERIMENT_JSON}: not a runs directory (`xstilts "
                                 "run` writes it)\n")


def test_status_reads_the_slurm_record(tmp_path, monkeypatch):
    from harness.cli.status import runs_status

    runs = tmp_path / "runs"
    runs.mkdir()
    (runs / EXPERIMENT_JSON).write_text(json.dumps({"stages": [
        {"key": s.key, "kind": s.kind, "upstream": s.upstream, "meta": {}} for s in STAGES[:3]]}))
    SlurmExecutor(SMALL).submit(STAGES[:3], runs, submit_job=_Submitter())
    (runs / "intermediate-a" / CHECKPOINT_DIR).mkdir(parents=True)
    monkeypatch.setattr(slurm, "queue_states", lambda ids: {"101": ("PENDING", "BeginTime"),
                                                            "102": ("PENDING", "Dependency"),
                                                            "103": ("CANCELLED", "DependencyNeverSatisfied")})
    rows = runs_status(runs)["stages"]
    logs = runs.resolve() / ".slurm" / "logs"
    assert [(r["state"], r["job_id"], r["detail"], r["log"]) for r in rows] == [
        ("pending", "101", "slurm PENDING (BeginTime); resumes from its checkpoint", str(logs / "101_0_log.out")),
        ("pending", "102", "slurm PENDING (Dependency)", str(logs / "102_0_log.out")),
        ("pending", "103", "slurm CANCELLED: its upstream stage did not finish", str(logs / "103_0_log.out"))]
    monkeypatch.setattr(slurm, "queue_states", lambda ids: None)  # no SLURM here: the directories answer
    assert runs_status(runs)["slurm_reachable"] is False
    assert [r["state"] for r in runs_status(runs)["stages"]] == ["interrupted", "pending", "pending"]


def test_jobs_option_does_not_apply():
    with pytest.raises(UserError, match=r"--jobs 2: with `executor: slurm` every stage is a job of its own"):
        SlurmExecutor().set_jobs(2)


def test_a_time_limit_warning_before_training_stops_the_loop_once_it_runs():
    """SIGUSR2 while data loads (SIGTERM handler: submitit's, which only logs) reaches the training loop as
    SIGTERM when the loop installs its own handler; during the loop it is passed on at once."""
    got: list[str] = []

    def outside(signum, frame):
        got.append("outside")

    def loop(signum, frame):
        got.append("loop")

    previous = signal.signal(signal.SIGTERM, outside), signal.getsignal(signal.SIGUSR2)
    signal.signal(signal.SIGUSR2, functools.partial(slurm_job._as_sigterm, outside))
    try:
        signal.raise_signal(signal.SIGUSR2)
        time.sleep(0.5)
        assert got == []
        signal.signal(signal.SIGTERM, loop)  # the training loop starts
        deadline = time.time() + 10
        while not got and time.time() < deadline:
            time.sleep(0.05)
        assert got == ["loop"]
        signal.raise_signal(signal.SIGUSR2)
        time.sleep(0.1)
        assert got == ["loop", "loop"]
    finally:
        signal.signal(signal.SIGTERM, previous[0])
        signal.signal(signal.SIGUSR2, previous[1])
