"""Test setup: the project root is importable, Ray runs on loopback without telemetry."""
import os
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
for key, value in {"RAY_AUTH_MODE": "disabled", "RAY_DISABLE_USAGE_STATS": "1",
                   "RAY_USAGE_STATS_ENABLED": "0", "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0"}.items():
    os.environ.setdefault(key, value)


@pytest.fixture(autouse=True)
def close_figures():
    """Figures drawn by one test (figure functions, the analysis in-process) are closed after it."""
    yield
    if "matplotlib.pyplot" in sys.modules:
        sys.modules["matplotlib.pyplot"].close("all")
