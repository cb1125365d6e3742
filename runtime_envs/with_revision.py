"""Print a runtime env of this folder as JSON, with this checkout's git revision added to its env_vars.

    ray job submit --address http://<head>:8265 \\
        --runtime-env-json "$(python runtime_envs/with_revision.py runtime_envs/cpu.yaml)" -- python main.py -c ...

A job runs an uploaded copy of the project without `.git`, so main.py takes the revision it records in
run.json from GIT_REVISION; this puts it there. Standard library and PyYAML (which Ray needs) only.
"""
import json
from pathlib import Path
import subprocess
import sys

import yaml


def with_revision(path):
    """The runtime env in the YAML at `path`, with GIT_REVISION: the commit checked out here."""
    env = yaml.safe_load(Path(path).read_text())
    revision = subprocess.run(["git", "-C", str(Path(__file__).resolve().parents[1]), "rev-parse", "HEAD"],
                              capture_output=True, text=True, check=True).stdout.strip()
    env.setdefault("env_vars", {})["GIT_REVISION"] = revision
    return env


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: python runtime_envs/with_revision.py runtime_envs/<env>.yaml")
    try:
        print(json.dumps(with_revision(sys.argv[1])))
    except (OSError, yaml.YAMLError, subprocess.CalledProcessError) as error:
        sys.exit(f"error: {sys.argv[1]}: {error}")
