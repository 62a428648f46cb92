"""SociaLLM: a runtime for LLM agent societies.

from sociallm import Experiment, load_scenario, read_results, run
"""

from __future__ import annotations

from typing import Any

__version__ = "0.1.0"
__all__ = ["Experiment", "load_scenario", "read_results", "run"]


def __getattr__(name: str) -> Any:
    # Lazy: `import sociallm` (and the CLI) must not pay for the experiment machinery it does not use.
    if name == "read_results":  # a sweep's results.parquet as a list of dicts (pyarrow only, no pandas)
        from sociallm.orchestration.sweep import read_results

        return read_results
    if name in __all__:
        from sociallm.orchestration import api

        return getattr(api, name)
    raise AttributeError(f"module 'sociallm' has no attribute {name!r}")
