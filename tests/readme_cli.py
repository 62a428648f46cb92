"""`sociallm` for the README's examples (tests/test_readme.py): the real CLI, with the embedded model
swapped for the instant fake model (a real one would take minutes per example). Any other backbone
(`--backend URL`) stays real: those examples run against a local stand-in server.
python tests/readme_cli.py ARGS... (the test puts a `sociallm` script that calls this on PATH)."""

from __future__ import annotations

import sys

import sociallm.orchestration.run as run_module
from tests.fakes import FakeLLM

_real_backbone = run_module.default_backbone


async def instant_or_real(spec):  # the embedded default only: the rest is what the example names
    if spec.backbone.kind == "embedded":
        return FakeLLM()
    return await _real_backbone(spec)


def patch() -> None:
    run_module.default_backbone = instant_or_real


if __name__ == "__main__":
    patch()
    from sociallm.cli import app

    sys.exit(app(sys.argv[1:], prog_name="sociallm"))
