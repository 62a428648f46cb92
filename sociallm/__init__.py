"""SociaLLM: a runtime for LLM agent societies.

from sociallm import Experiment, load_scenario, run
"""

from __future__ import annotations

from typing import Any

__version__ = "0.1.0"
__all__ = ["Experiment", "load_scenario", "run"]


def __getattr__(name: str) -> Any:
    # Lazy: `import sociallm` (and the CLI) must not pay for the experiment machinery it does not use.
    if name in __all__:
        from sociallm.orchestration import api

        return getattr(api, name)
    raise AttributeError(f"module 'sociallm' has no attribute {name!r}")
