"""What to say when a package the project needs is not installed (standard library only, so that it
works without them). The command-line scripts catch ModuleNotFoundError around their imports:

    try:
        import torch ...
    except ModuleNotFoundError as error:
        deps.exit_missing(error, "main.py")
"""
from pathlib import Path
import sys


def exit_missing(error, script):
    """Exit with code 2 and one line naming the missing package, the Python that lacks it and how to
    use the project's environment; an error about a module of the project itself is re-raised."""
    top = (error.name or "").split(".")[0]
    if not top or (Path(__file__).resolve().parent / f"{top}.py").exists():
        raise error
    print(f"error: package {top!r} is not installed for {sys.executable}; use the project's environment: "
          f"`make setup` once, then `. .venv/bin/activate` in each new shell (or run "
          f"`.venv/bin/python {script} ...`)", file=sys.stderr)
    sys.exit(2)
