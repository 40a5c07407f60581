"""Notebook 01, Exercise 1.1: the check accepts what the notebook then claims, a boundary that holds exactly
(c_skip(sigma_min) == 1.0 and c_out(sigma_min) == 0.0, in float32 and float64), and names the paper's form typed as
``number / tensor``, which misses 1 by a rounding error."""

from __future__ import annotations

import re

import torch
from grading_fixtures import corpus as C

from cmlesson import parameterization as P
from cmlesson.grading.exercises import coefficients


def test_the_paper_form_is_named_as_exact_only_to_rounding():
    result = C.grade("coefficients", C.WRONG["coefficients"]["paper_form"])
    assert (result.status, result.score, result.kind) == ("wrong", 0, "c_skip(sigma_min) 1 only to rounding")
    assert re.match(r"the right formulas, but the boundary holds only to rounding: in float32 with sigma_data = 0\.7066, "
                    r"c_skip\(sigma_min\) = 1 - 6e-08, so f\(x, sigma_min\) = x misses x", result.message), result.message
    assert "a number divided by a tensor is the number times the tensor's rounded reciprocal" in result.message


def test_a_miss_in_float64_only_is_named_too():
    """sigma_data^2 / (...) with sigma_data = 0.3 is 1 exactly in float32 but not in float64."""
    def c_skip(sigma, sigma_data, sigma_min):
        exact = 1 / (1 + ((sigma - sigma_min) / sigma_data) ** 2)
        return exact if sigma.dtype == torch.float32 else sigma_data**2 / ((sigma - sigma_min) ** 2 + sigma_data**2)

    result = coefficients.judge(coefficients.evaluate(c_skip, C.functions(C.CORRECT["coefficients"])["c_out_student"]))
    assert result.status == "wrong"
    assert result.message.startswith("the right formulas, but the boundary holds only to rounding: in float64 with "
                                     "sigma_data = 0.3, c_skip(sigma_min) = 1 - 1.1e-16")


def test_the_boundary_probe_sees_what_the_notebook_prints():
    """The notebook's cell 01-21 evaluates at torch.tensor(sigma_min) in float32 with the model's sigma_data: there
    the paper's form is 1 - 6e-08, and the package's (the model answer's) form is exactly 1."""
    sigma_data, sigma_min = coefficients.EXACT[0]
    s = torch.tensor(sigma_min)
    paper = sigma_data**2 / ((s - sigma_min) ** 2 + sigma_data**2)
    assert paper.item() != 1.0
    assert P.c_skip(s, sigma_data, sigma_min).item() == 1.0 and P.c_out(s, sigma_data, sigma_min).item() == 0.0


def test_the_exact_form_passes_and_says_so():
    result = C.grade("coefficients", C.CORRECT["coefficients"])
    assert result.status == "ok"
    assert "exactly 1 and 0 at sigma_min in float32 and float64" in result.message
