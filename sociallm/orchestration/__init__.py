"""Top-level drivers above the base types of runtime/: a run, resume, sweeps, experiments, workers, replay."""
