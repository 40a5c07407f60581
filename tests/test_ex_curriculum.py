"""Notebook 03's Exercise 3.1, the curriculum N(k): the right answer and the typical mistakes, each named."""

from __future__ import annotations

import re

import pytest
from grading_fixtures import corpus as C

EX = "curriculum"
_HEAD = "def ct_curriculum_student(k, K, s0, s1):\n"
_COUNT = "math.sqrt(k / K * ((s1 + 1) ** 2 - s0**2) + s0**2)"


def test_the_right_answer_and_the_papers_form_score_full_marks():
    for body in (f"    return math.ceil({_COUNT})\n", f"    return math.ceil({_COUNT} - 1) + 1\n"):
        result = C.grade(EX, _HEAD + body)
        assert (result.status, result.score) == ("ok", 1), result.message


MISTAKES = [  # (what the student wrote, words the diagnosis must contain)
    (f"    return math.ceil({_COUNT}) + 1\n",  # off by one after the ceil
     r"^one level too many: .*\+ 1 counts a level twice\noff by one at the ends: N\(0\) = 3, expected s0 = 2; "
     r"N\(K\) = 152, expected s1 \+ 1 = 151"),
    (f"    return math.ceil({_COUNT} - 1)\n",  # the paper's form without its + 1
     r"^one level short: ceil\(count - 1\) is N\(k\) - 1.*\noff by one at the ends: N\(0\) = 1"),
    (f"    return int({_COUNT}) + 1\n",  # floor + 1 is not ceil at whole counts
     r"^int\(count\) \+ 1 is not rounding up: .*use math.ceil"),
    ("    return math.ceil(math.sqrt(k / K * (s1**2 - s0**2) + s0**2))\n",  # off by one in the squared end
     r"^the square ends at s1\^2 where it must end at \(s1 \+ 1\)\^2.*\noff by one at the ends: N\(K\) = 150"),
    ("    return math.ceil(math.sqrt(k / K * ((s0 + 1) ** 2 - s1**2) + s1**2))\n",  # s0 and s1 swapped
     r"^s0 and s1 swapped"),
    (f"    s0, s1 = s1, s0\n    return math.ceil({_COUNT})\n",  # as if the arguments were taken in the wrong order
     r"^s0 and s1 swapped \(in the formula or in the order of the arguments\)"),
    (f"    return math.ceil({_COUNT.replace('k / K', 'K / K')})\n",  # K where k belongs
     r"^N\(k\) = s1 \+ 1 at every step: the square must move with the current step k, not the run's length K"),
    (f"    return math.ceil({_COUNT.replace('k / K', 'K / k')})\n",  # the fraction upside down
     r"raised an error: .*ZeroDivisionError.*\ndivision by zero: at the first step k = 0; .*not K / k"),
    (f"    return math.ceil({_COUNT.replace('k / K', 'k // K')})\n",  # integer division
     r"^N stays at s0 until the last step: k // K is integer division"),
]


@pytest.mark.parametrize(("body", "pattern"), MISTAKES, ids=range(len(MISTAKES)))
def test_typical_mistakes_are_named(body, pattern):
    result = C.grade(EX, _HEAD + body)
    assert (result.status, result.score) == ("wrong", 0), result.message
    assert re.search(pattern, result.message, re.S), result.message
