"""A label folded into the talk call: the reply ends with a constrained suffix the agent strips off.

A section that would otherwise label each own message with a second model call (emotion's self-label)
offers a `TalkSuffix` instead. Where the backend can enforce it (llama.cpp: a GBNF grammar; vLLM: a
regex), the talk call's grammar lets the model write its utterance, close the quote, and then pick one
word of the vocabulary: `Alice: "Fine, I will match your price." [feeling: calm]` (or the same after a
newline, where the model ends the line without closing the quote). The agent publishes
only the utterance (`split_suffix`), and hands the label to the section privately (`Folded`); the
published text and its `raw` never hold the suffix (the `llm_call` event, private to the agent, does).
"""

from __future__ import annotations

from dataclasses import dataclass

from sociallm.backbone.base import SuffixChoiceConstraint

# What ends an utterance (see prompts.py): its closing quote, or the end of the line where the model
# leaves the quote open, as the plain talk call stops at either. With the quote alone, a reply the
# model wanted to end at a newline could only run on (a whole village run gave replies of 74 characters
# on average against 38); with both, paired calls on the same prompt and seed gave the same messages.
CLOSE = '"'
ENDS = CLOSE + "\n"


@dataclass(frozen=True)
class TalkSuffix:
    lead: str  # what follows the closing quote, before the word: " [feeling: "
    options: tuple[str, ...]
    end: str = "]"
    # Tokens the suffix may take on top of the phase's reply budget, so the label is not cut off by it
    # (Gemma 3's tokenizer: `" [feeling: disappointed]` is 8 tokens).
    tokens: int = 10

    @property
    def marker(self) -> str:
        """Where the suffix starts in a reply: the lead without its spaces ("[feeling:")."""
        return self.lead.strip()

    def constraint(self) -> SuffixChoiceConstraint:
        return SuffixChoiceConstraint(close=ENDS, lead=self.lead, options=list(self.options), end=self.end)


@dataclass(frozen=True)
class Folded:
    """What the talk call said about the label: the word (None when missing), the suffix as generated,
    and why it is missing. `text` is the message it belongs to (the published text)."""

    text: str
    label: str | None
    raw: str
    why: str | None = None


def split_suffix(
    raw: str, suffix: TalkSuffix, finish_reason: str | None = None
) -> tuple[str, str, str | None, str | None]:
    """(the reply without the suffix, the suffix as generated, the label or None, why it is None).

    The reply is cut at the first marker, so a marker the model wrote twice never reaches the
    published text; the label is the first word after it, if that word is in the vocabulary.
    """
    at = raw.lower().find(suffix.marker.lower())
    if at < 0:
        if finish_reason == "length":
            return raw, "", None, "the reply used its whole token budget"
        return raw, "", None, "the reply ended before the suffix"
    message, tail = raw[:at].rstrip(), raw[at:]
    # The closing quote is the grammar's, not the speaker's: without it the message reads as a reply cut
    # at the quote stop does (the separate mode's), with no "stripped quotes" repair on every turn.
    message = message.removesuffix(CLOSE)
    rest = tail[len(suffix.marker) :]
    words = (rest.replace(suffix.end, " ") if suffix.end else rest).split()
    word = words[0].strip(".,;:!?\"'()[]").lower() if words else ""
    if word in suffix.options:
        return message, tail, word, None
    return message, tail, None, (f"{word!r} is not a vocabulary word" if word else "the suffix has no word")
