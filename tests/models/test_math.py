"""symlog/symexp and two-hot encoding against hand-computed values."""

from __future__ import annotations

import math

import pytest

torch = pytest.importorskip("torch")

from worldflux_cli.models.math import symexp, symlog, symlog_bins, twohot_decode, twohot_encode  # noqa: E402


def close(a, b, tol=1e-6):
    return torch.allclose(torch.as_tensor(a, dtype=torch.float32), torch.as_tensor(b, dtype=torch.float32),
                          atol=tol, rtol=tol)


def test_symlog_hand_values():
    e = math.e
    x = torch.tensor([0.0, e - 1, -(e - 1), e**2 - 1, -(e**3 - 1), 1.0])
    assert close(symlog(x), [0.0, 1.0, -1.0, 2.0, -3.0, math.log(2.0)])


def test_symexp_hand_values_and_inverse():
    e = math.e
    assert close(symexp(torch.tensor([0.0, 1.0, -2.0, math.log(2.0)])), [0.0, e - 1, -(e**2 - 1), 1.0])
    x = torch.tensor([-1e4, -123.5, -1.0, -1e-3, 0.0, 1e-3, 0.5, 7.0, 1e4], dtype=torch.float64)
    assert torch.allclose(symexp(symlog(x)), x, rtol=1e-12, atol=1e-12)
    assert torch.allclose(symlog(symexp(x.clamp(-30, 30))), x.clamp(-30, 30), rtol=1e-12, atol=1e-12)


def test_twohot_encode_hand_values():
    bins = torch.tensor([0.0, 1.0, 2.0, 3.0])
    x = torch.tensor([1.25, 2.0, -5.0, 3.0, 9.0, 0.0, 2.9])
    want = torch.tensor([
        [0.0, 0.75, 0.25, 0.0],   # between bins 1 and 2
        [0.0, 0.0, 1.0, 0.0],     # exactly on a bin
        [1.0, 0.0, 0.0, 0.0],     # below the range: first bin
        [0.0, 0.0, 0.0, 1.0],     # the last bin
        [0.0, 0.0, 0.0, 1.0],     # above the range: last bin
        [1.0, 0.0, 0.0, 0.0],     # the first bin
        [0.0, 0.0, 0.1, 0.9],
    ])
    code = twohot_encode(x, bins)
    assert code.shape == (7, 4) and code.dtype == torch.float32
    assert torch.allclose(code, want, atol=1e-6)


def test_twohot_uneven_bins_and_shapes():
    bins = torch.tensor([-10.0, -1.0, 0.0, 4.0])
    code = twohot_encode(torch.tensor([[-5.5, 3.0], [0.5, -1.0]]), bins)
    assert code.shape == (2, 2, 4)
    assert torch.allclose(code[0, 0], torch.tensor([0.5, 0.5, 0.0, 0.0]))
    assert torch.allclose(code[0, 1], torch.tensor([0.0, 0.0, 0.25, 0.75]))
    assert torch.allclose(code[1, 0], torch.tensor([0.0, 0.0, 0.875, 0.125]))
    assert torch.allclose(code[1, 1], torch.tensor([0.0, 1.0, 0.0, 0.0]))


def test_twohot_round_trip():
    bins = symlog_bins(255, -20.0, 20.0)
    raw = torch.tensor([-3000.0, -12.5, -1.0, -0.01, 0.0, 0.3, 1.0, 7.25, 100.0, 1e5])
    code = twohot_encode(symlog(raw), bins)
    assert torch.allclose(code.sum(-1), torch.ones(10))
    assert ((code > 0).sum(-1) <= 2).all()
    back = symexp(twohot_decode(code, bins))
    assert torch.allclose(back, raw, rtol=1e-4, atol=1e-5)
    # logits=True: log-probabilities decode like their probabilities
    assert torch.allclose(twohot_decode(code.clamp_min(1e-30).log(), bins, logits=True), symlog(raw), atol=1e-4)


def test_twohot_decode_hand_values():
    bins = torch.tensor([-1.0, 0.0, 1.0, 2.0])
    assert close(twohot_decode(torch.tensor([0.25, 0.25, 0.25, 0.25]), bins), 0.5)
    assert close(twohot_decode(torch.tensor([0.0, 0.0, 0.5, 0.5]), bins), 1.5)
    assert close(twohot_decode(torch.zeros(4), bins, logits=True), 0.5)


@pytest.mark.parametrize("n", [2, 5, 101, 255, 256])
def test_uniform_distribution_decodes_to_exactly_zero(n):
    bins = symlog_bins(n, -20.0, 20.0)
    assert torch.equal(bins, -bins.flip(0))
    assert twohot_decode(torch.zeros(3, n), bins, logits=True).abs().max().item() == 0.0
