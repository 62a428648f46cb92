"""Reports drawn from run and sweep folders."""
