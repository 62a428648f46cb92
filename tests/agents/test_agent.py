from sociallm.agents.agent import Agent, Turn, derive_seed
from sociallm.backbone.base import GenerationRequest
from sociallm.environments.base import ActionSpec
from sociallm.runtime.events import Event
from sociallm.runtime.scenario import load_scenario
from tests.fakes import FakeLLM

SPEC = load_scenario("bertrand")
TALK = SPEC.schedule[0]
PRICE = SPEC.schedule[1]
PRICE_SPEC = ActionSpec(name="price", min=0.0, max=3.0, unit="$", cue="{agent} sets its price for round {tick} at $")


def make(reply=None) -> tuple[Agent, FakeLLM]:
    llm = FakeLLM(reply) if reply else FakeLLM()
    return Agent(SPEC.agents[0], SPEC, "RULES", llm), llm


async def test_talk_prompt_is_prefix_then_history_then_cue() -> None:
    agent, llm = make()
    agent.observe(Event(kind="message", source="Bob", payload={"text": "Hello Alice."}))
    ev = await agent.act(Turn(tick=1, phase=TALK))
    prompt = llm.requests[0].prompt
    assert prompt.startswith(agent.prefix)
    assert prompt.endswith('Bob: "Hello Alice."\nAlice: "')
    assert '"' in llm.requests[0].stop and "\n" in llm.requests[0].stop and "Bob:" in llm.requests[0].stop
    assert ev.kind == "message" and ev.source == "Alice" and ev.to == []
    assert ev.text == "I am Alice and I propose we keep prices high."


async def test_empty_reply_is_asked_again_then_recorded_as_silent() -> None:
    agent, llm = make(lambda req: "   \n")
    ev = await agent.act(Turn(tick=1, phase=TALK))
    assert len(llm.requests) == 2 and llm.requests[0].seed != llm.requests[1].seed
    assert ev.payload["silent"] is True and ev.text == "…"
    assert any("asked again" in r for r in ev.payload["repairs"])


async def test_price_action_is_constrained_and_clamped() -> None:
    agent, llm = make(lambda req: "7.50")
    ev = await agent.act(Turn(tick=2, phase=PRICE, action=PRICE_SPEC))
    req = llm.requests[0]
    assert req.constraint is not None and req.constraint.kind == "number"
    assert req.prompt.endswith("Alice sets its price for round 2 at $")
    assert ev.kind == "action" and ev.to == ["Alice"]
    assert ev.payload["value"] == 3.0 and ev.payload["repairs"]


async def test_unparseable_action_is_retried_then_marked_missing() -> None:
    agent, llm = make(lambda req: "no idea")
    ev = await agent.act(Turn(tick=1, phase=PRICE, action=PRICE_SPEC))
    assert len(llm.requests) == 2
    assert ev.payload["missing"] is True and ev.payload["value"] is None


async def test_private_events_of_others_are_not_seen() -> None:
    agent, llm = make()
    agent.observe(Event(kind="message", source="Bob", to=["Carol"], payload={"text": "secret"}))
    agent.observe(Event(kind="action", source="Bob", to=["Bob"], payload={"action": "price", "value": 1.2}))
    await agent.act(Turn(tick=1, phase=TALK))
    assert "secret" not in llm.requests[0].prompt and "1.2" not in llm.requests[0].prompt


def test_seeds_are_stable_and_distinct() -> None:
    assert derive_seed(7, "Alice", 1, "chat", 0, 0) == derive_seed(7, "Alice", 1, "chat", 0, 0)
    assert derive_seed(7, "Alice", 1, "chat", 0, 0) != derive_seed(7, "Bob", 1, "chat", 0, 0)


async def test_state_round_trip() -> None:
    agent, _ = make()
    agent.observe(Event(kind="message", source="Bob", payload={"text": "x"}))
    other, _ = make()
    other.load_state(agent.state())
    assert other.prompt(Turn(tick=1, phase=TALK), "Alice:") == agent.prompt(Turn(tick=1, phase=TALK), "Alice:")


def test_fake_reply_is_deterministic() -> None:
    req = GenerationRequest(prompt="x", agent="Bob")
    assert FakeLLM().reply(req) == FakeLLM().reply(req)
