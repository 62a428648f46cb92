import pytest
import torch
import torch.nn.functional as F

from sociallm.agents.tom_bank import StateBank, ToMModel
from sociallm.backbone.ssm import SSMConfig


def bank(capacity: int = 2) -> StateBank:
    torch.manual_seed(0)
    return StateBank(ToMModel(SSMConfig(d_model=32, d_inner=8, d_state=4)), capacity=capacity)


def emb(seed: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return F.normalize(torch.randn(32, generator=g), dim=0)


def test_batched_step_equals_stepping_each_pair_alone() -> None:
    b = bank()
    msgs = [("Xe", ["Bob", "Cy"]), ("Bob", ["Xe"]), ("Xe", ["Bob"])]  # Xe speaks twice: two waves
    e = torch.stack([emb(1), emb(2), emb(3)])
    b.step(msgs, e)
    ssm = b.model.ssm
    expected: dict[tuple[str, str], torch.Tensor] = {}
    with torch.no_grad():
        for (speaker, observers), x in zip(msgs, e, strict=True):
            for obs in dict.fromkeys([speaker, *observers]):
                h = expected.get((obs, speaker), ssm.zero_state(1)[0])
                expected[(obs, speaker)] = ssm.step(x.unsqueeze(0), h.unsqueeze(0))[1][0]
    assert b.pairs == len(expected)
    for key, h in expected.items():
        assert torch.allclose(b.state_of(*key), h, atol=1e-6), key
    assert b.steps[b.row("Xe", "Xe")] == 2 and b.steps[b.row("Cy", "Xe")] == 1


def test_shared_weights_same_messages_same_state() -> None:
    b = bank()
    for seed in range(5):
        b.step([("Xe", ["Bob", "Cy"])], emb(seed).unsqueeze(0))
    # Self and others use one set of weights: having seen the same messages, they hold the same state.
    assert torch.allclose(b.state_of("Xe", "Xe"), b.state_of("Bob", "Xe"))
    assert b.overlap("Xe") > 0.999
    assert b.belief_spread("Xe") < 1e-5


def test_duplicity_rises_when_one_agent_tells_partners_different_stories() -> None:
    honest, liar = bank(), bank()
    for t in range(6):
        same = emb(100 + t).unsqueeze(0)
        honest.step([("Xe", ["Bob"])], same)
        honest.step([("Xe", ["Cy"])], same)
        liar.step([("Xe", ["Bob"])], emb(200 + t).unsqueeze(0))
        liar.step([("Xe", ["Cy"])], emb(300 + t).unsqueeze(0))
    assert liar.belief_spread("Xe") > honest.belief_spread("Xe") + 0.01


def test_surprise_is_undefined_first_then_measured() -> None:
    b = bank()
    first = b.step([("Xe", ["Bob"])], emb(1).unsqueeze(0)).per_message(b.names, 1)
    assert first == [{}]
    second = b.step([("Xe", ["Bob"])], emb(2).unsqueeze(0)).per_message(b.names, 1)
    assert set(second[0]) == {"Xe", "Bob"} and all(0.0 <= s <= 2.0 for s in second[0].values())


def test_checkpoint_round_trip_and_growth() -> None:
    b = bank(capacity=1)
    for i, name in enumerate(["A", "B", "C", "D"]):
        b.step([(name, ["A", "B", "C", "D"])], emb(i).unsqueeze(0))
    assert b.pairs == 16 and b.states.shape[0] >= 16
    other, legacy = bank(), bank()
    other.load_state(b.state())
    # A checkpoint written before states were stored as bytes held them as nested lists.
    legacy.load_state({**b.state(), "states": b.states[: b.pairs].tolist()})
    for o in "ABCD":
        for t in "ABCD":
            assert torch.equal(other.state_of(o, t), b.state_of(o, t))
            assert torch.equal(legacy.state_of(o, t), b.state_of(o, t))
    a = other.step([("A", ["B"])], emb(9).unsqueeze(0)).per_message(other.names, 1)
    assert a == b.step([("A", ["B"])], emb(9).unsqueeze(0)).per_message(b.names, 1)


def test_rows_in_any_order_step_like_rows_in_creation_order() -> None:
    # In creation order the rows are one slice (updated in place); reversed, they are gathered.
    names = ["A", "B", "C"]
    forward, backward = bank(), bank()
    for b in (forward, backward):
        b.step([(n, names) for n in names], torch.stack([emb(i) for i in range(3)]))
    forward.step([(n, names) for n in names], torch.stack([emb(10 + i) for i in range(3)]))
    backward.step([(n, names) for n in reversed(names)], torch.stack([emb(12 - i) for i in range(3)]))
    for o in names:
        for t in names:
            assert torch.allclose(forward.state_of(o, t), backward.state_of(o, t), atol=1e-6), (o, t)


def test_a_model_that_takes_affect_needs_the_texts_and_keeps_the_flag(tmp_path) -> None:
    from sociallm.agents.tom_train import read_checkpoint, save_checkpoint

    torch.manual_seed(0)
    model = ToMModel(SSMConfig(d_model=32 + ToMModel.AFFECT_DIMS, d_inner=8, d_state=4), affect_input=True)
    b = StateBank(model)
    e = torch.stack([emb(1), emb(2)])
    with pytest.raises(ValueError, match="give their texts"):
        b.step([("Xe", ["Bob"]), ("Bob", ["Xe"])], e)
    b.step([("Xe", ["Bob"]), ("Bob", ["Xe"])], e, ["I am furious!!", "What a lovely day."])
    x = model.inputs(e, ["I am furious!!", "What a lovely day."])
    assert x.shape == (2, 34) and x[0, 32] < 0 < x[1, 32]  # lexicon valence rides along
    save_checkpoint(model, tmp_path / "a.pt", {})
    again, _ = read_checkpoint(tmp_path / "a.pt")
    assert again.affect_input and again.encoder_dim == 32
