"""Notebook 02's consistency function exercise: the right answer, every typical mistake named, the stub."""

from __future__ import annotations

import torch
from grading_fixtures import corpus as C
from grading_fixtures import named

from cmlesson import checks, parameterization
from cmlesson.config import NetworkConfig
from cmlesson.networks import NoiseConditionedMLP

EX = "consistency_function"


def grade_code(source: str) -> checks.Result:
    return C.grade(EX, source)


MISTAKES = [
    ("no_c_in", r"^no input scaling: the backbone got x itself"),
    ("c_noise_sigma", r"^c_noise is sigma itself"),
    ("c_noise_column", r"^c_noise has shape \(32, 1\).*shape \(32,\)"),
    ("c_noise_no_quarter", r"^c_noise is ln\(sigma\), not ln\(sigma\) / 4"),
    ("swapped", r"^c_skip and c_out swapped.*\nboundary not exact: f\(x, sigma_min\) differs from x by up to \d"),
    ("skip_on_scaled", r"^c_skip multiplies the scaled input c_in x.*boundary not exact"),
    ("edm", r"^the EDM teacher's coefficients.*boundary not exact: f\(x, sigma_min\) differs from x by up to 0\.00"),
    ("no_c_out", r"^the network's output is added without c_out.*boundary not exact"),
    ("hardcoded_sigma_data", r"^right for sigma_data = 0\.5, sigma_min = 0\.002, but for sigma_data = 1\.3.*"
     r"c_in uses sigma_data = 0\.5, not the argument"),
    ("coefficients_sigma_data_05", r"^right for sigma_data = 0\.5.*: c_skip and c_out called with sigma_data = 0\.5, "
     r"not the argument"),
    ("coefficients_sigma_min_0002", r"^right for sigma_data = 0\.5.*: c_skip and c_out called with sigma_min = 0\.002, "
     r"not the argument.*boundary not exact"),
    ("coefficients_arguments_swapped", r"^c_skip and c_out called with sigma_data and sigma_min in the wrong order"),
    ("lesson", r"^the lesson text's coefficients.*boundary not exact"),
    ("minus_F", r"^c_out F subtracted"),
    ("c_in_shifted", r"^c_in has c_skip's sigma_min shift"),
    ("c_in_times", r"^the backbone's input is x times sqrt"),
    ("c_noise_shifted", r"^c_noise is ln\(sigma - sigma_min\) / 4, -inf at sigma_min"),
]


test_known_mistakes_are_named, test_every_mistake_of_the_corpus_is_tested = named.mistake_tests(EX, MISTAKES)


def test_stub_is_not_attempted():
    result = grade_code(C.STUBS[EX])
    assert (result.status, result.score) == ("not attempted", 0)


def test_package_function_is_the_consistency_function():
    """The stand-in the notebook uses is what ConsistencyFunction computes, and it is not an answer."""
    torch.manual_seed(0)
    backbone = NoiseConditionedMLP(2, NetworkConfig(hidden=16, depth=2))
    torch.nn.init.normal_(backbone.out.weight, std=0.3)
    model = parameterization.ConsistencyFunction(backbone, 0.7, 0.002, 80.0)
    x, sigma = torch.randn(50, 2), 0.002 + 10 * torch.rand(50)
    sigma[:5] = 0.002
    f = parameterization.consistency_function(backbone, x, sigma, 0.7, 0.002)
    assert torch.equal(f, model(x, sigma))
    assert torch.equal(f[:5], x[:5])
    result = checks.check_consistency_function(parameterization.consistency_function)
    assert result.status == "wrong" and "cmlesson's own" in result.message


def test_a_wrapped_student_function_drives_a_real_backbone():
    """The correct answer, around the course's real backbone, equals ConsistencyFunction."""
    f = C.functions(C.CORRECT[EX])["consistency_function_student"]
    torch.manual_seed(1)
    backbone = NoiseConditionedMLP(2, NetworkConfig(hidden=16, depth=2))
    torch.nn.init.normal_(backbone.out.weight, std=0.3)
    model = parameterization.ConsistencyFunction(backbone, 0.7, 0.002, 80.0)
    x, sigma = torch.randn(40, 2), 0.002 + 5 * torch.rand(40)
    assert torch.allclose(f(backbone, x, sigma, 0.7, 0.002), model(x, sigma), atol=1e-6)
