"""The launch's Ray: an embedded local Ray on loopback, or the cluster at --address/RAY_ADDRESS (under
`ray job submit`, the job's), started once and shut down at the end of the launch.

Importing this module loads neither Ray nor torch (`main.py --help` answers without them).
"""
import contextlib
import os
import signal
import sys
import tempfile

from terminal import last_line
from utils import PROJECT_ROOT, ConfigError

LOCAL_RAY_ENV = {
    "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0",   # a local Ray binds 127.0.0.1, not the external address
    "RAY_DISABLE_USAGE_STATS": "1",
    "RAY_USAGE_STATS_ENABLED": "0",
    "RAY_AUTH_MODE": "disabled",
}


def stop_on_sigterm():
    """Take SIGTERM (`kill`, a batch system's stop) as Ctrl-C: it raises SIGINT, whose handler in force
    then runs (during a launch Tune's, which stops the trials and saves their state; before,
    KeyboardInterrupt). Ray's start replaces the handler, so start_ray installs it again."""
    signal.signal(signal.SIGTERM, lambda signum, frame: signal.raise_signal(signal.SIGINT))


def ray_is_up():
    """Whether this process is connected to a Ray (started or joined)."""
    return "ray" in sys.modules and sys.modules["ray"].is_initialized()


@contextlib.contextmanager
def stderr_held():
    """Hold what is written to the standard error's file (by Ray's C++ core too) during the block:
    written out after it if it ends normally, dropped if it raises (which then says what went wrong
    in one line, e.g. a cluster refusing this driver after a screenful of retries)."""
    sys.stderr.flush()
    saved, held, ended = os.dup(2), tempfile.TemporaryFile(), False
    os.dup2(held.fileno(), 2)
    try:
        yield
        ended = True
    finally:
        sys.stderr.flush()
        os.dup2(saved, 2)
        os.close(saved)
        if ended:
            held.seek(0)
            sys.stderr.write(held.read().decode(errors="replace"))
        held.close()


def start_ray(address, quiet=False):
    """Connect to the cluster at `address`/RAY_ADDRESS, or start an embedded local Ray (once). Quiet:
    the workers' output is not forwarded (a trial's error still is, by its trial's record)."""
    address = address or os.environ.get("RAY_ADDRESS")
    if not address:   # read by Ray at import time
        for key, value in LOCAL_RAY_ENV.items():
            os.environ.setdefault(key, value)
    import ray
    if ray.is_initialized():
        return
    from data_utils import resolve_data_dir   # with torch: imported here, as Ray is
    import results
    # Tune runs trials in their own working directories: hand them absolute paths.
    env_vars = {"RESULTS_DIR": str(results.results_dir()), "DATA_DIR": str(resolve_data_dir())}
    if address:
        runtime_env = None
        if "RAY_JOB_CONFIG_JSON_ENV_VAR" not in os.environ:   # under `ray job submit` the job already ships us
            runtime_env = {"working_dir": str(PROJECT_ROOT), "env_vars": env_vars,
                           "excludes": [".venv", "results", "data", ".git", "**/figures",
                                        "__pycache__", ".pytest_cache"]}
        try:
            with stderr_held():
                ray.init(address=address, runtime_env=runtime_env, logging_level="WARNING", log_to_driver=not quiet)
        except (ConnectionError, ray.exceptions.AuthenticationError) as error:
            causes = [error, error.__cause__]   # Ray gives up with the token error or its traceback text
            if any(isinstance(cause, ray.exceptions.AuthenticationError) or "InvalidAuthToken" in str(cause)
                   for cause in causes):
                raise ConfigError(f"Ray cluster {address}: refused this driver: it needs the cluster's token "
                                  "and has none or a wrong one; set RAY_AUTH_MODE=token and RAY_AUTH_TOKEN_PATH "
                                  "(a file holding the token) or RAY_AUTH_TOKEN (see runtime_envs/README.md)") from None
            raise ConfigError(f"Ray cluster {address}: cannot connect ({last_line(error)}); check --address or "
                              "RAY_ADDRESS") from None
    else:
        pythonpath = os.pathsep.join(filter(None, [str(PROJECT_ROOT), os.environ.get("PYTHONPATH")]))
        # Tune starts a worker process for each trial actor of its own; the idle workers Ray would
        # prestart are never used and only compete with the start for the CPUs.
        ray.init(include_dashboard=False, logging_level="WARNING", log_to_driver=not quiet,
                 runtime_env={"env_vars": {**env_vars, "PYTHONPATH": pythonpath}},
                 _system_config={"prestart_worker_first_driver": False, "enable_worker_prestart": False})
    stop_on_sigterm()


def stop_ray():
    """Shut down the Ray this process started, or its connection to a cluster."""
    import ray
    # Ray stops its processes one after another, and the autoscaler monitor of a local Ray, asked
    # to stop after the GCS is gone, takes a second to give up: stop it first (it keeps no state).
    node = getattr(ray._private.worker, "_global_node", None)
    if node is not None and node.head and hasattr(node, "kill_monitor"):
        node.kill_monitor(check_alive=False)
    ray.shutdown()
