import torch

from sociallm.backbone.ssm import SelectiveSSM, SSMConfig, linear_recurrence


def small() -> SelectiveSSM:
    torch.manual_seed(0)
    return SelectiveSSM(SSMConfig(d_model=24, d_inner=16, d_state=8))


def test_linear_recurrence_matches_a_loop() -> None:
    torch.manual_seed(1)
    a = torch.rand(3, 37, 5, 4)
    b = torch.randn(3, 37, 5, 4)
    h = torch.zeros(3, 5, 4)
    expected = []
    for t in range(37):
        h = a[:, t] * h + b[:, t]
        expected.append(h)
    assert torch.allclose(linear_recurrence(a, b), torch.stack(expected, 1), atol=1e-5)


def test_step_and_scan_give_the_same_numbers() -> None:
    ssm = small()
    x = torch.randn(2, 29, 24)
    h0 = torch.randn(2, 16, 8)
    with torch.no_grad():
        out_scan, h_scan = ssm.scan(x, h0)
        h = h0
        outs = []
        for t in range(x.shape[1]):
            y, h = ssm.step(x[:, t], h)
            outs.append(y)
    assert torch.allclose(out_scan, torch.stack(outs, 1), atol=1e-5)
    assert torch.allclose(h_scan, h, atol=1e-5)


def test_selectivity_input_decides_what_is_kept() -> None:
    ssm = small()
    with torch.no_grad():
        p1, p2 = ssm.project(torch.randn(1, 24)), ssm.project(torch.randn(1, 24))
    assert not torch.allclose(p1.delta, p2.delta)  # Δ depends on the input
    assert (ssm.A < 0).all()  # every state dimension decays: the recurrence is stable


def test_state_decays_without_input() -> None:
    ssm = small()
    with torch.no_grad():
        h = torch.ones(1, 16, 8)
        p = ssm.project(torch.zeros(1, 24))
        p.x.zero_()
        assert ssm.update(h, p).abs().max() < 1.0


def test_scan_is_differentiable() -> None:
    ssm = small()
    out, _ = ssm.scan(torch.randn(2, 9, 24))
    out.pow(2).mean().backward()
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in ssm.parameters())
