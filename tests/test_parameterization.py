"""The skip parameterization: boundary condition, coefficient limits, and the formulas of formulas.md."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from hypothesis import example, given, settings
from hypothesis import strategies as st

from cmlesson.parameterization import (
    ConsistencyFunction,
    EDMDenoiser,
    append_dims,
    c_in,
    c_noise,
    c_out,
    c_skip,
    edm_c_out,
    edm_c_skip,
    lesson_c_out,
    lesson_c_skip,
    per_row,
)

sigma_mins = st.floats(1e-4, 0.1)
sigma_datas = st.floats(0.05, 5.0)
# sigma_data of data.sample("moons", 2000, seed=0): what the training functions would estimate and use
MOONS_SIGMA_DATA = 0.7061901617653444


def t64(v) -> torch.Tensor:
    return torch.tensor(v, dtype=torch.float64)


# --- boundary condition f(x, sigma_min) = x ----------------------------------------------------------


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 2**16), batch=st.integers(1, 17), scale=st.floats(1e-3, 100.0),
       sigma_min=sigma_mins, sigma_data=sigma_datas)
@example(seed=0, batch=4, scale=1.0, sigma_min=0.002, sigma_data=MOONS_SIGMA_DATA)
@example(seed=0, batch=4, scale=1.0, sigma_min=0.002, sigma_data=1.375)
def test_boundary_condition_is_exact_for_scalar_sigma(make_backbone, seed, batch, scale, sigma_min, sigma_data):
    """f(x, sigma_min) == x bit for bit, for a random backbone whose output layer is not zero."""
    f = ConsistencyFunction(make_backbone(seed), sigma_data, sigma_min, 80.0)
    x = scale * torch.randn(batch, 2, generator=torch.Generator().manual_seed(seed))
    with torch.no_grad():
        assert torch.equal(f(x, sigma_min), x)
        # the backbone is not trivially zero: away from the boundary f moves x
        assert not torch.allclose(f(x, 10 * sigma_min), x)


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 2**16), batch=st.integers(1, 17), sigma_min=sigma_mins, sigma_data=sigma_datas)
@example(seed=0, batch=4, sigma_min=0.002, sigma_data=MOONS_SIGMA_DATA)
def test_boundary_condition_is_exact_for_batch_of_sigma_min(make_backbone, seed, batch, sigma_min, sigma_data):
    """f(x, sigma) == x exactly when sigma is a (batch,) tensor filled with sigma_min."""
    f = ConsistencyFunction(make_backbone(seed), sigma_data, sigma_min, 80.0)
    x = 3 * torch.randn(batch, 2, generator=torch.Generator().manual_seed(seed + 1))
    with torch.no_grad():
        assert torch.equal(f(x, torch.full((batch,), sigma_min)), x)


def test_boundary_holds_only_in_the_rows_at_sigma_min(make_backbone):
    """With mixed levels in one batch, exactly the rows at sigma_min are returned unchanged."""
    f = ConsistencyFunction(make_backbone(3), 0.5, 0.002, 80.0)
    x = torch.randn(4, 2, generator=torch.Generator().manual_seed(0))
    sigma = torch.tensor([0.002, 1.0, 0.002, 40.0])
    with torch.no_grad():
        y = f(x, sigma)
    assert torch.equal(y[[0, 2]], x[[0, 2]])
    assert not torch.isclose(y[[1, 3]], x[[1, 3]]).any()


@pytest.mark.parametrize("wrapper", [ConsistencyFunction, EDMDenoiser])
@settings(max_examples=15, deadline=None)
@given(seed=st.integers(0, 2**16), log_sigma=st.floats(math.log(0.002), math.log(80.0)))
def test_wrapper_equals_skip_formula_computed_by_hand(make_backbone, wrapper, seed, log_sigma):
    """forward(x, sigma) == c_skip x + c_out F(c_in x, c_noise), recomputed from the backbone and formulas.md."""
    sigma, sd, smin = math.exp(log_sigma), 0.7, 0.002
    backbone = make_backbone(seed)
    model = wrapper(backbone, sd, smin, 80.0)
    x = torch.randn(5, 2, generator=torch.Generator().manual_seed(seed))
    if wrapper is ConsistencyFunction:
        skip = sd**2 / ((sigma - smin) ** 2 + sd**2)
        out = sd * (sigma - smin) / math.sqrt(sigma**2 + sd**2)
    else:
        skip = sd**2 / (sigma**2 + sd**2)
        out = sigma * sd / math.sqrt(sigma**2 + sd**2)
    x_in = x / math.sqrt(sigma**2 + sd**2)
    with torch.no_grad():
        F = backbone(x_in, torch.full((5,), math.log(sigma) / 4))
        expected = skip * x + out * F
        assert torch.allclose(model(x, sigma), expected, rtol=1e-5, atol=1e-6)


def test_sigma_of_wrong_shape_is_rejected(make_backbone):
    """A sigma tensor whose length is not the batch size raises ValueError naming sigma."""
    f = ConsistencyFunction(make_backbone(0), 0.5, 0.002, 80.0)
    with pytest.raises(ValueError, match=r"sigma must be a number or have shape \(4,\), got \(3,\)"):
        f(torch.zeros(4, 2), torch.ones(3))


class Recorder(torch.nn.Module):
    """F(x_in, c_noise, **conditions) = x_in; records the conditions it was given."""

    def __init__(self):
        super().__init__()
        self.seen = []

    def forward(self, x_in, c_noise, **conditions):
        self.seen.append(conditions)
        return x_in


@pytest.mark.parametrize("wrapper", [ConsistencyFunction, EDMDenoiser])
def test_label_and_w_are_passed_to_the_backbone_one_per_row(wrapper):
    """Without conditions the backbone is called as F(x_in, c_noise); a label and w (numbers or one per row) reach
    it as (batch,) tensors, the label as integers; the output does not depend on them for this backbone."""
    f, x = wrapper(Recorder(), 0.5, 0.002, 80.0), torch.randn(3, 2)
    plain = f(x, 1.0)
    assert f.backbone.seen == [{}]
    assert torch.equal(f(x, 1.0, 7, 2.5), plain)
    assert torch.equal(f(x, 1.0, torch.tensor([1, 2, 3]), torch.tensor([0.0, 1.0, 2.0])), plain)
    (a, b) = f.backbone.seen[1:]
    assert torch.equal(a["label"], torch.tensor([7, 7, 7])) and torch.equal(a["w"], torch.full((3,), 2.5))
    assert a["label"].dtype == torch.long and torch.equal(b["label"], torch.tensor([1, 2, 3]))
    with pytest.raises(ValueError, match=r"label must be a number or have shape \(3,\), got \(2,\)"):
        f(x, 1.0, torch.tensor([1, 2]))


def test_append_dims_and_per_row():
    """append_dims adds trailing singleton dimensions (never removes any); per_row broadcasts a number to the batch."""
    v = torch.arange(3.0)
    assert append_dims(v, 4).shape == (3, 1, 1, 1) and torch.equal(append_dims(v, 1), v)
    assert append_dims(torch.tensor(2.0), 2).shape == (1, 1)
    with pytest.raises(ValueError, match="more than target_dims"):
        append_dims(torch.zeros(2, 2), 1)
    x = torch.zeros(3, 2, dtype=torch.float64)
    assert torch.equal(per_row(0.5, x), torch.full((3,), 0.5, dtype=torch.float64))
    assert per_row(v, x).dtype == torch.float64 and per_row(2, x, dtype=torch.long).dtype == torch.long


# --- coefficients ------------------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@settings(max_examples=25, deadline=None)
@given(sigma_min=sigma_mins, sigma_data=sigma_datas)
@example(sigma_min=0.002, sigma_data=MOONS_SIGMA_DATA)
@example(sigma_min=0.002, sigma_data=1.375)
@example(sigma_min=0.002, sigma_data=1.75)
def test_consistency_coefficients_at_sigma_min(dtype, sigma_min, sigma_data):
    """c_skip(sigma_min) == 1 and c_out(sigma_min) == 0 exactly."""
    s = torch.tensor(sigma_min, dtype=dtype)
    assert c_skip(s, sigma_data, sigma_min).item() == 1.0
    assert c_out(s, sigma_data, sigma_min).item() == 0.0


@settings(max_examples=25, deadline=None)
@given(sigma_min=sigma_mins, sigma_data=sigma_datas)
def test_consistency_coefficients_as_sigma_goes_to_infinity(sigma_min, sigma_data):
    """c_skip -> 0 and c_out -> sigma_data as sigma -> inf; on the way c_skip falls and c_out rises."""
    big = t64(1e8)
    assert c_skip(big, sigma_data, sigma_min).item() < 1e-14
    assert c_out(big, sigma_data, sigma_min).item() == pytest.approx(sigma_data, rel=1e-8)
    grid = torch.logspace(math.log10(sigma_min), 8, 200, dtype=torch.float64)
    assert (c_skip(grid, sigma_data, sigma_min).diff() < 0).all()
    assert (c_out(grid, sigma_data, sigma_min).diff() > 0).all()


@settings(max_examples=25, deadline=None)
@given(sigma=st.floats(1e-3, 1e3), sigma_min=sigma_mins, sigma_data=sigma_datas)
def test_coefficients_match_numpy_float64(sigma, sigma_min, sigma_data):
    """Every coefficient agrees with an independent numpy float64 evaluation of formulas.md."""
    s, sd, sm = np.float64(sigma), np.float64(sigma_data), np.float64(sigma_min)
    expected = {
        "c_skip": sd**2 / ((s - sm) ** 2 + sd**2),
        "c_out": sd * (s - sm) / np.sqrt(s**2 + sd**2),
        "c_in": 1 / np.sqrt(s**2 + sd**2),
        "c_noise": np.log(s) / 4,
        "edm_c_skip": sd**2 / (s**2 + sd**2),
        "edm_c_out": s * sd / np.sqrt(s**2 + sd**2),
    }
    got = {
        "c_skip": c_skip(t64(sigma), sigma_data, sigma_min),
        "c_out": c_out(t64(sigma), sigma_data, sigma_min),
        "c_in": c_in(t64(sigma), sigma_data),
        "c_noise": c_noise(t64(sigma)),
        "edm_c_skip": edm_c_skip(t64(sigma), sigma_data),
        "edm_c_out": edm_c_out(t64(sigma), sigma_data),
    }
    for name, value in expected.items():
        assert got[name].item() == pytest.approx(float(value), rel=1e-12, abs=1e-300), name


@settings(max_examples=25, deadline=None)
@given(sigma=st.floats(1e-3, 1e3), sigma_data=sigma_datas)
def test_edm_coefficients_give_unit_variance_targets(sigma, sigma_data):
    """EDM identities: (1-c_skip)^2 sd^2 + c_skip^2 s^2 = c_out^2 (unit-variance training target),
    c_skip + c_out^2/sd^2 = 1, and c_in^2 (s^2 + sd^2) = 1 (unit-variance network input)."""
    s = t64(sigma)
    skip, out, inp = edm_c_skip(s, sigma_data), edm_c_out(s, sigma_data), c_in(s, sigma_data)
    assert ((1 - skip) ** 2 * sigma_data**2 + skip**2 * sigma**2).item() == pytest.approx(out.item() ** 2, rel=1e-12)
    assert (skip + out**2 / sigma_data**2).item() == pytest.approx(1.0, rel=1e-12)
    assert (inp**2 * (sigma**2 + sigma_data**2)).item() == pytest.approx(1.0, rel=1e-12)


def test_consistency_and_edm_coefficients_agree_away_from_sigma_min():
    """The sigma_min shift matters only near sigma_min: at sigma = 80 both sets agree to ~sigma_min/sigma."""
    s = t64(80.0)
    assert c_skip(s, 0.5, 0.002).item() == pytest.approx(edm_c_skip(s, 0.5).item(), rel=1e-4)
    assert c_out(s, 0.5, 0.002).item() == pytest.approx(edm_c_out(s, 0.5).item(), rel=1e-4)


def test_lesson_coefficients_break_the_boundary_condition():
    """The pitfall: the lesson's c_skip(sigma_min) is 1/2 (not 1), its c_out stays ~sigma_min at every sigma,
    so its f(x, sigma_min) = x/2 + 0.0014 F is not x, and at sigma_max both coefficients are ~0: one-step
    samples collapse onto the origin (formulas.md: "all samples within 0.02 of the origin")."""
    sm = 0.002
    assert lesson_c_skip(t64(sm), sm).item() == pytest.approx(0.5, rel=1e-15)
    assert lesson_c_out(t64(sm), sm).item() == pytest.approx(sm / math.sqrt(2), rel=1e-12)  # 1.4e-3
    assert lesson_c_out(t64(80.0), sm).item() == pytest.approx(0.002, rel=1e-6)
    assert lesson_c_skip(t64(80.0), sm).item() < 1e-9
    # the correct coefficients, for contrast
    assert c_skip(t64(sm), 0.5, sm).item() == 1.0
    assert c_out(t64(80.0), 0.5, sm).item() == pytest.approx(0.5, rel=1e-4)
