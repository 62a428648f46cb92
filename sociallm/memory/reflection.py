"""Reflection (Generative Agents): salient questions → retrieval → insights that cite their evidence.

The model is a base model, so both prompts are documents. Questions continue a numbered list; the
text is weak, so lines are cleaned (numbering, quotes, length) and missing questions are filled
from fixed ones, with the repair recorded. Insights are asked as one compact JSON object per question
(`{"because": [1, 3], "insight": "..."}`) under a JSON-schema constraint, so citations always parse;
the numbers refer to the numbered memories in that prompt. Numbers that name no listed memory are
dropped and the drop recorded; an insight left without any valid citation is not stored.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field

from sociallm.backbone.base import JsonSchemaConstraint

QUESTIONS_PURPOSE = "memory_questions"
INSIGHT_PURPOSE = "memory_insight"
MAX_QUESTION_CHARS = 160
MAX_INSIGHT_CHARS = 240

INSIGHT_SCHEMA = JsonSchemaConstraint(
    json_schema={
        "type": "object",
        # Citations first: a reply cut by the token limit then still says what it rests on.
        "properties": {
            "because": {"type": "array", "items": {"type": "integer"}, "minItems": 1, "maxItems": 5},
            "insight": {"type": "string", "minLength": 8, "maxLength": 120},
        },
        "required": ["because", "insight"],
        "additionalProperties": False,
    }
)


def should_reflect(importance_since: float, threshold: float) -> bool:
    return threshold > 0 and importance_since >= threshold


def fallback_questions(agent: str, others: list[str]) -> list[str]:
    rival = others[0] if others else "the others"
    return [
        f"What is {rival} trying to do?",
        f"What has worked for {agent} so far?",
        f"Can {agent} trust {rival}?",
    ]


def questions_prompt(agent: str, memories: list[str]) -> str:
    lines = [f"{agent}'s notebook.", "", "Recent memories:"]
    lines += [f"- {m}" for m in memories]
    lines += [
        "",
        f"The three most important high-level questions {agent} can answer from these memories:",
        "1.",
    ]
    return "\n".join(lines)


_NUMBERING = re.compile(r"^\s*(?:\d+[.)]|[a-z][.)]|[-*•])\s*")


def parse_questions(text: str, n: int, agent: str, others: list[str]) -> tuple[list[str], list[str]]:
    """Up to n cleaned questions from the model's numbered list, filled from fixed ones if short."""
    repairs: list[str] = []
    out: list[str] = []
    # The prompt ends in "1." so the first line arrives without its number.
    for raw in text.splitlines():
        q = _NUMBERING.sub("", raw).strip().strip("\"'").strip()
        if not q:
            continue
        if len(q.split()) < 3:
            repairs.append(f"question {q[:40]!r} too short, dropped")
            continue
        if len(q) > MAX_QUESTION_CHARS:
            q = q[:MAX_QUESTION_CHARS].rsplit(" ", 1)[0]
            repairs.append("question cut to length")
        if not q.endswith("?"):
            q = q.rstrip(".!,;:") + "?"
        if q.lower() not in {x.lower() for x in out}:
            out.append(q)
        if len(out) == n:
            break
    if len(out) < n:
        fill = [q for q in fallback_questions(agent, others) if q not in out][: n - len(out)]
        repairs.append(f"{len(fill)} fixed question(s) used: the model gave {len(out)} usable")
        out += fill
    return out, repairs


# One worked example from another world: a base model copies what it sees, and a copied example from
# the same game reads like a real insight. Copies of this one are recognised and dropped.
_EXAMPLE_MEMORIES = (
    "Carol's bakery sold out of bread on Monday.",
    "Carol said her oven is old.",
    "Carol's bakery sold out of bread again on Tuesday.",
)
EXAMPLE_INSIGHT = "Carol's bread sells out every day"


def insight_prompt(agent: str, question: str, memories: list[str]) -> str:
    lines = ["Notebooks: numbered memories, a question, and an insight as JSON citing the memory numbers.", ""]
    lines += ["Carol's notebook.", "Memories:"]
    lines += [f"{i}. {m}" for i, m in enumerate(_EXAMPLE_MEMORIES, 1)]
    lines += [
        "Question: How is Carol's business doing?",
        f'Answer: {{"because": [1, 3], "insight": "{EXAMPLE_INSIGHT}"}}',
    ]
    lines += ["", f"{agent}'s notebook.", "Memories:"]
    lines += [f"{i}. {m}" for i, m in enumerate(memories, 1)]
    lines += [f"Question: {question}", "Answer: "]
    return "\n".join(lines)


def _words(text: str) -> set[str]:
    return set(re.findall(r"[a-z]+", text.lower()))


def copies_example(text: str) -> bool:
    """Names the example's person, or shares most of its words ("Alice's bread is sold out every day")."""
    words, example = _words(text), _words(EXAMPLE_INSIGHT)
    return "carol" in words or len(words & example) >= 0.6 * len(example)


@dataclass
class Insight:
    text: str
    cites: list[str]  # memory ids
    dropped: list[str] = field(default_factory=list)  # citation numbers that named no listed memory
    repairs: list[str] = field(default_factory=list)


_JSON_INSIGHT = re.compile(r'"insight"\s*:\s*"((?:[^"\\]|\\.)*)')
_JSON_BECAUSE = re.compile(r'"because"\s*:\s*\[([\d,\s]*)')
_LINE_CITES = re.compile(r"\((?:because of|because|see)?\s*([\d,\s]+)\)\s*\.?\s*$", re.IGNORECASE)


def parse_insight(text: str, memory_ids: list[str]) -> Insight | None:
    """The insight and the ids it cites; numbers are 1-based positions in `memory_ids`.

    Reads the JSON form (constrained servers) or the line form "text (because of 1, 3)" (others).
    Returns None when there is no insight text at all.
    """
    repairs: list[str] = []
    body, numbers = "", []
    raw = text.strip()
    try:
        obj = json.loads(raw)
        body = str(obj.get("insight", ""))
        numbers = [x for x in obj.get("because", []) if isinstance(x, int | str)]
    except (ValueError, AttributeError):
        salvaged = _JSON_INSIGHT.search(raw)
        m = _LINE_CITES.search(raw)
        if salvaged:
            # JSON cut off by the token limit: keep what arrived.
            body = salvaged.group(1)
            cited = _JSON_BECAUSE.search(raw)
            numbers = re.findall(r"\d+", cited.group(1)) if cited else []
            repairs.append("reply was cut-off JSON; insight salvaged")
        else:
            body = raw[: m.start()] if m else raw
            numbers = [x for x in re.split(r"[,\s]+", m.group(1)) if x] if m else []
            repairs.append("reply was not JSON; read as a line")
    body = " ".join(body.split()).strip(" \"'")
    if len(body) > MAX_INSIGHT_CHARS:
        body = body[:MAX_INSIGHT_CHARS].rsplit(" ", 1)[0]
        repairs.append("insight cut to length")
    if len(body.split()) < 2:
        return None
    if copies_example(body):
        return Insight(body, [], [], [*repairs, "copied the prompt's example, dropped"])
    if not any(ch.isalpha() for ch in body[:1]):
        stripped = body.lstrip(":>[]{}0123456789,.- ")
        if len(stripped.split()) < 2:
            return None
        repairs.append("stray punctuation cut from the start")
        body = stripped
    cites: list[str] = []
    dropped: list[str] = []
    for x in numbers:
        try:
            k = int(x)
        except ValueError:
            dropped.append(str(x))
            continue
        if 1 <= k <= len(memory_ids):
            if memory_ids[k - 1] not in cites:
                cites.append(memory_ids[k - 1])
        else:
            dropped.append(str(x))
    if dropped:
        repairs.append(f"citation(s) {', '.join(dropped)} name no listed memory, dropped")
    return Insight(body, cites, dropped, repairs)


# ---- one call per reflection ----------------------------------------------------------------------
# Questions and insights together, as one JSON list over the recent memories: one model call per
# reflection instead of 1 + `questions`. What it trades: the evidence of an insight is the recent
# memories shown, not a retrieval per question over the whole stream.

REFLECTION_PURPOSE = "memory_reflection"


def reflection_schema(n: int) -> JsonSchemaConstraint:
    return JsonSchemaConstraint(
        json_schema={
            "type": "array",
            "minItems": 1,
            "maxItems": n,
            "items": {
                "type": "object",
                "properties": {
                    "question": {"type": "string", "minLength": 8, "maxLength": 100},
                    "because": {"type": "array", "items": {"type": "integer"}, "minItems": 1, "maxItems": 5},
                    "insight": {"type": "string", "minLength": 8, "maxLength": 120},
                },
                "required": ["question", "because", "insight"],
                "additionalProperties": False,
            },
        }
    )


def reflection_prompt(agent: str, memories: list[str]) -> str:
    example = json.dumps(
        [{"question": "How is Carol's business doing?", "because": [1, 3], "insight": EXAMPLE_INSIGHT}]
    )
    lines = [
        "Notebooks: numbered memories, then the questions their owner can answer from them, each with an "
        "insight as JSON citing the memory numbers.",
        "",
        "Carol's notebook.",
        "Memories:",
    ]
    lines += [f"{i}. {m}" for i, m in enumerate(_EXAMPLE_MEMORIES, 1)]
    lines += [f"Reflections: {example}", "", f"{agent}'s notebook.", "Memories:"]
    lines += [f"{i}. {m}" for i, m in enumerate(memories, 1)]
    lines += ["Reflections: "]
    return "\n".join(lines)


_OBJECT = re.compile(r"\{[^{}]*\}")


def parse_reflections(text: str, memory_ids: list[str], n: int) -> tuple[list[tuple[str, Insight | None]], list[str]]:
    """(question, insight or None) pairs from the model's JSON list, at most n; what was repaired.

    A list cut off by the token limit keeps its complete objects; an object without a usable insight
    keeps its question (recorded, not stored)."""
    repairs: list[str] = []
    raw = text.strip()
    try:
        items = json.loads(raw)
        if isinstance(items, dict):
            items = [items]
            repairs.append("reply was one object, not a list")
        if not isinstance(items, list):
            raise ValueError("not a list")
    except ValueError:
        items = []
        for m in _OBJECT.finditer(raw):
            try:
                items.append(json.loads(m.group(0)))
            except ValueError:
                continue
        repairs.append(f"reply was not a JSON list; {len(items)} complete object(s) salvaged")
    out: list[tuple[str, Insight | None]] = []
    for obj in items:
        if not isinstance(obj, dict):
            continue
        q = " ".join(str(obj.get("question", "")).split()).strip("\"' ")
        if len(q) > MAX_QUESTION_CHARS:
            q = q[:MAX_QUESTION_CHARS].rsplit(" ", 1)[0]
        if q and not q.endswith("?"):
            q = q.rstrip(".!,;:") + "?"
        body = {"because": obj.get("because", []), "insight": obj.get("insight", "")}
        out.append((q or "(no question)", parse_insight(json.dumps(body), memory_ids)))
        if len(out) == n:
            break
    if len(items) > n:
        repairs.append(f"{len(items) - n} reflection(s) beyond {n} dropped")
    return out, repairs
