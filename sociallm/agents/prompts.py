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
            who = f"{who} (privately to {', '.join(event.to) or event.channel})"
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
        others = ", ".join(m for m in members if m != agent)
        return f'{speaker_label(agent)} (privately to {others}): "'
    return f'{speaker_label(agent)}: "'


_SPEAKER_RE_CACHE: dict[tuple[str, ...], re.Pattern[str]] = {}


def _speaker_re(names: tuple[str, ...]) -> re.Pattern[str]:
    pat = _SPEAKER_RE_CACHE.get(names)
    if pat is None:
        alts = "|".join(re.escape(speaker_label(n)) for n in (*names, "market", "moderator"))
        pat = re.compile(rf"\b(?:{alts})\s*(?:\([^)]*\))?\s*:")
        _SPEAKER_RE_CACHE[names] = pat
    return pat


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
    own = re.match(rf"^{re.escape(speaker_label(speaker))}\s*(?:\([^)]*\))?\s*:\s*", text)
    if own:
        text = text[own.end() :]
        repairs.append("removed echoed speaker name")
    m = _speaker_re(tuple(sorted(others))).search(text)
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
