"""Test setup: the project root and benchmarks/ are importable, Ray runs on loopback without telemetry,
every test carries the marker of its group (`pytest -m rules`, ...), and `gpu` tests skip without CUDA."""
import os
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "benchmarks")]
for key, value in {"RAY_AUTH_MODE": "disabled", "RAY_DISABLE_USAGE_STATS": "1",
                   "RAY_USAGE_STATS_ENABLED": "0", "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0"}.items():
    os.environ.setdefault(key, value)

# The test files by what they check (as pytest.ini's markers describe the groups).
GROUPS = {
    "rules": ["test_learning_rules", "test_tp", "test_conv", "test_metrics", "test_mechanisms", "test_fit_data"],
    "engine": ["test_engine", "test_fused", "test_cuda_graphs", "test_checkpoints", "test_resume", "test_streams",
               "test_data_utils", "test_config", "test_results", "test_structure", "test_tasks"],
    "experiments": ["test_end_to_end", "test_example_122", "test_reversal", "test_sensorimotor",
                    "test_fear_conditioning", "test_dqn", "test_cnn", "test_mechanism_figures",
                    "test_target_alignment_variants", "test_figures", "test_analysis", "test_claims", "test_report"],
    "operations": ["test_operations", "test_bad_inputs", "test_cluster", "test_benchmarks", "test_figure_time"],
    "security": ["test_security"],
}
GROUP_OF = {module: group for group, modules in GROUPS.items() for module in modules}


def pytest_collection_modifyitems(config, items):
    """Mark each test with its file's group; skip the `gpu` ones where torch sees no CUDA."""
    gpu = [item for item in items if item.get_closest_marker("gpu")]
    if gpu:
        import torch
        if not torch.cuda.is_available():
            for item in gpu:
                item.add_marker(pytest.mark.skip(reason="needs CUDA"))
    for item in items:
        group = GROUP_OF.get(item.module.__name__ if item.module else "")
        if group:
            item.add_marker(group)


@pytest.fixture(autouse=True)
def close_figures():
    """Figures drawn by one test (figure functions, the analysis in-process) are closed after it."""
    yield
    if "matplotlib.pyplot" in sys.modules:
        sys.modules["matplotlib.pyplot"].close("all")
