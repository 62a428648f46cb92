"""`sociallm serve vllm MODEL [VLLM ARGS...]`: start a vLLM server to attach runs to, and per-agent usage lines."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from sociallm.backbone.base import BackendError
from sociallm.backbone.launcher import PYTHON_ENV, VLLMServer
from sociallm.cli.common import fail

serve_app = typer.Typer(no_args_is_help=True, help="Start a model server that runs can attach to (--backend URL).")


@serve_app.command(
    "vllm",
    context_settings={"allow_extra_args": True, "ignore_unknown_options": True},
)
def serve_vllm(
    ctx: typer.Context,
    model: Annotated[str, typer.Argument(help="A local model folder or a cached model id.")],
    python: Annotated[
        str | None, typer.Option(help=f"The vLLM venv's python (default: ${PYTHON_ENV}, else this interpreter).")
    ] = None,
    port: Annotated[int | None, typer.Option(help="Port on 127.0.0.1 (default: a free one).")] = None,
    log: Annotated[Path | None, typer.Option(help="Also write the server log to this file.")] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="Do not echo the server log.")] = False,
    timeout: Annotated[float, typer.Option(help="Seconds to wait for /v1/models.")] = 600.0,
) -> None:
    """Start `python -m vllm.entrypoints.openai.api_server MODEL` on 127.0.0.1; extra arguments go to vLLM.

    Example: sociallm serve vllm ./granite-4.0-h-tiny --python .venv-vllm/bin/python --max-num-seqs 64
    """
    try:
        server = VLLMServer(
            model,
            args=list(ctx.args),
            python=python,
            port=port,
            log_path=log,
            start_timeout_s=timeout,
            echo=None if quiet else sys.stderr,
        )
    except (BackendError, ValueError) as exc:
        fail(str(exc))
    try:
        asyncio.run(_serve(server))
    except KeyboardInterrupt:
        pass
    except BackendError as exc:
        fail(str(exc), 1)


async def _serve(server: VLLMServer) -> None:
    try:
        await server.start()
        url = server.url + "/v1"
        typer.echo(
            f"vLLM serving {server.model} at {url} (pid {server.pid}); stop with Ctrl-C\n"
            f"  attach a run:  sociallm run SCENARIO --backend {url}\n"
            f"  or in YAML:    backbone: {{kind: vllm, url: {url}}}",
            err=True,
        )
        code = await server.wait()
        raise BackendError(f"the vLLM server exited with code {code}; see {server.log_path}")
    finally:
        await server.aclose()


def register(app: typer.Typer) -> None:
    app.add_typer(serve_app, name="serve")


def usage_lines(metrics: dict[str, Any]) -> list[str]:
    """One line per agent: calls, prompt/completion/cached tokens, model time (for the CLI's last lines)."""
    rows = (metrics.get("llm") or {}).get("by_agent") or {}
    lines = []
    for agent, r in sorted(rows.items()):
        cached = int(r.get("cached_tokens", 0))
        prompt = int(r.get("prompt_tokens", 0))
        hit = f" ({100 * cached / prompt:.0f}% cached)" if prompt and cached else ""
        lines.append(
            f"  {agent}: {int(r.get('calls', 0))} calls, {prompt} prompt{hit} + "
            f"{int(r.get('completion_tokens', 0))} completion tokens, {float(r.get('latency_s', 0.0)):.1f} s"
        )
    return lines
