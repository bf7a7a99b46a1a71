"""A real single-node SLURM cluster on this machine, for the `slurm` tests.

`cluster()` reuses a cluster that already answers (`sinfo` shows an idle node), else, as root, installs Debian's
`slurm-wlm` and `munge` when `sbatch` is absent, starts munged (unless one answers), writes a slurm.conf for
this host (proctrack/linuxproc, task/none, unprivileged ports, state and spool under a temporary directory,
2 CPUs), starts slurmctld and slurmd in the foreground as child processes and waits for the node to be idle.
`Cluster.stop()` stops exactly the processes it started, by pid. Client commands find the cluster through the
SLURM_CONF environment variable, which jobs inherit (sbatch exports the environment).

When none of this is possible the reason is returned, and the tests skip, unless XSTILTS_REQUIRE_SERVICES=1
(CI), where they fail with that reason.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

REQUIRE_ENV = "XSTILTS_REQUIRE_SERVICES"
"""Set to 1 (CI) to turn "no SLURM here" into a failure instead of a skip."""

PACKAGES = ("slurm-wlm", "munge")
MUNGE_KEY = Path("/etc/munge/munge.key")
NODE_CPUS = 2


@dataclass
class Cluster:
    """A running cluster: its slurm.conf and the processes this session started (empty when reused)."""

    conf: Path
    processes: list[subprocess.Popen] = field(default_factory=list)
    log_dir: Path | None = None

    def env(self) -> dict[str, str]:
        return {"SLURM_CONF": str(self.conf)}

    def stop(self) -> None:
        """Cancel this cluster's jobs, then stop the daemons this session started (reverse order), by pid."""
        if self.processes:
            subprocess.run(["scancel", "--full", "--user", str(os.getuid())], env={**os.environ, **self.env()},
                           capture_output=True, timeout=30)
        for proc in reversed(self.processes):
            if proc.poll() is None:
                os.kill(proc.pid, signal.SIGTERM)
                try:
                    proc.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    os.kill(proc.pid, signal.SIGKILL)
                    proc.wait(timeout=10)
        self.processes.clear()

    def logs(self) -> str:
        """The tail of the daemons' logs, for a failure message."""
        if self.log_dir is None:
            return ""
        tails = []
        for log in sorted([*self.log_dir.glob("*.log"), *self.log_dir.parent.glob("munge/*.log")]):
            tails.append(f"--- {log}\n" + "\n".join(log.read_text(errors="replace").splitlines()[-15:]))
        return "\n".join(tails)


def _run(cmd: list[str], timeout: float = 30, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env={**os.environ, **(env or {})})


def node_state(conf: Path | None = None) -> str:
    """The state of the first node as `sinfo` reports it ('' when no controller answers)."""
    if shutil.which("sinfo") is None:
        return ""
    env = {"SLURM_CONF": str(conf)} if conf else None
    try:
        out = _run(["sinfo", "-h", "-N", "-o", "%T"], timeout=10, env=env)
    except subprocess.TimeoutExpired:
        return ""
    return out.stdout.split()[0] if out.returncode == 0 and out.stdout.split() else ""


def install() -> str | None:
    """apt-get install slurm-wlm munge when sbatch is absent; the reason it cannot, or None."""
    if shutil.which("sbatch") and shutil.which("slurmctld") and shutil.which("munged"):
        return None
    if os.geteuid() != 0:
        return "sbatch is not installed and installing slurm-wlm needs root"
    if shutil.which("apt-get") is None:
        return "sbatch is not installed and there is no apt-get to install slurm-wlm"
    env = {"DEBIAN_FRONTEND": "noninteractive"}
    wait = ["-o", "DPkg::Lock::Timeout=600"]  # another process may be installing packages too
    for cmd in (["apt-get", *wait, "update", "-qq"], ["apt-get", *wait, "install", "-y", "-qq", *PACKAGES]):
        proc = _run(cmd, timeout=900, env=env)
        if proc.returncode != 0:
            return f"`{' '.join(cmd)}` failed: {(proc.stderr or proc.stdout).strip().splitlines()[-1:]}"
    return None


def _munge_answers(socket_path: Path) -> bool:
    cred = _run(["munge", "-n", "--socket", str(socket_path)], timeout=10)
    if cred.returncode != 0:
        return False
    return subprocess.run(["unmunge", "--socket", str(socket_path)], input=cred.stdout, capture_output=True,
                          text=True, timeout=10).returncode == 0


def start_munge(munge_dir: Path, processes: list[subprocess.Popen]) -> str | None:
    """Start a munged of this cluster's own (socket, pid, seed and log files in `munge_dir`), as the munge user,
    with the machine's key (made if missing); the reason it fails, or None. Its own socket keeps it apart from
    a system munged and from the cluster of another test process."""
    import pwd

    try:
        user = pwd.getpwnam("munge")
    except KeyError:
        return "no 'munge' user: is the munge package installed?"
    if not MUNGE_KEY.exists():
        made = _run(["mungekey", "--create", "--keyfile", str(MUNGE_KEY)])
        if made.returncode != 0:
            return f"could not create {MUNGE_KEY}: {made.stderr.strip()}"
        os.chown(MUNGE_KEY, user.pw_uid, user.pw_gid)
        MUNGE_KEY.chmod(0o400)
    munge_dir.mkdir(parents=True, exist_ok=True)
    os.chown(munge_dir, user.pw_uid, user.pw_gid)
    munge_dir.chmod(0o755)
    for parent in munge_dir.parents:  # munged refuses a socket below a directory others may write to
        if parent.stat().st_mode & 0o002 and not parent.stat().st_mode & 0o1000:
            return f"{parent} is world-writable without the sticky bit; munged refuses sockets below it"
    sock = munge_dir / "munge.socket"
    cmd = ["munged", "--foreground", "--socket", str(sock), "--pid-file", str(munge_dir / "munged.pid"),
           "--seed-file", str(munge_dir / "munged.seed"), "--log-file", str(munge_dir / "munged.log")]
    processes.append(subprocess.Popen(cmd, user=user.pw_uid, group=user.pw_gid, stdout=subprocess.DEVNULL,
                                      stderr=subprocess.STDOUT))
    for _ in range(50):
        if _munge_answers(sock):
            return None
        if processes[-1].poll() is not None:
            break
        time.sleep(0.2)
    log = munge_dir / "munged.log"
    return f"munged did not answer on {sock}: " + (log.read_text(errors="replace")[-500:] if log.exists() else "")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _memory_mb() -> int:
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemTotal:"):
            return int(line.split()[1]) // 1024 - 512
    return 2048


def slurm_conf(root: Path, host: str, munge_socket: Path) -> str:
    """A single-node slurm.conf for `host`, everything it writes under `root`. `cred_expire=10` shortens
    how long a requeued job waits before it starts again (120 s by default)."""
    ctld, slurmd = _free_port(), _free_port()
    return f"""\
ClusterName=xstilts-test
SlurmctldHost={host}(127.0.0.1)
SlurmUser=root
SlurmdUser=root
SlurmctldPort={ctld}
SlurmdPort={slurmd}
AuthType=auth/munge
AuthInfo=socket={munge_socket},cred_expire=10
CryptoType=crypto/munge
MpiDefault=none
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU_Memory
ReturnToService=2
JobRequeue=1
MinJobAge=3600
KillWait=60
InactiveLimit=0
MailProg=/bin/true
StateSaveLocation={root}/state
SlurmdSpoolDir={root}/spool
SlurmctldPidFile={root}/slurmctld.pid
SlurmdPidFile={root}/slurmd.pid
SlurmctldLogFile={root}/log/slurmctld.log
SlurmdLogFile={root}/log/slurmd.log
NodeName={host} NodeAddr=127.0.0.1 CPUs={NODE_CPUS} RealMemory={_memory_mb()} State=UNKNOWN
PartitionName=debug Nodes=ALL Default=YES MaxTime=INFINITE State=UP
"""


def start(root: Path) -> Cluster | str:
    """Install if needed, then start munged, slurmctld and slurmd under `root`; a Cluster, or why not."""
    existing = os.environ.get("SLURM_CONF")
    if node_state() in ("idle", "mixed", "allocated"):
        return Cluster(Path(existing or "/etc/slurm/slurm.conf"))
    if os.geteuid() != 0:
        return "no SLURM cluster answers here and starting one needs root"
    why = install()
    if why:
        return why
    root.chmod(0o755)  # munged runs as the munge user and must reach its directory
    for sub in ("state", "spool", "log"):
        (root / sub).mkdir(parents=True, exist_ok=True)
    conf = root / "slurm.conf"
    conf.write_text(slurm_conf(root, socket.gethostname().split(".")[0], root / "munge" / "munge.socket"))
    cluster = Cluster(conf, log_dir=root / "log")
    why = start_munge(root / "munge", cluster.processes)
    if why:
        cluster.stop()
        return why
    for daemon in ("slurmctld", "slurmd"):
        with open(root / "log" / f"{daemon}.out", "ab") as log:
            cluster.processes.append(subprocess.Popen([daemon, "-D", "-f", str(conf)], stdout=log,
                                                      stderr=subprocess.STDOUT))
        if daemon == "slurmctld":
            time.sleep(1)
    deadline = time.time() + 60
    while time.time() < deadline:
        if node_state(conf) == "idle":
            return cluster
        if any(p.poll() is not None for p in cluster.processes):
            break
        time.sleep(0.5)
    state = node_state(conf)
    logs = cluster.logs()
    cluster.stop()
    return f"the test cluster did not become idle (node state {state or 'unknown'}):\n{logs}"
