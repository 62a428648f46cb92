"""Affect as pure logic: the emotion vocabulary, the (valence, arousal) state, decay and appraisal.

No model, no events, no I/O here: `emotion.py` wires this into an agent. Valence is in [−1, 1]
(unpleasant … pleasant), arousal in [0, 1] (sleepy … activated); 0.5 arousal is the middle of
Russell's circumplex, and rest sits a little below it (`NEUTRAL_AROUSAL`).

Vocabulary (our placement of words along the circumplex order of Russell 1980 and Posner, Russell &
Peterson 2005; the numbers are our own, chosen so every quadrant has three or more words):

    word          valence  arousal      word          valence  arousal
    excited         0.60     0.90       wary           -0.30     0.60
    delighted       0.80     0.70       tense          -0.40     0.75
    happy           0.80     0.55       frustrated     -0.60     0.70
    hopeful         0.45     0.60       angry          -0.80     0.85
    pleased         0.70     0.40       afraid         -0.60     0.90
    content         0.60     0.25       disappointed   -0.50     0.35
    calm            0.35     0.15       sad            -0.70     0.25
    neutral         0.00     0.35       bored          -0.35     0.15

The nearest word is by Euclidean distance on (valence, 2·arousal − 1), so both axes span [−1, 1]
and weigh the same.

Updates (all keep the state inside its bounds without clipping, given |impulse| ≤ 1):
- impulse (appraisal, outcome): x ← x + Δ·room, where room is the distance to the bound Δ pushes
  toward (1 − v or 1 + v for valence, 1 − a or a for arousal): strong feelings saturate instead of
  hitting a wall, and a second insult moves a furious agent less than the first moved a calm one.
- pull (self-label): x ← x + k·(target − x), a step of fraction k toward the label's coordinates.
- decay: x ← b + (x − b)·exp(−rate·Δt) toward the baseline b, Δt in ticks (rounds).

Text appraisal: valence impulse = VADER compound c ∈ [−1, 1]. Arousal of a text
    A = clip(0.1 + 0.5·|c| + 0.1·min(#"!", 3) + 0.3·caps + 0.05·min(#intensifiers, 3), 0, 1)
with caps the share of words (2+ letters) written in capitals and intensifiers VADER's booster
words ("very", "extremely", ...). Arousal impulse = A − NEUTRAL_AROUSAL, so bland text calms and
shouting excites. "I hate you, you cheated me!" gives c = −0.81, A = 0.60: valence down, arousal up.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

NEUTRAL_AROUSAL = 0.35

VOCABULARY: dict[str, tuple[float, float]] = {
    "excited": (0.60, 0.90),
    "delighted": (0.80, 0.70),
    "happy": (0.80, 0.55),
    "hopeful": (0.45, 0.60),
    "pleased": (0.70, 0.40),
    "content": (0.60, 0.25),
    "calm": (0.35, 0.15),
    "neutral": (0.00, NEUTRAL_AROUSAL),
    "bored": (-0.35, 0.15),
    "sad": (-0.70, 0.25),
    "disappointed": (-0.50, 0.35),
    "wary": (-0.30, 0.60),
    "tense": (-0.40, 0.75),
    "frustrated": (-0.60, 0.70),
    "angry": (-0.80, 0.85),
    "afraid": (-0.60, 0.90),
}


def clip(x: float, lo: float, hi: float) -> float:
    return lo if x < lo else hi if x > hi else x


def nearest_word(valence: float, arousal: float) -> str:
    y = 2 * arousal - 1
    return min(VOCABULARY, key=lambda w: (VOCABULARY[w][0] - valence) ** 2 + (2 * VOCABULARY[w][1] - 1 - y) ** 2)


def quadrant(valence: float, arousal: float) -> str:
    """One of "+high", "+low", "-high", "-low" (arousal split at the circumplex middle, 0.5)."""
    return ("+" if valence >= 0 else "-") + ("high" if arousal >= 0.5 else "low")


@dataclass
class AffectState:
    valence: float = 0.0
    arousal: float = NEUTRAL_AROUSAL
    baseline_valence: float = 0.0
    baseline_arousal: float = NEUTRAL_AROUSAL

    def __post_init__(self) -> None:
        self.valence = clip(self.valence, -1.0, 1.0)
        self.arousal = clip(self.arousal, 0.0, 1.0)

    @property
    def word(self) -> str:
        return nearest_word(self.valence, self.arousal)

    def snapshot(self) -> dict[str, Any]:
        return {"valence": round(self.valence, 4), "arousal": round(self.arousal, 4), "word": self.word}

    def impulse(self, dv: float, da: float) -> None:
        dv, da = clip(dv, -1.0, 1.0), clip(da, -1.0, 1.0)
        self.valence += dv * ((1 - self.valence) if dv > 0 else (1 + self.valence))
        self.arousal += da * ((1 - self.arousal) if da > 0 else self.arousal)
        # Float rounding only; the update itself cannot leave the bounds.
        self.valence, self.arousal = clip(self.valence, -1.0, 1.0), clip(self.arousal, 0.0, 1.0)

    def pull(self, valence: float, arousal: float, k: float) -> None:
        k = clip(k, 0.0, 1.0)
        self.valence = clip(self.valence + k * (valence - self.valence), -1.0, 1.0)
        self.arousal = clip(self.arousal + k * (arousal - self.arousal), 0.0, 1.0)

    def decay(self, rate: float, ticks: float) -> None:
        f = math.exp(-max(rate, 0.0) * max(ticks, 0.0))
        self.valence = self.baseline_valence + (self.valence - self.baseline_valence) * f
        self.arousal = self.baseline_arousal + (self.arousal - self.baseline_arousal) * f


@lru_cache(maxsize=1)
def _analyzer() -> Any:
    # Imported lazily: the lexicon loads in ~20 ms and only emotion runs need it.
    from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

    return SentimentIntensityAnalyzer()


@lru_cache(maxsize=1)
def _boosters() -> frozenset[str]:
    from vaderSentiment.vaderSentiment import BOOSTER_DICT

    return frozenset(BOOSTER_DICT)


_WORD_RE = re.compile(r"[A-Za-z][A-Za-z']+")


@dataclass(frozen=True)
class TextAppraisal:
    compound: float  # VADER compound, the valence impulse
    arousal: float  # estimated arousal of the text, in [0, 1]
    exclamations: int
    caps: float
    intensifiers: int

    @property
    def dv(self) -> float:
        return self.compound

    @property
    def da(self) -> float:
        return self.arousal - NEUTRAL_AROUSAL

    def details(self) -> dict[str, Any]:
        return {
            "compound": round(self.compound, 4),
            "text_arousal": round(self.arousal, 4),
            "exclamations": self.exclamations,
            "caps": round(self.caps, 3),
            "intensifiers": self.intensifiers,
        }


# Every listener of a message appraises the same text: one lexicon pass per distinct text, not per
# listener (the appraisal is a pure function of the text, and the result is immutable).
@lru_cache(maxsize=8192)
def appraise_text(text: str) -> TextAppraisal:
    compound = float(_analyzer().polarity_scores(text)["compound"]) if text.strip() else 0.0
    words = _WORD_RE.findall(text)
    caps = sum(1 for w in words if w.isupper()) / len(words) if words else 0.0
    boosters = _boosters()
    intensifiers = sum(1 for w in words if w.lower() in boosters)
    excl = text.count("!")
    arousal = clip(0.1 + 0.5 * abs(compound) + 0.1 * min(excl, 3) + 0.3 * caps + 0.05 * min(intensifiers, 3), 0, 1)
    return TextAppraisal(compound, arousal, excl, caps, intensifiers)
