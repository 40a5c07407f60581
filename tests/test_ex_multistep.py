"""Notebook 01's multistep sampler (Song et al. 2023, Alg. 1): every mistake the check names, each made on the right
answer, and the diagnosis it must get."""

from __future__ import annotations

import re

import pytest
from grading_fixtures import corpus as C

from cmlesson.grading import exercises

RIGHT = C.CORRECT["multistep"]
FIRST = "    x = model(x, sigmas[0])\n"
LOOP = "    for tau in sigmas[1:]:\n        z = torch.randn(x.shape, generator=generator)\n"
MISTAKES = {  # name: (the right answer with one mistake, the words its diagnosis must start with)
    "notebook_sigma_min": ("sigma_min = 0.002  # the notebook's global\n" + RIGHT.replace("model.sigma_min", "sigma_min"),
                           r"re-noised with the notebook's sigma_min \(0\.002\) instead of the model's own: use "
                           r"model\.sigma_min \(here 0\.2\)"),
    "sigma_noise": (RIGHT.replace("(tau**2 - model.sigma_min**2) ** 0.5", "tau"),
                    r"re-noised with sigma instead of sqrt\(sigma\^2 - sigma_min\^2\)"),
    "plus_sigma_min": (RIGHT.replace("tau**2 - model.sigma_min**2", "tau**2 + model.sigma_min**2"),
                       r"re-noised with sqrt\(sigma\^2 \+ sigma_min\^2\): .* tops it up to sigma\^2"),
    "no_renoise": (RIGHT.replace("x + (tau**2 - model.sigma_min**2) ** 0.5 * z", "x"), r"no re-noising: each later call"),
    "one_z": (RIGHT.replace(FIRST + LOOP, FIRST + "    z = torch.randn(x.shape, generator=generator)\n"
                                           "    for tau in sigmas[1:]:\n"),
              r"one noise draw reused at every level"),
    "start_std1": (RIGHT.replace(FIRST, "    x = model(torch.randn(x.shape, generator=generator), sigmas[0])\n"),
                   r"ignored x and drew start noise of std 1"),
    "start_redrawn": (RIGHT.replace(FIRST, "    x = model(sigmas[0] * torch.randn(x.shape, generator=generator), "
                                           "sigmas[0])\n"),
                      r"ignored x and drew the start noise again"),
    "noise_first": (RIGHT.replace(FIRST, "    x = model(x + sigmas[0] * torch.randn(x.shape, generator=generator), "
                                         "sigmas[0])\n"),
                    r"added noise before the first call"),
    "return_noisy": ("""\
def multistep_student(model, x, sigmas, generator):
    denoised = model(x, sigmas[0])
    for tau in sigmas[1:]:
        z = torch.randn(x.shape, generator=generator)
        x = denoised + (tau**2 - model.sigma_min**2) ** 0.5 * z
        denoised = model(x, tau)
    return x
""", r"returned the last re-noised x instead of the model's output"),
    "ascending_after_first": (RIGHT.replace("for tau in sigmas[1:]", "for tau in sorted(sigmas[1:])"),
                              r"called the model at levels 80, 0\.3, 0\.8, 2: the levels in the wrong order"),
    "reversed": (RIGHT.replace(FIRST, "    sigmas = sigmas[::-1]\n" + FIRST),
                 r"first call was model\(x, 0\.3\), not at sigmas\[0\] = 80: the levels in the wrong order"),
}


def judged(source: str) -> exercises.Result:
    return exercises.judge("multistep", exercises.evaluate_in_kernel("multistep", C.functions(source), {}, 60.0))


@pytest.mark.parametrize("mistake", list(MISTAKES))
def test_each_mistake_is_named(mistake):
    source, pattern = MISTAKES[mistake]
    assert source != RIGHT, "the mistake was not made: the replacement did not apply"
    result = judged(source)
    assert (result.status, result.score) == ("wrong", 0), result.message
    assert re.match(pattern, result.message, re.S), result.message
    others = [p for name, (_, p) in MISTAKES.items() if name != mistake and re.match(p, result.message, re.S)]
    assert not others, f"also named: {others}\n{result.message}"


def test_noise_from_the_global_generator_is_named():
    source = RIGHT.replace("torch.randn(x.shape, generator=generator)", "torch.randn_like(x)")
    result = judged(source)
    assert (result.status, result.score) == ("wrong", 0), result.message
    assert result.reason.startswith("two calls with identically seeded generators gave different samples")
    assert "torch.randn(x.shape, generator=generator)" in result.message


def test_a_right_answer_is_repeatable():
    outputs = exercises.evaluate_in_kernel("multistep", C.functions(RIGHT), {}, 60.0)
    assert outputs["repeatable"] is True
    assert exercises.judge("multistep", outputs).status == "ok"
