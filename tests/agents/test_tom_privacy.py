"""An agent's prompts hold only what it could observe: changing a private channel's text leaves a
non-member's prompts byte-identical, with every section on (emotion, memory, theory of mind, info)."""

from __future__ import annotations

import pytest

from sociallm.backbone import encoders
from sociallm.orchestration.run import Run
from sociallm.runtime.eventlog import read_events
from sociallm.runtime.scenario import load_scenario
from tests.runtime.all_sections_run import SECTIONS, HashEncoder384, ScoringFake

pytestmark = pytest.mark.integration  # real ChromaDB for memory


@pytest.fixture(autouse=True)
def hashed_encoder(monkeypatch: pytest.MonkeyPatch) -> None:
    # Patched per test: a module-wide swap would leak the hashed encoder into later tests.
    monkeypatch.setattr(encoders, "make_encoder", lambda name="minilm", **options: HashEncoder384(name))


SCENARIO = """
name: privacy
description: Two firms talk in a backroom; a third only hears the public square.
preamble: This is the transcript of a market with three firms.
seed: 5
rounds: 3
agents:
  - {name: Alice, persona: Alice runs a firm.}
  - {name: Bob, persona: Bob runs a firm.}
  - {name: Carol, persona: Carol runs a firm.}
channels:
  - {name: public, members: all}
  - {name: backroom, members: [Alice, Bob], description: a private chat}
schedule:
  - {name: chat, kind: talk, mode: sequential, channel: backroom, turns: 1}
  - {name: square, kind: talk, mode: sequential, channel: public, turns: 1}
  - {name: pricing, kind: act, mode: simultaneous, action: price}
environment:
  kind: bertrand
  params: {a: 2.0, a0: 0.0, c: 1.0, mu: 0.25, alpha: 1.0}
backbone: {kind: embedded, temperature: 0.7, max_tokens: 40}
"""

PUBLIC = ["the bridge is {v} and open on Monday", "prices stay where they are", "the harvest is late"]
BACKROOM = {
    "a": ["let us hold prices at two", "the bridge is red", "we agree then"],
    "b": ["I will undercut Carol tomorrow, the bridge is green", "the bridge is blue and closed", "no deal, ever"],
}


class Fake(ScoringFake):
    """Public talk and prices depend on the speaker and round alone; backroom talk on the variant."""

    def __init__(self, variant: str, colour: str = "red") -> None:
        super().__init__()
        self.variant = variant
        self.colour = colour
        self.reply = self._reply

    def _reply(self, req) -> str:
        cue = (req.prompt or "").rsplit("\n", 1)[-1]
        if req.constraint is not None or req.purpose not in ("talk", ""):
            from tests.memory.helpers import memory_reply

            return memory_reply(req)
        n = req.seed % 3
        if "privately to" in cue:
            return f' {BACKROOM[self.variant][n]}."'
        return f' {PUBLIC[n].format(v=self.colour)}."'


async def _carol_prompts(tmp_path, variant: str, colour: str = "red") -> tuple[list[str], int, list[str]]:
    path = tmp_path / "privacy.yaml"
    path.write_text(SCENARIO)
    spec = load_scenario(str(path), {"sections": SECTIONS})
    run_dir = tmp_path / f"{variant}-{colour}"
    await Run(spec, run_dir, llm=Fake(variant, colour)).execute()
    events = read_events(run_dir / "events.jsonl").events
    carol = [e.payload for e in events if e.kind == "llm_call" and e.source == "Carol"]
    prompts = [f"{p.get('purpose')}|{p.get('prompt')}|{p.get('context')}" for p in carol]
    backroom = [e.text for e in events if e.kind == "message" and e.channel == "backroom"]
    tom = [e for e in events if e.kind == "tom"]
    assert tom and all(e.to == ["@analyst"] for e in tom)  # the analyst view reaches no agent
    return prompts, len(backroom), backroom


async def test_a_non_members_prompts_do_not_change_with_a_private_channel(tmp_path):
    a, na, texts_a = await _carol_prompts(tmp_path, "a")
    b, nb, texts_b = await _carol_prompts(tmp_path, "b")
    assert na == nb > 0 and texts_a != texts_b  # the backroom did talk, and differently
    assert len(a) > 5 and any("talk|" in p for p in a)
    assert a == b


async def test_the_same_comparison_sees_a_change_in_what_the_non_member_hears(tmp_path):
    # Without this, byte-identical prompts could come from prompts that ignore the talk altogether.
    a, _, _ = await _carol_prompts(tmp_path, "a")
    c, _, _ = await _carol_prompts(tmp_path, "a", colour="blue")
    assert a != c
