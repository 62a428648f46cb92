"""`sociallm`: the one command-line entry point; one module per command group, registered by `main`."""

from sociallm.cli.main import app

__all__ = ["app"]
