"""The built-in backbones as registry entries: `async (backbone_spec, options) -> LLM`.

A plug-in backbone registers the same shape under the `sociallm.backbones` entry-point group; a
scenario then names it in `backbone.kind`. `options` holds what every backbone is given (max_in_flight,
timeout_s, retries, required_models; cache_prompt when the scenario asks for determinism); the rest comes
from the scenario's `backbone:` block.
"""

from __future__ import annotations

from typing import Any

from sociallm.backbone import LLM, make_backbone


async def embedded(b: Any, options: dict[str, Any]) -> LLM:
    return await make_backbone("embedded", n_parallel=b.n_parallel, **options)


async def openai(b: Any, options: dict[str, Any]) -> LLM:
    return await make_backbone("openai", url=b.url, model=b.model, **options)


async def vllm(b: Any, options: dict[str, Any]) -> LLM:
    options = {**options, "max_restarts": b.max_restarts, "seeds": b.seeds}
    if b.launch:
        options.update(
            launch=True, args=b.args, python=b.python, served_name=b.served_name, start_timeout_s=b.start_timeout_s
        )
    return await make_backbone("vllm", url=b.url, model=b.model, **options)
