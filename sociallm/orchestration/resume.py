"""The one way a run is resumed: `sociallm run --resume`, `sociallm resume` and sweeps all come through here.

A run folder holds its scenario (manifest.json), its last checkpoint and, for a run of an experiment,
its interventions (interventions.json): all of them come back, so a resumed run plays on exactly as
the interrupted one would have.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sociallm.orchestration.experiment import attach_interventions, load_interventions
from sociallm.orchestration.run import Run
from sociallm.runtime.rundir import open_run_dir


def resume_run(run_dir: Path, *, overrides: dict[str, Any] | None = None, **run_options: Any) -> Run:
    """The interrupted run of `run_dir`, rebuilt from its manifest with its interventions re-attached;
    `execute()` continues after its last checkpoint. `overrides` change scenario fields by dotted path
    (e.g. more rounds); `run_options` go to `Run` (llm, distribution, taps, on_round)."""
    run_dir = open_run_dir(run_dir)
    run = Run.resume(run_dir, **run_options)
    if overrides:
        run.override(overrides)
    interventions, condition = load_interventions(run_dir)
    attach_interventions(run, interventions, condition)
    return run
