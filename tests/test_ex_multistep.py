"""Notebook 01's multistep sampler: a diagnosis added with issue 10 (noise drawn off the generator)."""

from __future__ import annotations

from grading_fixtures import corpus as C

from cmlesson.grading import exercises


def test_noise_from_the_global_generator_is_named():
    source = C.CORRECT["multistep"].replace("torch.randn(x.shape, generator=generator)", "torch.randn_like(x)")
    result = exercises.judge("multistep", exercises.evaluate_in_kernel("multistep", C.functions(source), {}, 60.0))
    assert (result.status, result.score) == ("wrong", 0), result.message
    assert result.reason.startswith("two calls with identically seeded generators gave different samples")
    assert "torch.randn(x.shape, generator=generator)" in result.message


def test_a_right_answer_is_repeatable():
    outputs = exercises.evaluate_in_kernel("multistep", C.functions(C.CORRECT["multistep"]), {}, 60.0)
    assert outputs["repeatable"] is True
    assert exercises.judge("multistep", outputs).status == "ok"
