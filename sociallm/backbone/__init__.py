"""Backbones: the language models agents think with. `make_backbone()` returns one ready to use."""

from __future__ import annotations

from typing import Any

from sociallm.backbone.base import (
    LLM,
    BackendError,
    ChatMessage,
    ChoiceConstraint,
    Constraint,
    GenerationRequest,
    GenerationResult,
    JsonSchemaConstraint,
    NumberConstraint,
    RegexConstraint,
)
from sociallm.backbone.constraints import parse_number
from sociallm.backbone.openai_compat import OpenAICompatLLM

KINDS = ("embedded", "openai", "vllm")


async def make_backbone(
    kind: str = "embedded", url: str | None = None, model: str | None = None, **options: Any
) -> LLM:
    """A started backend.

    "embedded": Gemma 3 270M in-process (options go to `EmbeddedLLM.create`, e.g. n_parallel).
    "openai": any OpenAI-compatible server at `url` (llama.cpp, vLLM, hosted); options go to
    `OpenAICompatLLM` (api_key, max_in_flight, dialect, ...).
    """
    if kind == "embedded":
        if url is not None or model is not None:
            raise ValueError("the embedded backbone serves its own model; url/model are for --backend openai")
        # Imported here so remote-only users never load xllamacpp.
        from sociallm.backbone.embedded import EmbeddedLLM

        return await EmbeddedLLM.create(**options)
    if kind == "openai":
        if not url:
            raise ValueError("the openai backbone needs a url, e.g. http://127.0.0.1:8000/v1")
        return await OpenAICompatLLM(url, model, **options).open()
    if kind == "vllm":
        # "vllm": attach to `url`, or with launch=True start a server for `model` (see backbone/vllm.py).
        from sociallm.backbone.vllm import VLLMLLM

        return await VLLMLLM.create(model, url=url, **options)
    raise ValueError(f"unknown backbone kind {kind!r}; known: {', '.join(KINDS)}")


__all__ = [
    "KINDS",
    "LLM",
    "BackendError",
    "ChatMessage",
    "ChoiceConstraint",
    "Constraint",
    "GenerationRequest",
    "GenerationResult",
    "JsonSchemaConstraint",
    "NumberConstraint",
    "OpenAICompatLLM",
    "RegexConstraint",
    "make_backbone",
    "parse_number",
]
