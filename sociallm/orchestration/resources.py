"""The one place a process builds its `RunResources`: the run process and every worker call this.

A worker is given the scenario, not the run's environment object; it resets an identical one from the
scenario's parameters and seed (what the run process did), so sections that read the game (emotion's
appraisal, the info section's rules) see the same game in every process.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from pathlib import Path
from typing import Any

from sociallm.backbone.encoders import embeddings_options
from sociallm.environments import get_environment
from sociallm.runtime.resources import Emit, RunResources
from sociallm.runtime.scenario import ScenarioSpec


def fresh_environment(spec: ScenarioSpec) -> Any:
    """The scenario's game master, reset as a run resets it (same agents, parameters and seed)."""
    env = get_environment(spec.environment.kind)
    env.reset(spec.agent_names, spec.environment.params, random.Random(spec.seed))
    return env


def build_resources(
    spec: ScenarioSpec,
    *,
    llm: Any,
    backend: Any,
    emit: Emit,
    tick: Callable[[], int],
    run_dir: Path,
    environment: Any = None,
) -> RunResources:
    """`llm` is the metered model sections call; `backend` the model underneath (its embeddings endpoint)."""
    return RunResources(
        scenario=spec,
        llm=llm,
        emit=emit,
        tick=tick,
        run_dir=Path(run_dir),
        environment=environment if environment is not None else fresh_environment(spec),
        embeddings=embeddings_options(spec.backbone, backend),
        # Run-wide parts that hold work back until a checkpoint register here (e.g. memory's write-behind).
        cache={"before_checkpoint": []},
    )
