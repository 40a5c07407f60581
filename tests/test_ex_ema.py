"""Notebook 04's Exercise 4.1, the EMA update: the right answer and the typical mistakes, each named."""

from __future__ import annotations

import re

import pytest
from grading_fixtures import corpus as C

EX = "ema"
RIGHT = C.CORRECT[EX]
_AVERAGE = "p_ema.mul_(decay).add_(p, alpha=1 - decay)"


def test_the_right_answer_and_lerp_score_full_marks():
    for source in (RIGHT, RIGHT.replace(_AVERAGE, "p_ema.lerp_(p, 1 - decay)")):
        result = C.grade(EX, source)
        assert (result.status, result.score) == ("ok", 1), result.message


MISTAKES = [  # (what the student wrote, words the diagnosis must contain)
    (RIGHT.replace(_AVERAGE, "p_ema.mul_(1 - decay).add_(p, alpha=decay)"),  # mu and 1 - mu swapped
     r"^decay applied the wrong way round: with decay = 0.9 the average keeps 0.9 of theta_ema"),
    (RIGHT.replace(_AVERAGE, "p.mul_(decay).add_(p_ema, alpha=1 - decay)"),  # the online weights averaged in place
     r"^the update went into model, the online network, and ema_model's parameters did not move"),
    (RIGHT.replace(_AVERAGE, "p.copy_(decay * p_ema + (1 - decay) * p)"),  # the right average, written into model
     r"^the update went into model, the online network"),
    (RIGHT.replace("        b_ema.copy_(b)\n", "        pass\n"),  # buffers forgotten
     r"^buffers not copied: ema_model's buffers"),
    (RIGHT.split("    for b_ema")[0],  # no buffer loop at all
     r"^buffers not copied"),
    (RIGHT.replace(_AVERAGE, "p_ema = decay * p_ema + (1 - decay) * p"),  # a name rebound, no tensor changed
     r"^ema_model's parameters did not change: update them in place"),
]


@pytest.mark.parametrize(("source", "pattern"), MISTAKES, ids=range(len(MISTAKES)))
def test_typical_mistakes_are_named(source, pattern):
    result = C.grade(EX, source)
    assert (result.status, result.score) == ("wrong", 0), result.message
    assert re.search(pattern, result.message, re.S), result.message
