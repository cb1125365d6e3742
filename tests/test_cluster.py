"""A real Ray cluster with token authentication in network namespaces, running main.py against it.

    .venv/bin/python -m pytest tests/test_cluster.py -q -m cluster      # as root, needs `ip netns`

Three namespaces hang on a bridge inside the first (10.213.<n>.1, .2 and .3/24, addresses that exist
only inside them): a Ray head (ns1, 0 CPUs), a Ray worker node (ns2, 1 CPU) and a spare namespace
(ns3) where only the node-loss test starts a second worker node, and kills it. The cluster runs with
Ray's token authentication on (RAY_AUTH_MODE=token), the token made as an operator would make it
(`ray get-auth-token --generate`, in a private HOME) and handed to every process by its file
(RAY_AUTH_TOKEN_PATH), except to `ray job submit`, which gets it by value (RAY_AUTH_TOKEN). The same
cluster (module-scoped fixture) serves every test; each runs main.py (or a job) from ns1:

- main.py with `--address`: the driver runs in ns1, next to the head;
- `ray job submit` with runtime_envs/cpu.yaml and this checkout's git revision (what
  runtime_envs/with_revision.py prints) to the head's job server (its dashboard, on the head's
  namespace address): the driver is the job's entrypoint on the head, and main.py takes the job's
  runtime env (working_dir upload, RESULTS_DIR under the Ray user's home) instead of passing its own;
  the run records the revision and the config's path in the project, and analysis_v1.py on the head
  plots it;
- without the token, or with a wrong one, the job API and the cluster refuse a client (main.py
  says so in exactly one line, exit 2, and starts no run);
- the token file is private (mode 600) when made as README.md says, and the head's GCS port listens
  on every interface whatever --node-ip-address says (so a firewall, not that flag, keeps it private);
- Ctrl-C (SIGINT to the driver's process group) in the middle of a sweep stops it cleanly (exit 1,
  no traceback, the run recorded as not complete); `--resume` then finishes it, rerunning only the
  interrupted trial;
- the worker node in ns3 is killed (SIGKILL of every process in ns3, as when a machine dies) while
  it runs a trial: Tune retries that trial on the node that is left, the sweep completes with every
  row once, and the summary (output and run.json) names the retried trial.

The head has 0 CPUs, so every trial (1 CPU each) must run on a worker node. With one CPU on each
node, Tune sometimes ran both quick trials on the head (2 runs in 10 here): it reuses an actor for
the second trial when the first one finishes before the worker's actor is up. Then the worker
node would not be exercised.

No test waits a fixed time for something to happen: each waits (with a generous deadline) for the
state it needs, read from the run's trial records, so a slow, shared machine only makes it slower.

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

from results import current_run, load_rows, read_info, run_home, runs, trial_nodes, trial_states
import runtime_envs.with_revision

pytestmark = [pytest.mark.cluster, pytest.mark.slow]   # `-m "not slow"` skips it with the other Ray runs

PROJECT_ROOT = Path(__file__).resolve().parents[1]

BIN = Path(sys.executable).parent               # the venv's bin: python and the `ray` script
RAY = BIN / "ray"
HEAD_PORT = 6379                                # free by construction: ns1 is ours alone
DASHBOARD_PORT = 8265                           # the job server; free for the same reason
EXPECTED_ROWS = 2 * 24                          # fig3a quick: rules pc, bp x 24 iterations
STEP_TIMEOUT = 120                              # seconds for any one command
MAIN_TIMEOUT = 300                              # seconds for main.py on the cluster
QUICK = ["-c", "interference/fig3a", "--profile", "quick"]


SWEEP_ITERATIONS = 6


def sweep(lrs):
    """The -o overrides of a sweep of PC trials, one per learning rate, each slow enough (about a
    second per iteration: 20,000 inference steps) to be caught part-way, reporting every iteration."""
    return ["config.rule=pc", "config.pc.T=20000", f"stop.training_iteration={SWEEP_ITERATIONS}",
            "report_every=1", f"config.optimizer.lr={{grid_search: {list(lrs)}}}"]


def sweep_home(overrides):
    """The run home of a sweep (under $RESULTS_DIR)."""
    return run_home(PROJECT_ROOT / "experiments" / "interference" / "fig3a.yaml", "quick", overrides)

# Environment of every Ray process here. RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER must NOT be 0: on Linux
# 0 turns multi-node support off (ray_constants.ENABLE_RAY_CLUSTER), `ray start --address` then
# aborts and a driver resolves its node IP to 127.0.0.1 instead of the namespace's address.
# RAY_AUTH_MODE=token: every Ray process, driver and job client must present the cluster's token.
# It is set explicitly everywhere: a driver given an address never turns token mode on by itself.
RAY_ENV = {
    "RAY_AUTH_MODE": "token",
    "RAY_DISABLE_USAGE_STATS": "1",
    "RAY_USAGE_STATS_ENABLED": "0",
    "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "1",
}
# Where Ray may find a token other than the one given here: none of them is used.
TOKEN_SOURCES = ("RAY_AUTH_TOKEN", "RAY_AUTH_TOKEN_PATH")


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
    """This process's environment for a Ray process of the test: no cluster address, proxy or token
    of its own, and RAY_ENV."""
    env = {k: v for k, v in os.environ.items()
           if k != "RAY_ADDRESS" and k not in TOKEN_SOURCES and not k.lower().endswith("_proxy")}
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
    """SIGTERM, then SIGKILL after `grace` seconds (at once if grace is 0), every process living in
    network namespace `ns` (all started here)."""
    deadline = time.monotonic() + timeout
    term_sent_at = None
    while time.monotonic() < deadline:
        pids = _ns_pids(ns)
        if not pids:
            return []
        if grace <= 0:
            sig = signal.SIGKILL
        elif term_sent_at is None:
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


def _wait_for(condition, what, timeout=MAIN_TIMEOUT, process=None, poll=0.2):
    """Wait until `condition()` is true; fail after `timeout` s, or if `process` ends first."""
    deadline = time.monotonic() + timeout
    while not condition():
        if process is not None and process.poll() is not None:
            out, err = process.communicate()
            pytest.fail(f"main.py ended (exit {process.returncode}) before {what}\n"
                        f"stdout:\n{out[-4000:]}\nstderr:\n{err[-4000:]}")
        if time.monotonic() > deadline:
            pytest.fail(f"no {what} after {timeout} s")
        time.sleep(poll)


def _only_run(home):
    found = runs(home) if home.exists() else []
    return found[0] if len(found) == 1 else None


class Cluster:
    """Three namespaces on a bridge; Ray on the first two is started by the fixture, on the third
    by the test that kills it."""

    HEAD, WORKER, SPARE = 0, 1, 2

    def __init__(self):
        suffix = secrets.token_hex(3)
        self.ns = [f"rtc{suffix}{c}" for c in "abc"]         # also the veth names (<= 15 chars)
        self.bridge = f"rtb{suffix}"
        subnet = 1 + secrets.randbelow(254)
        self.ip = [f"10.213.{subnet}.{i + 1}" for i in range(len(self.ns))]
        self.address = f"{self.ip[self.HEAD]}:{HEAD_PORT}"
        self.dashboard = f"http://{self.ip[self.HEAD]}:{DASHBOARD_PORT}"
        # Short: Ray's unix sockets live under <temp dir>/session_<date>_<pid>/sockets/ (107 bytes max)
        self.tmp = Path(tempfile.mkdtemp(prefix="rt", dir="/tmp"))
        self.token, self.token_file = None, None   # the cluster's authentication token, and its file
        self.created = []

    @property
    def nodes(self):
        """The addresses of the nodes the fixture starts (head and worker), sorted."""
        return sorted(self.ip[:2])

    @property
    def home(self):
        """The HOME of the user running Ray here: a folder of this test's own."""
        return self.tmp / "home"

    def env(self, **extra):
        """The environment of a process that holds the cluster's token (by its file)."""
        return _env(RAY_AUTH_TOKEN_PATH=str(self.token_file), **extra)

    def exec(self, index, cmd, **kwargs):
        return _run(["ip", "netns", "exec", self.ns[index], *cmd], **kwargs)

    def setup_network(self):
        for ns in self.ns:
            _run(["ip", "netns", "add", ns])
            self.created.append(ns)
        # Everything is created directly inside the namespaces: nothing touches the host's network.
        # The head's namespace holds a bridge with the head's address; each other namespace is
        # joined to it by a veth pair named after the namespace (one end in it, one on the bridge).
        head = self.ns[self.HEAD]
        self.exec(self.HEAD, ["ip", "link", "set", "lo", "up"])
        self.exec(self.HEAD, ["ip", "link", "add", self.bridge, "type", "bridge"])
        self.exec(self.HEAD, ["ip", "addr", "add", f"{self.ip[self.HEAD]}/24", "dev", self.bridge])
        self.exec(self.HEAD, ["ip", "link", "set", self.bridge, "up"])
        for i, ns in enumerate(self.ns[1:], start=1):
            _run(["ip", "link", "add", ns, "netns", head, "type", "veth", "peer", "name", ns, "netns", ns])
            self.exec(self.HEAD, ["ip", "link", "set", ns, "master", self.bridge])
            self.exec(self.HEAD, ["ip", "link", "set", ns, "up"])
            self.exec(i, ["ip", "link", "set", "lo", "up"])
            self.exec(i, ["ip", "addr", "add", f"{self.ip[i]}/24", "dev", ns])
            self.exec(i, ["ip", "link", "set", ns, "up"])

    def make_token(self):
        """The cluster's token, made as README.md tells an operator to (`(umask 077; ray get-auth-token
        --generate)` writes ~/.ray/auth_token, mode 600), in a HOME of this test's own."""
        self.home.mkdir(mode=0o700)
        result = _run(["sh", "-c", f"umask 077 && exec {RAY} get-auth-token --generate"], env=_env(HOME=str(self.home)))
        self.token_file = self.home / ".ray" / "auth_token"
        assert self.token_file.read_text().strip() == result.stdout.strip() != ""
        return result.stdout.strip()

    def start_ray(self):
        self.token = self.make_token()
        # As if the venv were activated: a job's entrypoint `python ...` is looked up on the PATH
        # that `ray start` had on the head (else e.g. a system python without torch runs main.py).
        env = self.env(PATH=os.pathsep.join([str(BIN), os.environ.get("PATH", os.defpath)]), HOME=str(self.home))
        self.exec(self.HEAD, [RAY, "start", "--head", "--node-ip-address", self.ip[self.HEAD],
                              "--port", HEAD_PORT, "--temp-dir", self.tmp / "head", "--num-cpus", "0",
                              "--include-dashboard=true", "--dashboard-host", self.ip[self.HEAD],
                              "--dashboard-port", DASHBOARD_PORT, *self._common()], env=env)
        self.start_worker(self.WORKER)

    def start_worker(self, index):
        env = self.env(PATH=os.pathsep.join([str(BIN), os.environ.get("PATH", os.defpath)]), HOME=str(self.home))
        self.exec(index, [RAY, "start", "--address", self.address, "--node-ip-address", self.ip[index],
                          "--temp-dir", self.tmp / f"node{index}", "--num-cpus", "1", *self._common()],
                  env=env)

    @staticmethod
    def _common():
        return ["--object-store-memory", str(100 * 1024 ** 2), "--disable-usage-stats"]

    def alive_nodes(self, want, timeout=60):
        """The cluster's alive nodes as seen by a driver in ns1, waiting up to `timeout` for exactly
        `want` of them."""
        snippet = (
            "import json, sys, time, ray\n"
            "ray.init(address=sys.argv[1], logging_level='ERROR')\n"
            "deadline = time.monotonic() + float(sys.argv[2])\n"
            "while True:\n"
            "    nodes = [n for n in ray.nodes() if n['Alive']]\n"
            "    if len(nodes) == int(sys.argv[3]) or time.monotonic() > deadline:\n"
            "        break\n"
            "    time.sleep(0.5)\n"
            "print('NODES=' + json.dumps(sorted(n['NodeManagerAddress'] for n in nodes)))\n")
        result = self.exec(self.HEAD, [sys.executable, "-c", snippet, self.address, timeout, want],
                           env=self.env(), timeout=timeout + STEP_TIMEOUT)
        line = [l for l in result.stdout.splitlines() if l.startswith("NODES=")][-1]
        return json.loads(line[len("NODES="):])

    def job_status(self, job_id):
        """The status (e.g. "SUCCEEDED") of job `job_id`, asked from ns1 by the job client."""
        snippet = ("import sys\n"
                   "from ray.job_submission import JobSubmissionClient\n"
                   "status = JobSubmissionClient(sys.argv[1]).get_job_status(sys.argv[2])\n"
                   "print('STATUS=' + str(status.value))\n")
        result = self.exec(self.HEAD, [sys.executable, "-c", snippet, self.dashboard, job_id], env=self.env())
        return [l for l in result.stdout.splitlines() if l.startswith("STATUS=")][-1][len("STATUS="):]

    def main(self, overrides, results, *args, **kwargs):
        """main.py (quick Fig. 3a with the -o `overrides`, and `args`) from ns1 against the cluster,
        as a background process. Tune writes the trial records in a staging folder and copies them
        into the run folder with its experiment state, by default every 10 s or more; here every
        second, so that the test sees a trial's progress while the trial still runs."""
        return subprocess.Popen(
            ["ip", "netns", "exec", self.ns[self.HEAD], sys.executable, "main.py", *QUICK,
             *(f"-o{o}" for o in overrides), *args, "--address", self.address],
            cwd=PROJECT_ROOT, env=self.env(RESULTS_DIR=str(results), TUNE_GLOBAL_CHECKPOINT_S="1"), text=True,
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, **kwargs)

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


def _finish(process, timeout=MAIN_TIMEOUT):
    """(exit code, stdout, stderr) of a main.py process, and the output for failure messages."""
    try:
        out, err = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        out, err = process.communicate()
        pytest.fail(f"main.py still running after {timeout} s\nstdout:\n{out[-4000:]}\nstderr:\n{err[-4000:]}")
    return process.returncode, out, err, f"stdout:\n{out[-6000:]}\nstderr:\n{err[-6000:]}"


def _reports(run):
    """{trial folder name: the (node_ip, done) of each of its reports so far}, read as Tune writes
    them (a line still being written is skipped)."""
    found = {}
    for record in Path(run).glob("trial_*/result.json"):
        reports = []
        for line in record.read_text().splitlines():
            try:
                report = json.loads(line)
            except ValueError:
                continue
            reports.append((report["node_ip"], report["done"]))
        found[record.parent.name] = reports
    return found


def test_main_on_two_node_cluster(cluster, tmp_path):
    nodes = cluster.alive_nodes(want=2)
    assert nodes == cluster.nodes, f"expected both nodes alive, got {nodes}\n{cluster.log_tail()}"

    results = tmp_path / "results"
    result = cluster.exec(
        cluster.HEAD, [sys.executable, "main.py", *QUICK, "--address", cluster.address],
        cwd=PROJECT_ROOT, env=cluster.env(RESULTS_DIR=str(results)), timeout=MAIN_TIMEOUT, check=False)
    output = f"stdout:\n{result.stdout[-6000:]}\nstderr:\n{result.stderr[-6000:]}"
    assert result.returncode == 0, f"main.py exited {result.returncode}\n{output}\n{cluster.log_tail()}"

    run_path = current_run(results / "interference" / "fig3a-quick")
    rows = load_rows(run_path)
    assert len(rows) == EXPECTED_ROWS, output
    assert sorted(rows["rule"].unique()) == ["bp", "pc"]
    assert rows.groupby("rule")["iteration"].nunique().to_dict() == {"bp": 24, "pc": 24}
    summary = read_info(run_path)
    assert summary["rows"] == EXPECTED_ROWS and summary["failed_trials"] == []
    assert summary["retried_trials"] == [] and "retried" not in result.stdout

    # Where each trial ran: Tune stamps every report with the trial actor's node_ip.
    trial_ips = trial_nodes(run_path)
    assert len(trial_ips) == 2, trial_ips
    # The head has no CPUs, so the worker node in the other namespace ran every trial.
    worker = cluster.ip[cluster.WORKER]
    assert all(ips == {worker} for ips in trial_ips.values()), \
        f"trials did not all run on the worker node {worker}: {trial_ips}"

    assert cluster.alive_nodes(want=2) == cluster.nodes


@pytest.mark.security
def test_job_submit_on_two_node_cluster(cluster, tmp_path):
    """`ray job submit` with runtime_envs/cpu.yaml, this checkout's revision and the token, as
    runtime_envs/README.md says; then the results are analysed on the head."""
    nodes = cluster.alive_nodes(want=2)
    assert nodes == cluster.nodes, f"expected both nodes alive, got {nodes}\n{cluster.log_tail()}"

    # cpu.yaml as it is: RESULTS_DIR is under the HOME of the user running Ray (this test's own).
    results = cluster.home / "prospective-configuration" / "results"
    runtime_env = runtime_envs.with_revision.with_revision(PROJECT_ROOT / "runtime_envs" / "cpu.yaml")

    job_id = f"rtjob_{secrets.token_hex(4)}"
    entrypoint = ["python", "main.py", *QUICK]
    # From the project root: the runtime env's working_dir "." is the directory we submit from.
    # The submitter has the token by value (RAY_AUTH_TOKEN), not the cluster's token file.
    try:   # waits for the job's end, streaming its output; exits 1 if the job FAILED
        submit = cluster.exec(
            cluster.HEAD, [RAY, "job", "submit", "--address", cluster.dashboard, "--submission-id", job_id,
                           "--runtime-env-json", json.dumps(runtime_env), "--", *entrypoint],
            cwd=PROJECT_ROOT, env=_env(RAY_AUTH_TOKEN=cluster.token), timeout=MAIN_TIMEOUT, check=False)
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

    home = results / "interference" / "fig3a-quick"
    run_path = current_run(home)
    rows = load_rows(run_path)
    assert len(rows) == EXPECTED_ROWS, output
    summary = read_info(run_path)
    assert summary["rows"] == EXPECTED_ROWS and summary["failed_trials"] == [], summary
    # Provenance: the revision submitted, and the config's path in the project (not in Ray's cache).
    assert summary["git_revision"] == runtime_env["env_vars"]["GIT_REVISION"] != ""
    assert summary["config_file"] == "experiments/interference/fig3a.yaml"
    assert all(path.stat().st_mode & 0o777 == 0o700 for path in (home.parent, home, run_path))

    worker = cluster.ip[cluster.WORKER]
    trial_ips = trial_nodes(run_path)
    assert len(trial_ips) == 2 and all(ips == {worker} for ips in trial_ips.values()), \
        f"trials did not all run on the worker node {worker}: {trial_ips}"

    # On the head, in a checkout of the same revision: the analysis of the job's results.
    analysed = _run([sys.executable, "analysis_v1.py", *QUICK, "--out", tmp_path / "figures"], cwd=PROJECT_ROOT,
                    env={**os.environ, "RESULTS_DIR": str(results)}, check=False)
    assert analysed.returncode == 0 and f"results: {run_path}" in analysed.stdout, analysed.stderr
    assert (tmp_path / "figures" / "fig3a-quick.png").stat().st_size > 0


def test_without_the_token_the_job_api_and_the_cluster_refuse_a_client(cluster, tmp_path):
    """Token authentication is really on: the job API answers 401 without a token and 403 with a
    wrong one (200 with the right one); main.py with no token (RAY_AUTH_MODE unset, as in a fresh
    shell) or a wrong one is refused by the cluster and says so in one line, exit 2, no run started."""
    snippet = (
        "import sys, urllib.request, urllib.error\n"
        "for header in (None, 'Bearer ' + '0' * 64, 'Bearer ' + sys.argv[2]):\n"
        "    request = urllib.request.Request(sys.argv[1] + '/api/jobs/')\n"
        "    if header:\n"
        "        request.add_header('Authorization', header)\n"
        "    try:\n"
        "        code = urllib.request.urlopen(request, timeout=30).status\n"
        "    except urllib.error.HTTPError as error:\n"
        "        code = error.code\n"
        "    print('HTTP', code)\n")
    result = cluster.exec(cluster.HEAD, [sys.executable, "-c", snippet, cluster.dashboard, cluster.token],
                          env=_env())
    assert [l for l in result.stdout.splitlines() if l.startswith("HTTP")] == \
        ["HTTP 401", "HTTP 403", "HTTP 200"], result.stdout

    results = tmp_path / "results"
    # A refused driver retries for ~20 s by default; 2 attempts are enough to be refused.
    fresh_shell = {k: v for k, v in _env().items() if k != "RAY_AUTH_MODE"}
    for env in (fresh_shell, _env(RAY_AUTH_TOKEN="0" * 64)):
        refused = cluster.exec(
            cluster.HEAD, [sys.executable, "main.py", *QUICK, "--address", cluster.address], cwd=PROJECT_ROOT,
            env={**env, "RESULTS_DIR": str(results), "RAY_gcs_server_port_wait_time_s": "2"}, check=False)
        error = refused.stderr.splitlines()
        assert refused.returncode == 2 and len(error) == 1 and \
            error[0].startswith(f"error: Ray cluster {cluster.address}: refused this driver") and \
            "RAY_AUTH_TOKEN_PATH" in error[0], refused.stdout + refused.stderr
        assert not results.exists()   # nothing was started or written


@pytest.mark.security
def test_the_token_file_is_private_and_the_gcs_port_listens_on_every_interface(cluster):
    """README.md's claims: the token made as it says is mode 600; the head's GCS port (6379) listens on
    every interface of the head although `ray start` was given --node-ip-address, so only a firewall
    keeps it private (the job API listens on --dashboard-host alone)."""
    assert cluster.token_file.stat().st_mode & 0o777 == 0o600
    assert cluster.token_file.parent.stat().st_mode & 0o777 == 0o700
    sockets = [line.split()[3] for line in cluster.exec(cluster.HEAD, ["ss", "-Hltn"]).stdout.splitlines()
               if line.strip()]   # the local address:port of each listening TCP socket in the head's namespace

    def listening_on(port):
        return {address for address, found in (socket.rsplit(":", 1) for socket in sockets) if found == str(port)}
    assert listening_on(HEAD_PORT) & {"0.0.0.0", "*", "[::]"}, sockets
    assert listening_on(DASHBOARD_PORT) == {cluster.ip[cluster.HEAD]}, sockets


def test_ctrl_c_stops_the_driver_cleanly_and_resume_finishes_the_sweep(cluster, tmp_path, monkeypatch):
    """SIGINT to main.py's process group (what Ctrl-C does) once one of two trials has finished and
    the other has reported: the driver ends with exit 1 and no traceback, the run is recorded as not
    complete with the interrupted trial unfinished, and `--resume` finishes that trial alone."""
    assert cluster.alive_nodes(want=2) == cluster.nodes
    results = tmp_path / "results"
    monkeypatch.setenv("RESULTS_DIR", str(results))
    overrides = sweep([0.1, 0.2])
    home = sweep_home(overrides)
    driver = cluster.main(overrides, results, start_new_session=True)   # its own group, as in a shell

    def part_way():   # with one worker CPU the two trials run one after the other
        run = _only_run(home)
        states = trial_states(run) if run is not None else {}
        return len(states) == 2 and sorted(done for _, done, _ in states.values()) == [False, True]

    _wait_for(part_way, "trial finished with the other one part-way", process=driver)
    os.killpg(driver.pid, signal.SIGINT)
    code, out, err, output = _finish(driver)
    assert code == 1 and "Traceback" not in err and "--resume continues it" in err, output
    [run] = runs(home)
    before = trial_states(run)
    [unfinished] = [label for label, (_, done, _) in before.items() if not done]
    info = read_info(run)
    assert info["status"] == "failed" and info["unfinished_trials"] == [unfinished], info
    assert current_run(home) is None

    code, out, err, output = _finish(cluster.main(overrides, results, "--resume"))
    assert code == 0, f"{output}\n{cluster.log_tail()}"
    assert f"resuming the unfinished run {run}" in out, output
    assert runs(home) == [run] and current_run(home) == run
    after = trial_states(run)
    [finished] = [label for label in before if label != unfinished]
    assert after[finished] == before[finished]                       # kept, not rerun
    assert after[unfinished][0] != before[unfinished][0]             # a new attempt, from the start
    assert after[unfinished][1:] == (True, before[unfinished][2] + SWEEP_ITERATIONS)   # to the end
    rows = load_rows(run)
    assert len(rows) == 2 * SWEEP_ITERATIONS
    assert rows.groupby(["optimizer.lr", "iteration"]).size().max() == 1


def test_a_worker_node_lost_mid_sweep_has_its_trial_retried_on_the_node_left(cluster, tmp_path, monkeypatch):
    """A second worker node joins (ns3); once it runs a trial, every process of it is killed. Tune
    retries that trial on the remaining worker; both trials finish, each row once, and the
    summary names the retried trial."""
    cluster.start_worker(cluster.SPARE)
    spare, worker = cluster.ip[cluster.SPARE], cluster.ip[cluster.WORKER]
    assert cluster.alive_nodes(want=3) == sorted(cluster.ip), cluster.log_tail()

    results = tmp_path / "results"
    monkeypatch.setenv("RESULTS_DIR", str(results))
    overrides = sweep([0.1, 0.2])
    home = sweep_home(overrides)
    driver = cluster.main(overrides, results)
    lost = {}

    def running_on_spare():   # a trial has reported from the spare node and is not done
        run = _only_run(home)
        for trial, reports in (_reports(run) if run is not None else {}).items():
            if reports and reports[-1] == (spare, False):
                lost.update(run=run, trial=trial)
                return True
        return False

    _wait_for(running_on_spare, "trial running on the spare node", process=driver)
    assert not _kill_namespace_processes(cluster.ns[cluster.SPARE], grace=0)   # the node is lost
    code, out, err, output = _finish(driver)
    assert code == 0, f"{output}\n{cluster.log_tail()}"

    run = lost["run"]
    assert current_run(home) == run
    info = read_info(run)
    assert info["status"] == "complete" and info["failed_trials"] == [] and info["unfinished_trials"] == []
    # Every trial once: two learning rates x all iterations, no row twice.
    rows = load_rows(run)
    assert len(rows) == 2 * SWEEP_ITERATIONS and info["rows"] == len(rows)
    assert rows.groupby(["optimizer.lr", "iteration"]).size().max() == 1
    # The lost trial was run again, on the worker that is left, and the summary says so.
    nodes = trial_nodes(run)
    assert nodes[lost["trial"]] == {spare, worker}, nodes
    index = json.loads((run / lost["trial"] / "params.json").read_text())["trial"]   # Tune's trial config
    label = info["trial_labels"][index]
    retried = info["retried_trials"]
    assert [(r["trial"], r["finished"]) for r in retried] == [(label, True)] and retried[0]["failures"] >= 1, retried
    assert f"retried: {label}: " in out, output
    assert cluster.alive_nodes(want=2) == cluster.nodes
