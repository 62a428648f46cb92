"""The terminal UI: watch a society live, steer it, replay it (`sociallm run --tui`, `sociallm watch`)."""
