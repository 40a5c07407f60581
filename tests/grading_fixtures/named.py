"""The two tests every exercise's corpus of mistakes gets; tests/test_ex_<name>.py binds them at its top level."""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence

import pytest

from grading_fixtures import corpus as C


def mistake_tests(ex: str, mistakes: Sequence[tuple]) -> tuple[Callable, Callable]:
    """Tests for exercise ``ex``: each ``(mistake, pattern[, score])`` of ``mistakes`` grades wrong with that score (0
    when not given) and a diagnosis matching ``pattern``; and ``mistakes`` lists every mistake of the corpus."""
    cases = [(m[0], m[1], m[2] if len(m) > 2 else 0) for m in mistakes]

    @pytest.mark.parametrize(("mistake", "pattern", "score"), cases, ids=[c[0] for c in cases])
    def test_known_mistakes_are_named(mistake: str, pattern: str, score: int) -> None:
        result = C.grade(ex, C.WRONG[ex][mistake])
        assert (result.status, result.score) == ("wrong", score), result.message
        assert re.search(pattern, result.message, re.S), result.message

    def test_every_mistake_of_the_corpus_is_tested() -> None:
        assert {c[0] for c in cases} == set(C.WRONG[ex])

    return test_known_mistakes_are_named, test_every_mistake_of_the_corpus_is_tested
