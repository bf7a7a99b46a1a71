"""Run each stage as a SLURM batch job through submitit.

Every stage that is not done becomes one job running what `xstilts run-stage RUNS_DIR KEY` runs
(harness.executors.slurm_job: re-plan the recorded experiment, run exactly that stage), so stage directories
and results are those of the local executor. A stage whose upstream stage is submitted too waits for it
through an `afterok:<jobid>` dependency; when a job fails, SLURM cancels the jobs that wait for it
(`--kill-on-invalid-dep=yes`) and the other branches of the plan carry on.

Settings (the experiment's `executor_settings`; all optional):

    partition, account, qos     where every job goes
    gpus_per_node, cpus_per_task, mem_gb, timeout_min
                                what every job asks for, over the per-kind defaults (DEFAULT_RESOURCES)
    resources: {KIND: {...}}    per stage kind (intermediate, target, evaluate): any of the seven keys above,
                                over both the defaults and the top-level values
    sbatch: {option: value}     other sbatch options, verbatim (`{constraint: a100, exclude: node7}`)
    setup: [line, ...]          shell lines run in the job before the stage (`module load cuda/12.4`)
    folder                      where submitit writes job scripts, pickles and logs (RUNS_DIR/.slurm/logs)
    python                      the interpreter on the nodes (default: the one running `xstilts run`)
    wait                        true (default): wait for the jobs, printing stage events, and end like the
                                local executor; false: submit, print the job ids and return
    poll_s                      seconds between two looks at the queue while waiting (10)
    max_requeues                how often a job may requeue itself after a warning signal (10; requeues of
                                any cause count)
    signal_delay_s              seconds between the warning signal and the time limit (90): enough for a
                                training step and a checkpoint save

For example:

    executor: slurm
    executor_settings:
      partition: gpu
      account: nlp
      resources:
        intermediate: {timeout_min: 2880, mem_gb: 128}
        evaluate: {timeout_min: 60, partition: gpu-short}

Preemption and time limits. Jobs are requeueable (`--requeue`) and get SIGUSR2 `signal_delay_s` before their
time limit. A job stopped by SLURM while training (the warning, a requeue, a preemption) saves its checkpoint in
runs/<key>/checkpoint/, and its next run resumes from there (harness.executors.slurm_job). A job cancelled with a
plain `scancel` keeps its checkpoint and stays cancelled: `xstilts run` again resumes it.

What is recorded: RUNS_DIR/.slurm/jobs.json maps each submitted stage to its job id and log file; `xstilts
status` reads it, and a second `xstilts run` adopts jobs still queued or running instead of submitting a stage
twice. A failed job leaves runs/<key>/failed.json (the error line and the log), and `xstilts run` exits 2 with
one line naming the stage and its log.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from harness.checkpoint import Interrupted
from harness.data.settings import DataSettings
from harness.errors import UserError, did_you_mean, validated
from harness.executors.base import Executor, OnStage
from harness.executors.failures import read_failure, record_failure, tail_lines
from harness.layout import CHECKPOINT_DIR
from harness.plan import Stage
from harness.store import is_done, read_json, write_json

RECORD_DIR = ".slurm"
"""Under the runs directory: jobs.json and (by default) the jobs' logs."""
JOBS_JSON = "jobs.json"

DEFAULT_RESOURCES: dict[str, dict[str, Any]] = {
    "intermediate": {"gpus_per_node": 1, "cpus_per_task": 8, "mem_gb": 64, "timeout_min": 24 * 60},
    "target": {"gpus_per_node": 1, "cpus_per_task": 8, "mem_gb": 64, "timeout_min": 12 * 60},
    "evaluate": {"gpus_per_node": 1, "cpus_per_task": 8, "mem_gb": 32, "timeout_min": 3 * 60},
}
"""What a job asks for, by stage kind (a kind missing here gets the "target" row). Training stages get a day
or half a day; an evaluation only predicts."""

RESOURCE_KEYS = ("gpus_per_node", "cpus_per_task", "mem_gb", "timeout_min", "partition", "account", "qos")

LIVE_STATES = frozenset({"PENDING", "CONFIGURING", "RUNNING", "COMPLETING", "REQUEUED", "REQUEUE_FED",
                         "REQUEUE_HOLD", "RESIZING", "SUSPENDED", "STOPPED", "SIGNALING", "STAGE_OUT",
                         "RESV_DEL_HOLD", "SPECIAL_EXIT"})
"""squeue states of a job that is not over (it may still run or run again)."""
NEVER_SATISFIED = "DependencyNeverSatisfied"
"""squeue's reason for a job whose afterok dependency failed (cancelled by us if SLURM keeps it)."""


class Resources(BaseModel):
    """What one job asks for and where it goes; unset values fall back to the next layer."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    gpus_per_node: int | None = Field(None, ge=0)
    cpus_per_task: int | None = Field(None, ge=1)
    mem_gb: float | None = Field(None, gt=0)
    timeout_min: int | None = Field(None, ge=1)
    partition: str | None = None
    account: str | None = None
    qos: str | None = None


class SlurmSettings(Resources):
    """The slurm executor's `executor_settings` (see the module docstring)."""

    resources: dict[str, Resources] = Field(default_factory=dict)
    sbatch: dict[str, str | int | float | bool] = Field(default_factory=dict)
    setup: list[str] = Field(default_factory=list)
    folder: str | None = None
    python: str | None = None
    wait: bool = True
    poll_s: float = Field(10.0, gt=0)
    max_requeues: int = Field(10, ge=0)
    signal_delay_s: int = Field(90, ge=1)


def job_resources(kind: str, settings: SlurmSettings) -> dict[str, Any]:
    """The resources of a job running a stage of `kind`: defaults < top-level settings < resources[kind]."""
    merged = dict(DEFAULT_RESOURCES.get(kind, DEFAULT_RESOURCES["target"]))
    for layer in (settings, settings.resources.get(kind)):
        if layer is not None:
            merged.update({k: getattr(layer, k) for k in RESOURCE_KEYS if getattr(layer, k) is not None})
    return merged


def sbatch_parameters(stage: Stage, settings: SlurmSettings, dependency: str | None) -> dict[str, Any]:
    """submitit `SlurmExecutor.update_parameters` keywords for the job of `stage` (pure)."""
    res = job_resources(stage.kind, settings)
    mem = res["mem_gb"]
    params: dict[str, Any] = {
        "job_name": stage.key,
        "time": int(res["timeout_min"]),
        "cpus_per_task": int(res["cpus_per_task"]),
        "mem": f"{int(mem)}GB" if float(mem).is_integer() else f"{int(mem * 1024)}MB",
        "stderr_to_stdout": True,
        "signal_delay_s": settings.signal_delay_s,
        "additional_parameters": {k: v for k, v in {"requeue": True, "kill-on-invalid-dep": "yes",
                                                    **settings.sbatch}.items() if v is not False},
    }
    if res["gpus_per_node"]:
        params["gpus_per_node"] = int(res["gpus_per_node"])
    for key in ("partition", "account", "qos"):
        if res.get(key):
            params[key] = res[key]
    if dependency:
        params["dependency"] = dependency
    if settings.setup:
        params["setup"] = list(settings.setup)
    return params


def log_path(folder: Path, job_id: str) -> Path:
    """The job's log (stdout and stderr together) as submitit names it, for task 0."""
    return folder / f"{job_id}_0_log.out"


def jobs_file(runs_dir: Path) -> Path:
    return runs_dir / RECORD_DIR / JOBS_JSON


def read_jobs(runs_dir: Path) -> dict[str, dict[str, Any]]:
    """{stage key: {job_id, log, kind, upstream, dependency, submitted_at}} of the last submission of each
    stage ({} without a record)."""
    path = jobs_file(runs_dir)
    if not path.exists():
        return {}
    try:
        return dict(read_json(path).get("jobs") or {})
    except (OSError, ValueError):
        return {}


def queue_states(job_ids: list[str]) -> dict[str, tuple[str, str]] | None:
    """{job id: (state, reason)} of the jobs SLURM still knows (squeue, then sacct for the rest; a job it no
    longer knows is left out); None when squeue does not answer (no SLURM here, a busy controller)."""
    ids = sorted({str(j) for j in job_ids})
    if not ids:
        return {}
    lines = _query(["squeue", "-h", "--states=all", "-u", str(os.getuid()), "-o", "%i|%T|%r"])
    if lines is None:
        return None
    found: dict[str, tuple[str, str]] = {}
    for line in lines:
        parts = line.split("|")
        if len(parts) >= 2 and parts[0] in ids:
            found[parts[0]] = (parts[1], parts[2] if len(parts) > 2 else "")
    rest = [j for j in ids if j not in found]
    if rest:  # gone from the controller's memory (MinJobAge): accounting may still know (often it is off)
        for line in _query(["sacct", "-n", "-P", "-X", "-o", "JobID,State", "-j", ",".join(rest)]) or []:
            parts = line.split("|")
            if len(parts) >= 2 and parts[0] in rest and parts[1]:
                found[parts[0]] = (parts[1].split()[0], "")
    return found


def _query(cmd: list[str]) -> list[str] | None:
    """The output lines of a SLURM client command; None when it is missing or fails."""
    if shutil.which(cmd[0]) is None:
        return None
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return proc.stdout.splitlines() if proc.returncode == 0 else None


class SlurmExecutor(Executor):
    """One SLURM job per stage; the plan's edges become `afterok` dependencies."""

    name = "slurm"
    SETTINGS = (*RESOURCE_KEYS, "resources", "sbatch", "setup", "folder", "python", "wait", "poll_s",
                "max_requeues", "signal_delay_s")

    def __init__(self, settings: dict[str, Any] | None = None, model: str | None = None) -> None:
        super().__init__(settings, model)
        resources = self.settings.get("resources") or {}
        if isinstance(resources, dict):
            for kind, values in resources.items():
                if kind not in DEFAULT_RESOURCES:
                    raise UserError(f"executor_settings: resources: unknown stage kind '{kind}'"
                                    f"{did_you_mean(str(kind), tuple(DEFAULT_RESOURCES))}")
                for key in values if isinstance(values, dict) else ():
                    if key not in RESOURCE_KEYS:
                        raise UserError(f"executor_settings: resources.{kind}: unknown resource '{key}'"
                                        f"{did_you_mean(str(key), RESOURCE_KEYS)}")
        self.config: SlurmSettings = validated(SlurmSettings, self.settings, "executor_settings")

    def start(self) -> None:
        for command in ("sbatch", "srun", "squeue"):
            if shutil.which(command) is None:
                raise UserError(f"slurm executor: `{command}` is not on PATH; run `xstilts run` on a SLURM login "
                                "node, or set `executor: local`")

    def run(self, stages: list[Stage], runs_dir: Path, data: DataSettings, trust_remote_code: bool = False,
            on_stage: OnStage | None = None, progress: Callable | None = None, **_: Any) -> dict[str, int]:
        """Submit a job for every stage that is not done, then (unless `wait: false`) wait for them all."""
        self.start()
        runs_dir = runs_dir.resolve()
        emit = on_stage or (lambda stage, event: None)
        skipped = [s for s in stages if is_done(runs_dir / s.key)]
        for stage in skipped:
            emit(stage, "start")
            emit(stage, "skipped")
        jobs = self.submit(stages, runs_dir)
        if not self.config.wait:
            ids = ", ".join(f"{key} {job['job_id']}" for key, job in jobs.items())
            _say(f"submitted {len(jobs)} SLURM jobs (not waiting: `wait: false`): {ids}; `xstilts status "
                 f"{runs_dir}` follows them, `xstilts run` again waits for them")
            return {"ran": 0, "skipped": len(skipped)}
        ran = self.wait(stages, runs_dir, jobs, emit)
        return {"ran": ran, "skipped": len(skipped)}

    def set_jobs(self, jobs: int) -> None:
        """`--jobs` does not apply: every stage is a job of its own, and SLURM decides how many run at once."""
        if jobs > 1:
            raise UserError(f"--jobs {jobs}: with `executor: slurm` every stage is a job of its own and SLURM "
                            "decides how many run at once; drop --jobs")
        self.jobs = 1

    def run_stage(self, stage: Stage, runs_dir: Path, data: DataSettings, trust_remote_code: bool,
                  progress: Callable | None) -> bool:
        """One stage as one job, waited for (its upstream stages must be done)."""
        return self.run([stage], runs_dir, data, trust_remote_code)["ran"] == 1

    # submitting

    def submit(self, stages: list[Stage], runs_dir: Path,
               submit_job: Callable[[Stage, dict[str, Any]], str] | None = None) -> dict[str, dict[str, Any]]:
        """A job for every stage that is not done, in plan order, adopting a job of an earlier run that SLURM
        still has queued or running; records RUNS_DIR/.slurm/jobs.json after each submission. Returns
        {key: job record} of the stages being worked on. `submit_job(stage, parameters) -> job id` replaces
        submitit (tests)."""
        folder = self.folder(runs_dir)
        submit_job = submit_job or self._submitter(folder, runs_dir)
        record = read_jobs(runs_dir)
        todo = [s for s in stages if not is_done(runs_dir / s.key)]
        live = queue_states([record[s.key]["job_id"] for s in todo if s.key in record]) or {}
        jobs: dict[str, dict[str, Any]] = {}
        for stage in todo:
            old = record.get(stage.key)
            if old and live.get(str(old["job_id"]), ("",))[0] in LIVE_STATES:
                jobs[stage.key] = {**old, "adopted": True}
                continue
            upstream = jobs.get(stage.upstream or "")
            dependency = f"afterok:{upstream['job_id']}" if upstream else None
            params = sbatch_parameters(stage, self.config, dependency)
            job_id = str(submit_job(stage, params))
            jobs[stage.key] = record[stage.key] = {
                "job_id": job_id, "kind": stage.kind, "upstream": stage.upstream, "dependency": dependency,
                "log": str(log_path(folder, job_id)), "submitted_at": time.time()}
            write_json(jobs_file(runs_dir), {"schema_version": 1, "folder": str(folder), "jobs": record})
        return jobs

    def folder(self, runs_dir: Path) -> Path:
        return Path(self.config.folder).expanduser().resolve() if self.config.folder else \
            runs_dir.resolve() / RECORD_DIR / "logs"

    def _submitter(self, folder: Path, runs_dir: Path) -> Callable[[Stage, dict[str, Any]], str]:
        import submitit

        from harness.executors.slurm_job import run_stage_job

        python = self.config.python or shlex.quote(sys.executable)

        def submit_job(stage: Stage, params: dict[str, Any]) -> str:
            executor = submitit.SlurmExecutor(folder=folder, python=python)
            executor.update_parameters(**params)
            try:
                job = executor.submit(run_stage_job, str(runs_dir), stage.key, self.config.max_requeues)
            except Exception as exc:  # sbatch refused (bad partition, account, resources): the user can fix it
                detail = [line for line in str(exc).splitlines() if "error" in line.lower()] or \
                    str(exc).splitlines()[-1:]
                raise UserError(f"slurm executor: sbatch refused the job of stage {stage.key}: "
                                f"{detail[0].strip() if detail else type(exc).__name__}; check executor_settings "
                                "(partition, account, resources)") from None
            return str(job.job_id)

        return submit_job

    # waiting

    def wait(self, stages: list[Stage], runs_dir: Path, jobs: dict[str, dict[str, Any]], emit: OnStage) -> int:
        """Poll the queue until every job is over; stage events through `emit`. Returns how many stages ran;
        a failed stage is a UserError naming it and its log (after the other jobs ended)."""
        by_key = {s.key: s for s in stages}
        order = [s.key for s in stages if s.key in jobs]
        started: set[str] = set()
        ended: dict[str, str] = {}  # key -> "ran", "failed" or "blocked" (not run: its upstream did not finish)
        over_once: set[str] = set()  # ended in SLURM's eyes on the previous poll (a requeue passes through)
        try:
            while len(ended) < len(order):
                states = queue_states([jobs[k]["job_id"] for k in order if k not in ended])
                for key in order if states is not None else ():  # None: no answer this time, ask again
                    if key in ended:
                        continue
                    job = jobs[key]
                    state, reason = states.get(str(job["job_id"]), ("", ""))
                    done = is_done(runs_dir / key)
                    if (state == "RUNNING" or done) and key not in started:
                        started.add(key)
                        emit(by_key[key], "start")
                    if state in LIVE_STATES and not (state == "PENDING" and reason == NEVER_SATISFIED):
                        if state == "PENDING" and key in started and not done:
                            _say(f"{key}: job {job['job_id']} requeued; it resumes from the stage's checkpoint")
                            started.discard(key)
                        over_once.discard(key)
                        continue
                    if done:
                        ended[key] = "ran"
                        emit(by_key[key], "ran")
                        continue
                    if key not in over_once:  # decide on the next poll: SLURM may be between two states
                        over_once.add(key)
                        continue
                    ended[key] = self._ended(key, job, state, reason, runs_dir, ended)
                    emit(by_key[key], ended[key])
                if len(ended) < len(order):
                    time.sleep(self.config.poll_s)
        except KeyboardInterrupt:
            waiting = [jobs[k]["job_id"] for k in order if k not in ended]
            raise Interrupted(f"stopped waiting; {len(waiting)} SLURM jobs keep running ({', '.join(waiting)}): "
                              f"`xstilts status {runs_dir}` follows them, `xstilts run` again waits for them") \
                from None
        failed = [k for k in order if ended[k] == "failed"]
        if failed:
            ran = sum(v == "ran" for v in ended.values())
            blocked = sum(v == "blocked" for v in ended.values())
            first = (read_failure(runs_dir / failed[0]) or {})
            more = f"; {len(failed) - 1} more failed" if len(failed) > 1 else ""
            more += f"; {blocked} not run (upstream failed)" if blocked else ""
            _say(f"{ran} stages ran, {len(failed)} failed, {blocked} not run; `xstilts status {runs_dir}` lists them")
            raise UserError(f"stage {failed[0]} failed on SLURM (job {jobs[failed[0]]['job_id']}): "
                            f"{first.get('error')}; log: {first.get('log') or jobs[failed[0]].get('log')}{more}")
        return sum(v == "ran" for v in ended.values())

    def _ended(self, key: str, job: dict[str, Any], state: str, reason: str, runs_dir: Path,
               ended: dict[str, str]) -> str:
        """Classify a job that is over without its stage done: "blocked" (never ran: its upstream did not
        finish) or "failed" (failed.json written unless the job wrote its own)."""
        upstream = job.get("upstream")
        if reason == NEVER_SATISFIED or (upstream and ended.get(upstream) in ("failed", "blocked")):
            if state in LIVE_STATES:  # SLURM keeps a job whose dependency can never be met: cancel it
                _query(["scancel", str(job["job_id"])])
            return "blocked"
        stage_dir = runs_dir / key
        if (read_failure(stage_dir) or {}).get("job_id") != str(job["job_id"]):  # the job did not say why: its end did
            what = f"ended {state}" if state else "is gone from the queue"
            cause = _last_error(Path(job["log"])) if job.get("log") else None
            kept = "; its checkpoint is kept, `xstilts run` again resumes" if (stage_dir / CHECKPOINT_DIR).exists() \
                else ""
            error = f"job {job['job_id']} {what} before the stage finished" + (f" ({cause})" if cause else "") + kept
            record_failure(stage_dir, log=job.get("log"), error=error, executor=self.name,
                           job_id=str(job["job_id"]), state=state or "UNKNOWN")
        return "failed"


LOG_CAUSES = (re.compile(r"^(\w+\.)*\w*(Error|Exception)\b"),  # a Python exception, last line of a traceback
              re.compile(r"slurmstepd.*(CANCELLED|oom|OOM)"),  # killed: time limit, memory
              re.compile(r"\berror: "))
"""What reads like the cause of a job's end in its log, most telling first."""


def _last_error(log: Path) -> str | None:
    """The last line of a job's log that reads like its cause of death (LOG_CAUSES), or None."""
    lines = tail_lines(log)[-200:]
    for pattern in LOG_CAUSES:
        found = next((line.strip()[:300] for line in reversed(lines) if pattern.search(line)), None)
        if found:
            return found
    return None


def _say(line: str) -> None:
    print(line, file=sys.stderr, flush=True)
