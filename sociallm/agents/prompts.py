"""Transcript-style prompts.

The embedded model is a base model: it continues documents, it does not follow instructions. So a
prompt is a document: the setting, the rules, the agent's private notes (the stable prefix, the same
on every call so servers reuse their prefix cache), then the dynamic notes (affect, theory of mind,
memories), then the recent transcript, ending with a cue the model completes.

Speech is quoted (`Alice: "..."`) and the cue opens the quote (`Alice: "`): measured on Gemma 3 270M,
an open quote makes the model write an utterance, while a bare `Alice:` makes it copy numbers from
the lines above. The closing quote is the stop string.
"""

from __future__ import annotations

import re

from sociallm.runtime.events import Event
from sociallm.runtime.turn import stable_prefix

__all__ = ["stable_prefix"]  # defined below agents (runtime/turn.py): the validator checks its length


def speaker_label(source: str) -> str:
    return source[:1].upper() + source[1:]


def render_event(event: Event, viewer: str, private_channels: set[str]) -> str | None:
    """How one event reads in `viewer`'s transcript; None when it does not belong there."""
    kind = event.kind
    if kind == "message":
        who = speaker_label(event.source)
        if event.channel in private_channels or event.to:
            # A group of more than three is named by its channel: the line's size must not grow with it.
            to = ", ".join(event.to) if 0 < len(event.to) <= 3 else f"the {event.channel} group"
            who = f"{who} (privately to {to})"
        return f'{who}: "{event.text}"'
    if kind in ("observation", "outcome"):
        return f"{speaker_label(event.source)}: {event.text}" if event.text else None
    if kind == "action" and event.source == viewer:
        p = event.payload
        return f"({viewer} chose {p.get('action')} {p.get('shown', p.get('value'))})"
    if kind == "system" and event.payload.get("event") == "round_start":
        return f"--- Round {event.tick} ---"
    return None


def talk_cue(agent: str, channel: str, members: list[str], private: bool) -> str:
    if private:
        rest = [m for m in members if m != agent]
        others = ", ".join(rest) if len(rest) <= 3 else f"the {channel} group"
        return f'{speaker_label(agent)} (privately to {others}): "'
    return f'{speaker_label(agent)}: "'


# Any "Name:" or "Name (privately to ...):" at a word boundary; whether Name is a speaker is a set
# lookup. One pattern for every set of names: a pattern per set (compiled, cached) cost a compile per
# reply once each agent's set of visible speakers differed, and its cache grew without bound.
_ANY_SPEAKER = re.compile(r"\b([A-Z][A-Za-z0-9_\-]*)\s*(?:\([^)]*\))?\s*:")
_LEADING_SPEAKER = re.compile(r"^([A-Z][A-Za-z0-9_\-]*)\s*(?:\([^)]*\))?\s*:\s*")


def _first_speaker(text: str, labels: set[str]) -> re.Match[str] | None:
    for m in _ANY_SPEAKER.finditer(text):
        if m.group(1) in labels:
            return m
    return None


def clean_reply(
    raw: str, speaker: str, others: list[str], max_chars: int, hit_token_limit: bool = False
) -> tuple[str, list[str]]:
    """Cut a base model's continuation down to one utterance; say what was repaired."""
    repairs: list[str] = []
    text = raw.replace("\r", "")
    first, _, rest = text.strip().partition("\n")
    if rest.strip():
        repairs.append("cut at newline")
    text = first.strip()
    own = _LEADING_SPEAKER.match(text)
    if own and own.group(1) != speaker_label(speaker):
        own = None
    if own:
        text = text[own.end() :]
        repairs.append("removed echoed speaker name")
    m = _first_speaker(text, {speaker_label(n) for n in (*others, "market", "moderator")})
    if m:
        text = text[: m.start()].rstrip()
        repairs.append("cut where another speaker began")
    stripped = text.strip(" \"'`*_-")
    if stripped != text.strip():
        repairs.append("stripped quotes/markup")
    text = stripped
    if hit_token_limit:
        end = max(text.rfind(c) for c in ".!?")
        if end >= len(text) // 3:
            text = text[: end + 1]
            repairs.append("cut to the last full sentence (token limit)")
    if len(text) > max_chars:
        cut = text.rfind(" ", 0, max_chars)
        text = text[: cut if cut > max_chars // 2 else max_chars].rstrip() + "…"
        repairs.append(f"truncated to {max_chars} chars")
    if not re.search(r"[A-Za-z]", text):
        if text:
            repairs.append("no words in reply")
        text = ""
    return text, repairs
