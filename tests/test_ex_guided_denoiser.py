"""Notebook 09's guided denoiser: the right answers, every typical mistake named, the stub, and the judge's reference
checked against the package's guidance.guided_denoise."""

from __future__ import annotations

import re

import pytest
import torch
from grading_fixtures import corpus as C
from grading_fixtures import corpus_guided_denoiser as G
from grading_fixtures import named

from cmlesson import checks
from cmlesson.frontier import guidance
from cmlesson.grading.exercises import guided_denoiser as ex

EX = "guided_denoiser"


def grade_code(source: str) -> checks.Result:
    return C.grade(EX, source)


def test_the_right_answer_is_the_package_guided_denoiser():
    """The judge's reference, the corpus answer and guidance.guided_denoise agree on the spy."""
    inp = ex.inputs()
    spy = ex.SpyConditionalDenoiser(inp["seed"])
    args = (spy, inp["x"], inp["sigma"], inp["label"], inp["w"])
    package = guidance.guided_denoise(*args)
    torch.testing.assert_close(C.functions(C.CORRECT[EX])["guided_denoiser_student"](*args), package)
    torch.testing.assert_close(torch.as_tensor(ex._candidates(inp)["right"]), package.double(), rtol=1e-5, atol=1e-5)
    assert ex.NULL == guidance.NULL_LABEL


def test_every_mistake_is_far_from_the_right_answer_and_from_each_other():
    cands = ex._candidates(ex.inputs())
    scale = abs(cands["right"]).max()
    keys = ["right", *ex.MISTAKES]
    for i, a in enumerate(keys):
        for b in keys[i + 1:]:
            assert abs(cands[a] - cands[b]).max() > 1e-2 * scale, (a, b)


@pytest.mark.parametrize("way", list(G.ALSO_CORRECT))
def test_other_right_ways_score_full_marks(way):
    result = grade_code(G.ALSO_CORRECT[way])
    assert (result.status, result.score) == ("ok", 2), result.message


MISTAKES = [  # (mistake, words the diagnosis must contain)
    ("swapped", r"^conditional and unconditional swapped \(w and 1 - w swapped\)"),
    ("one_minus_w", r"^conditional and unconditional swapped \(w and 1 - w swapped\)"),
    ("ho_salimans", r"^Ho & Salimans' offset: \(1 \+ w\) D_cond - w D_uncond is their Eq\. 6 with their w' = w - 1"),
    ("minus_one", r"^w shifted by one"),
    ("noisy_x", r"^guidance applied to the noisy x: you mix x and D\(x, sigma \| c\)"),
    ("noisy_x_shift", r"^guidance applied to the noisy x: you add w \(D_cond - D_uncond\) to x"),
    ("label_zero", r"^the unconditional label is wrong: you used the digit 0"),
    ("label_nine", r"^the unconditional label is wrong: the \"no label\" token 10 never reached the denoiser \(it saw "
     r"the labels [0-9, ]*9\)"),
    ("label_minus_one", r"^your code raised an error: .*label -1, which is no label.*NULL_LABEL = 10"),
    ("cond_only", r"^returns the conditional denoiser D\(x, sigma \| c\) alone: w is not applied"),
    ("uncond_only", r"^returns the unconditional denoiser D\(x, sigma \| no label\) alone"),
    ("float_label", r"^your code raised an error: .*labels of dtype torch.float32: labels are integers"),
]


test_known_mistakes_are_named, test_every_mistake_of_the_corpus_is_tested = named.mistake_tests(EX, MISTAKES)


def test_stub_is_not_attempted_and_the_package_is_not_an_answer():
    assert grade_code(C.STUBS[EX]).status == "not attempted"
    assert "cmlesson's own" in checks.check_guided_denoiser(guidance.guided_denoise).message
    result = checks.check_guided_denoiser(lambda *a: 1.0)
    assert result.status == "wrong" and "expected a tensor of shape (24, 4)" in result.message
    source = C.CORRECT[EX].replace("    return d_uncond + w * (d_cond - d_uncond)\n",
                                   "    return guidance.guided(d_uncond, d_cond, w)\n")
    delegated = grade_code("from cmlesson.frontier import guidance\n" + source)
    assert delegated.score == 0 and "cmlesson.frontier.guidance.guided" in delegated.message, delegated.message


def test_another_formula_says_how_far_it_is():
    result = grade_code(G._mix("d_uncond + 0.5 * w * (d_cond - d_uncond)"))
    assert result.status == "wrong" and re.search(r"differs from D_uncond \+ w \(D_cond - D_uncond\) by up to .* at "
                                                  r"w = 2\.5", result.message), result.message
