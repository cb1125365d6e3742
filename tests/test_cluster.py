"""A real two-node Ray cluster in two network namespaces, running main.py against it.

    .venv/bin/python -m pytest tests/test_cluster.py -q -m cluster      # as root, needs `ip netns`

Two namespaces joined by a veth pair (10.213.<n>.1/24 and .2/24, addresses that exist only inside
them) get a Ray head (ns1) and a Ray worker node (ns2). The same cluster (module-scoped fixture)
serves two tests, both running the quick Fig. 3a from ns1 with the trials on the worker node:

- main.py with `--address`: the driver runs in ns1, next to the head;
- `ray job submit --runtime-env runtime_envs/cpu.yaml` to the head's job server (its dashboard, on
  the head's namespace address): the driver is the job's entrypoint on the head, and main.py takes
  the job's runtime env (working_dir upload, RESULTS_DIR) instead of passing its own.

The head has 0 CPUs, so every trial (1 CPU each) must run on the worker node. With one CPU on each
node, Tune sometimes ran both quick trials on the head (2 runs in 10 here): it reuses an actor for
the second trial when the first one finishes before the worker's actor is up. Then the worker
node would not be exercised.

Cleanup never uses `ray stop`: that command kills every Ray process on the machine by name, including
other people's runs. Instead the processes of this test are found by their network namespace
(`ip netns pids`), i.e. exactly the ones started here, and ended by pid; then the namespaces and the
temp dir are deleted. This happens in the fixture teardown, also when the test fails.
"""
import json
import os
from pathlib import Path
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time

import pytest
import yaml

from results import current_run, load_rows, read_info, trial_nodes

pytestmark = [pytest.mark.cluster, pytest.mark.slow]   # `-m "not slow"` skips it with the other Ray runs

PROJECT_ROOT = Path(__file__).resolve().parents[1]

BIN = Path(sys.executable).parent               # the venv's bin: python and the `ray` script
RAY = BIN / "ray"
HEAD_PORT = 6379                                # free by construction: ns1 is ours alone
DASHBOARD_PORT = 8265                           # the job server; free for the same reason
EXPECTED_ROWS = 2 * 24                          # fig3a quick: rules pc, bp x 24 iterations
STEP_TIMEOUT = 120                              # seconds for any one command
MAIN_TIMEOUT = 300                              # seconds for main.py on the cluster

# Environment of every Ray process here. RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER must NOT be 0: on Linux
# 0 turns multi-node support off (ray_constants.ENABLE_RAY_CLUSTER), `ray start --address` then
# aborts and a driver resolves its node IP to 127.0.0.1 instead of the namespace's address.
RAY_ENV = {
    "RAY_AUTH_MODE": "disabled",
    "RAY_DISABLE_USAGE_STATS": "1",
    "RAY_USAGE_STATS_ENABLED": "0",
    "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "1",
}


def _skip_reason():
    """Why this machine can't run the test, or None."""
    if not sys.platform.startswith("linux"):
        return "needs Linux network namespaces"
    if os.geteuid() != 0:
        return "needs root to create network namespaces (ip netns)"
    if shutil.which("ip") is None:
        return "needs the `ip` command (iproute2) for network namespaces"
    if not RAY.exists():
        return f"no `ray` script next to {sys.executable}"
    probe = f"rtprobe{secrets.token_hex(3)}"
    try:
        result = subprocess.run(["ip", "netns", "add", probe], capture_output=True, text=True,
                                timeout=30)
    except (OSError, subprocess.TimeoutExpired) as error:
        return f"`ip netns add` unavailable: {error}"
    if result.returncode != 0:
        return f"`ip netns add` failed: {result.stderr.strip()}"
    subprocess.run(["ip", "netns", "del", probe], capture_output=True, timeout=30)
    return None


def _env(**extra):
    env = {k: v for k, v in os.environ.items()
           if k != "RAY_ADDRESS" and not k.lower().endswith("_proxy")}
    env.update(RAY_ENV)
    env.update(extra)
    return env


def _run(cmd, timeout=STEP_TIMEOUT, check=True, **kwargs):
    result = subprocess.run([str(c) for c in cmd], capture_output=True, text=True,
                            timeout=timeout, **kwargs)
    if check and result.returncode != 0:
        raise AssertionError(f"{' '.join(map(str, cmd))} exited {result.returncode}\n"
                             f"stdout:\n{result.stdout[-4000:]}\nstderr:\n{result.stderr[-4000:]}")
    return result


def _ns_pids(ns):
    result = subprocess.run(["ip", "netns", "pids", ns], capture_output=True, text=True,
                            timeout=30)
    return [int(p) for p in result.stdout.split() if p.isdigit() and int(p) != os.getpid()]


def _kill_namespace_processes(ns, grace=2.0, timeout=30.0):
    """SIGTERM, then SIGKILL, every process living in network namespace `ns` (all started here)."""
    deadline = time.monotonic() + timeout
    term_sent_at = None
    while time.monotonic() < deadline:
        pids = _ns_pids(ns)
        if not pids:
            return []
        if term_sent_at is None:
            sig, term_sent_at = signal.SIGTERM, time.monotonic()
        elif time.monotonic() - term_sent_at > grace:
            sig = signal.SIGKILL
        else:
            sig = None
        for pid in pids if sig else []:
            try:
                os.kill(pid, sig)
            except ProcessLookupError:
                pass
        time.sleep(0.3)
    return _ns_pids(ns)


class Cluster:
    """Two namespaces with a veth link between them; Ray is started by the test."""

    def __init__(self):
        token = secrets.token_hex(3)
        self.ns = [f"rtc{token}a", f"rtc{token}b"]            # also the veth names (<= 15 chars)
        subnet = 1 + secrets.randbelow(254)
        self.ip = [f"10.213.{subnet}.1", f"10.213.{subnet}.2"]
        self.address = f"{self.ip[0]}:{HEAD_PORT}"
        self.dashboard = f"http://{self.ip[0]}:{DASHBOARD_PORT}"
        # Short: Ray's unix sockets live under <temp dir>/session_<date>_<pid>/sockets/ (107 bytes max)
        self.tmp = Path(tempfile.mkdtemp(prefix="rt", dir="/tmp"))
        self.created = []

    def exec(self, index, cmd, **kwargs):
        return _run(["ip", "netns", "exec", self.ns[index], *cmd], **kwargs)

    def setup_network(self):
        for ns in self.ns:
            _run(["ip", "netns", "add", ns])
            self.created.append(ns)
        # Both ends are created directly inside the namespaces: nothing touches the host's network.
        _run(["ip", "link", "add", self.ns[0], "netns", self.ns[0], "type", "veth",
              "peer", "name", self.ns[1], "netns", self.ns[1]])
        for i, ns in enumerate(self.ns):
            self.exec(i, ["ip", "link", "set", "lo", "up"])
            self.exec(i, ["ip", "addr", "add", f"{self.ip[i]}/24", "dev", ns])
            self.exec(i, ["ip", "link", "set", ns, "up"])

    def start_ray(self):
        common = ["--object-store-memory", str(100 * 1024 ** 2), "--disable-usage-stats"]
        # As if the venv were activated: a job's entrypoint `python ...` is looked up on the PATH
        # that `ray start` had on the head (else e.g. a system python without torch runs main.py).
        env = _env(PATH=os.pathsep.join([str(BIN), os.environ.get("PATH", os.defpath)]))
        self.exec(0, [RAY, "start", "--head", "--node-ip-address", self.ip[0], "--port", HEAD_PORT,
                      "--temp-dir", self.tmp / "head", "--num-cpus", "0",
                      "--include-dashboard=true", "--dashboard-host", self.ip[0],
                      "--dashboard-port", DASHBOARD_PORT, *common], env=env)
        self.exec(1, [RAY, "start", "--address", self.address, "--node-ip-address", self.ip[1],
                      "--temp-dir", self.tmp / "worker", "--num-cpus", "1", *common], env=env)

    def alive_nodes(self, want, timeout=60):
        """The cluster's alive nodes as seen by a driver in ns1, waiting up to `timeout` for `want`."""
        snippet = (
            "import json, sys, time, ray\n"
            "ray.init(address=sys.argv[1], logging_level='ERROR')\n"
            "deadline = time.monotonic() + float(sys.argv[2])\n"
            "while True:\n"
            "    nodes = [n for n in ray.nodes() if n['Alive']]\n"
            "    if len(nodes) >= int(sys.argv[3]) or time.monotonic() > deadline:\n"
            "        break\n"
            "    time.sleep(0.5)\n"
            "print('NODES=' + json.dumps(sorted(n['NodeManagerAddress'] for n in nodes)))\n")
        result = self.exec(0, [sys.executable, "-c", snippet, self.address, timeout, want],
                           env=_env(), timeout=timeout + STEP_TIMEOUT)
        line = [l for l in result.stdout.splitlines() if l.startswith("NODES=")][-1]
        return json.loads(line[len("NODES="):])

    def job_status(self, job_id):
        """The status (e.g. "SUCCEEDED") of job `job_id`, asked from ns1 by the job client."""
        snippet = ("import sys\n"
                   "from ray.job_submission import JobSubmissionClient\n"
                   "status = JobSubmissionClient(sys.argv[1]).get_job_status(sys.argv[2])\n"
                   "print('STATUS=' + str(status.value))\n")
        result = self.exec(0, [sys.executable, "-c", snippet, self.dashboard, job_id], env=_env())
        return [l for l in result.stdout.splitlines() if l.startswith("STATUS=")][-1][len("STATUS="):]

    def log_tail(self, lines=40):
        """The end of the raylet/GCS/dashboard/job logs, for failure messages."""
        out = []
        for log in sorted(self.tmp.glob("*/session_latest/logs/*")):
            if (log.name.startswith(("raylet.", "gcs_server.", "dashboard", "job-driver-"))
                    and log.suffix in (".out", ".err", ".log")):
                text = log.read_text(errors="replace").splitlines()[-lines:]
                if text:
                    out.append(f"--- {log}\n" + "\n".join(text))
        return "\n".join(out)

    def teardown(self):
        leftovers = {ns: _kill_namespace_processes(ns) for ns in self.created}
        for ns in self.created:
            subprocess.run(["ip", "netns", "del", ns], capture_output=True, timeout=30)
        shutil.rmtree(self.tmp, ignore_errors=True)
        return {ns: pids for ns, pids in leftovers.items() if pids}


@pytest.fixture(scope="module")
def cluster():
    reason = _skip_reason()
    if reason:
        pytest.skip(reason)
    cluster = Cluster()
    try:
        cluster.setup_network()
        cluster.start_ray()
        yield cluster
    finally:
        leftovers = cluster.teardown()
        assert not leftovers, f"processes survived SIGKILL in the test namespaces: {leftovers}"


def test_main_on_two_node_cluster(cluster, tmp_path):
    nodes = cluster.alive_nodes(want=2)
    assert nodes == sorted(cluster.ip), f"expected both nodes alive, got {nodes}\n{cluster.log_tail()}"

    results = tmp_path / "results"
    result = cluster.exec(
        0, [sys.executable, "main.py", "-c", "interference/fig3a", "--profile", "quick",
            "--address", cluster.address],
        cwd=PROJECT_ROOT, env=_env(RESULTS_DIR=str(results)), timeout=MAIN_TIMEOUT, check=False)
    output = f"stdout:\n{result.stdout[-6000:]}\nstderr:\n{result.stderr[-6000:]}"
    assert result.returncode == 0, f"main.py exited {result.returncode}\n{output}\n{cluster.log_tail()}"

    run_path = current_run(results / "interference" / "fig3a-quick")
    rows = load_rows(run_path)
    assert len(rows) == EXPECTED_ROWS, output
    assert sorted(rows["rule"].unique()) == ["bp", "pc"]
    assert rows.groupby("rule")["iteration"].nunique().to_dict() == {"bp": 24, "pc": 24}
    summary = read_info(run_path)
    assert summary["rows"] == EXPECTED_ROWS and summary["failed_trials"] == []

    # Where each trial ran: Tune stamps every report with the trial actor's node_ip.
    trial_ips = trial_nodes(run_path)
    assert len(trial_ips) == 2, trial_ips
    # The head has no CPUs, so the worker node in the other namespace ran every trial.
    assert all(ips == {cluster.ip[1]} for ips in trial_ips.values()), \
        f"trials did not all run on the worker node {cluster.ip[1]}: {trial_ips}"

    assert cluster.alive_nodes(want=2) == sorted(cluster.ip)


def test_job_submit_on_two_node_cluster(cluster, tmp_path):
    """`ray job submit` with runtime_envs/cpu.yaml, as runtime_envs/README.md describes it."""
    nodes = cluster.alive_nodes(want=2)
    assert nodes == sorted(cluster.ip), f"expected both nodes alive, got {nodes}\n{cluster.log_tail()}"

    # cpu.yaml as it is, except RESULTS_DIR: this test's directory instead of the head's /tmp.
    results = tmp_path / "results"
    runtime_env = yaml.safe_load((PROJECT_ROOT / "runtime_envs" / "cpu.yaml").read_text())
    runtime_env["env_vars"]["RESULTS_DIR"] = str(results)
    runtime_env_file = tmp_path / "runtime_env.yaml"
    runtime_env_file.write_text(yaml.safe_dump(runtime_env))

    job_id = f"rtjob_{secrets.token_hex(4)}"
    entrypoint = ["python", "main.py", "-c", "interference/fig3a", "--profile", "quick"]
    # From the project root: the runtime env's working_dir "." is the directory we submit from.
    try:   # waits for the job's end, streaming its output; exits 1 if the job FAILED
        submit = cluster.exec(
            0, [RAY, "job", "submit", "--address", cluster.dashboard, "--submission-id", job_id,
                "--runtime-env", runtime_env_file, "--", *entrypoint],
            cwd=PROJECT_ROOT, env=_env(), timeout=MAIN_TIMEOUT, check=False)
    except subprocess.TimeoutExpired as error:   # the job itself ends in the fixture teardown
        streamed = error.stdout or b""
        streamed = streamed.decode(errors="replace") if isinstance(streamed, bytes) else streamed
        pytest.fail(f"job {job_id} still {cluster.job_status(job_id)} after {MAIN_TIMEOUT} s\n"
                    f"{streamed[-6000:]}\n{cluster.log_tail()}")
    output = f"stdout:\n{submit.stdout[-6000:]}\nstderr:\n{submit.stderr[-6000:]}"
    status = cluster.job_status(job_id)
    assert status == "SUCCEEDED" and submit.returncode == 0, \
        f"job {job_id}: {status}, `ray job submit` exited {submit.returncode}\n{output}\n" \
        f"{cluster.log_tail()}"

    run_path = current_run(results / "interference" / "fig3a-quick")
    rows = load_rows(run_path)
    assert len(rows) == EXPECTED_ROWS, output
    summary = read_info(run_path)
    assert summary["rows"] == EXPECTED_ROWS and summary["failed_trials"] == [], summary

    trial_ips = trial_nodes(run_path)
    assert len(trial_ips) == 2 and all(ips == {cluster.ip[1]} for ips in trial_ips.values()), \
        f"trials did not all run on the worker node {cluster.ip[1]}: {trial_ips}"
