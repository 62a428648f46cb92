import asyncio

import pytest

from sociallm.runtime.bus import InProcessBus, topic_matches
from sociallm.runtime.events import Event


@pytest.mark.parametrize(
    ("pattern", "topic", "ok"),
    [
        ("#", "sociallm/r/public", True),
        ("sociallm/r/#", "sociallm/r/public", True),
        ("sociallm/+/public", "sociallm/r/public", True),
        ("sociallm/+/public", "sociallm/r/llm", False),
        ("sociallm/r/public", "sociallm/r/public", True),
        ("sociallm/r", "sociallm/r/public", False),
        ("sociallm/r/public/x", "sociallm/r/public", False),
        ("sociallm/x/#", "sociallm/r/public", False),
    ],
)
def test_topic_matches(pattern: str, topic: str, ok: bool) -> None:
    assert topic_matches(pattern, topic) is ok


def ev(i: int, channel: str = "public") -> Event:
    return Event(kind="message", source="a", channel=channel, payload={"text": str(i)})


async def test_seq_is_monotonic_and_run_stamped() -> None:
    bus = InProcessBus("r1", start_seq=10)
    seqs = [(await bus.publish(ev(i))).seq for i in range(5)]
    assert seqs == [11, 12, 13, 14, 15]
    assert bus.seq == 15


async def test_subscribers_get_only_matching_topics_in_order() -> None:
    bus = InProcessBus("r")
    pub = bus.subscribe("sociallm/r/public")
    everything = bus.subscribe("sociallm/r/#")
    for i in range(3):
        await bus.publish(ev(i))
    await bus.publish(ev(9, channel="llm"))
    await bus.aclose()
    assert [e.text async for e in pub] == ["0", "1", "2"]
    assert [e.text async for e in everything] == ["0", "1", "2", "9"]


async def test_slow_subscriber_gets_backpressure_not_drops() -> None:
    bus = InProcessBus("r")
    sub = bus.subscribe("#", maxsize=2)
    got: list[str] = []

    async def slow_reader() -> None:
        async for e in sub:
            await asyncio.sleep(0.001)
            got.append(e.text)

    reader = asyncio.create_task(slow_reader())
    for i in range(50):
        await bus.publish(ev(i))
        assert sub.pending() <= 2  # the publisher waited instead of overfilling
    await bus.aclose()
    await reader
    assert got == [str(i) for i in range(50)]


async def test_taps_run_inline_in_order() -> None:
    bus = InProcessBus("r")
    seen: list[int] = []
    bus.add_tap("#", lambda e: seen.append(e.seq))
    for i in range(4):
        await bus.publish(ev(i))
        assert seen[-1] == i + 1  # already recorded when publish returns
    assert seen == [1, 2, 3, 4]


async def test_closed_subscription_ends_and_stops_receiving() -> None:
    bus = InProcessBus("r")
    sub = bus.subscribe("#")
    await bus.publish(ev(1))
    sub.close()
    await bus.publish(ev(2))
    assert [e.text async for e in sub] == ["1"]


def test_visibility() -> None:
    public = Event(kind="message", source="a")
    private = Event(kind="message", source="a", to=["b"])
    assert public.visible_to("c")
    assert private.visible_to("b") and private.visible_to("a") and not private.visible_to("c")
