"""The deception script: who is told which version, the truth on record, and custom stories."""

from __future__ import annotations

import pytest

from sociallm.environments.deception import TOPICS, scripted_events

PARTNERS = ["Alice", "Bob", "Carol", "Dave"]


def truths(events):
    return [e.payload for e in events if e.kind == "system" and e.payload.get("event") == "deception_truth"]


def test_control_tells_everyone_one_version_and_liar_tells_several():
    control = truths(scripted_events(3, PARTNERS, 8, deceptive=False))
    assert all(len(set(t["told"].values())) == 1 and not t["lie"] for t in control)
    liar = truths(scripted_events(3, PARTNERS, 8, deceptive=True, lie_rate=1.0))
    assert all(len(set(t["told"].values())) > 1 and t["lie"] for t in liar)


def test_each_partner_gets_a_private_message_with_its_version():
    events = scripted_events(1, PARTNERS, 3, deceptive=True, lie_rate=1.0)
    truth = {e.tick: e.payload for e in events if e.kind == "system" and e.payload.get("event") == "deception_truth"}
    said = [e for e in events if e.kind == "message"]
    assert len(said) == 3 * len(PARTNERS)
    for e in said:
        (partner,) = e.to
        t = truth[e.tick]
        assert TOPICS[t["topic"]][t["told"][partner]] in e.text


def test_hidden_intent_changes_at_the_change_round():
    intents = [t["intent"] for t in truths(scripted_events(2, PARTNERS, 6, deceptive=False, change_round=4))]
    assert intents == ["friendly"] * 3 + ["hostile"] * 3


def test_custom_stories_replace_the_village_ones():
    stories = {"cake": ["the cake was eaten by the dog", "the cake was never baked"]}
    events = scripted_events(5, PARTNERS, 2, deceptive=False, stories=stories)
    texts = [e.text for e in events if e.kind == "message"]
    assert texts and all(any(v in t for v in stories["cake"]) for t in texts)


@pytest.mark.parametrize(
    "stories, field",
    [({"cake": ["only one version"]}, "stories"), ({"cake": ["a", ""]}, "stories"), (["a", "b"], "stories")],
)
def test_bad_stories_name_the_field(stories, field):
    with pytest.raises(ValueError, match=rf"environment\.params\.{field}: must map each topic"):
        scripted_events(1, PARTNERS, 1, deceptive=True, stories=stories)


def test_unknown_topic_lists_the_known_ones():
    with pytest.raises(ValueError, match=r"environment\.params\.topics: .*money, night"):
        scripted_events(1, PARTNERS, 1, deceptive=True, topics=["dragons"])
