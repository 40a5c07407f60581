"""cmlesson.checks: every exercise's check on right answers, known mistakes, stubs and errors (in process).

The outputs go through ``exercises.evaluate_in_kernel``, the same path the grader's kernel takes, with the student's
code executed into a namespace standing in for the notebook's globals. The W1-heavy ladder and ct_training
checks that must solve 2000-point transport problems are marked slow.
"""

from __future__ import annotations

import re

import pytest
import torch
from grading_fixtures import corpus as C
from torch import nn

from cmlesson import checks, parameterization, schedules
from cmlesson.grading import exercises, grade
from cmlesson.grading.exercises import ladder

grade_code = C.grade


FAST = [e for e in C.ALL if e not in ("ladder", "ct_training", "two_step")]  # these measure W1: their own tests


@pytest.mark.parametrize("ex_id", FAST)
def test_right_answers_score_full_marks(ex_id):
    result = grade_code(ex_id, C.CORRECT[ex_id])
    assert (result.status, result.score, result.max_score) == ("ok", checks.EXERCISES[ex_id].points,
                                                               checks.EXERCISES[ex_id].points), result.message
    assert result.reason == "correct"


MISTAKES = [  # (exercise, mistake, words the diagnosis must contain, score)
    ("coefficients", "lesson", r"boundary condition fails: c_skip\(sigma_min\) = 0\.5 .*wrong limit at large sigma.*"
     r"c_out = 0\.002.*c_skip is the lesson's", 0),
    ("coefficients", "edm", r"c_skip\(sigma_min\) = 0\.999984 and c_out\(sigma_min\) = 0\.002.*"
     r"EDM's c_skip without the shift", 0),
    ("coefficients", "hardcoded", r"wrong units.*c_skip changes.*right for sigma_data = 0\.5.*not for sigma_data = 1\.3"
     r".*do not hard-code", 0),
    ("coefficients", "no_sigma_data", r"^wrong limit at large sigma.*c_out = 1;.*wrong units.*c_out does not double", 0),
    ("coefficients", "other_form", r"^c_skip satisfies the boundary, the limit and the units, but is not Song et al.'s", 0),
    ("coefficients", "sqrt_shift", r"^c_out is shifted inside the square root too", 0),
    ("multistep", "sigma_noise", r"re-noised with sigma instead of sqrt\(sigma\^2 - sigma_min\^2\)", 0),
    ("multistep", "noise_first", r"added noise before the first call", 0),
    ("heun_step", "euler", r"an Euler step: no correction.*error vs the exact ODE solution", 0),
    ("heun_step", "no_half", r"the sum of the two slopes not halved", 0),
    ("curriculum", "lesson", r"linear like the lesson's", 0),
    ("curriculum", "off_by_one", r"off by one at the ends: N\(0\) = 3, expected s0 = 2; N\(K\) = 152, expected s1 \+ 1 = 151", 0),
    ("curriculum", "decreasing", r"decreases from 151 to 2 \(high to low\)", 0),
    ("curriculum", "hardcoded", r"right for s0 = 2, s1 = 150, wrong for s0 = 10", 0),
    ("ema", "swapped", r"decay applied the wrong way round", 0),
    ("ema", "no_buffers", r"buffers not copied", 0),
    ("ema", "not_in_place", r"parameters did not change: update them in place", 0),
    ("ct_loss", "reversed", r"pair reversed: the online model is on the lower level", 0),
    ("ct_loss", "grad_to_target", r"gradient reaches the target network", 0),
    ("ct_loss", "two_noises", r"different noise at the two levels", 0),
    ("ct_loss", "mse", r"averaged over the coordinates too", 1),
    ("ct_loss", "vs_x0", r"not 0, when the online and target networks coincide", 0),
    ("w1", "per_axis", r"W1 computed per axis, not in 2-D.*yours = 0, exact W1 = 0\.79", 0),
    ("w1", "sqeuclidean", r"squared Euclidean costs", 0),
    ("w1", "paired", r"a\[i\] paired with b\[i\]", 0),
]


@pytest.mark.parametrize(("ex_id", "mistake", "pattern", "score"), MISTAKES, ids=[f"{m[0]}-{m[1]}" for m in MISTAKES])
def test_known_mistakes_are_named(ex_id, mistake, pattern, score):
    result = grade_code(ex_id, C.WRONG[ex_id][mistake])
    assert result.status == "wrong"
    assert result.score == score
    assert re.search(pattern, result.message, re.S), result.message


@pytest.mark.parametrize("ex_id", ["coefficients", "multistep"])
def test_a_stub_is_not_attempted(ex_id):
    result = grade_code(ex_id, C.STUBS[ex_id])
    assert (result.status, result.score) == ("not attempted", 0)
    assert "not attempted" in result.reason


def test_a_raising_function_is_reported_not_raised():
    result = grade_code("multistep", C.WRONG["multistep"]["raises"])
    assert (result.status, result.score) == ("wrong", 0)
    assert "multistep_student raised ValueError: sigmas must be a tensor" in result.message


def test_sys_exit_inside_a_function_is_reported():
    result = checks.check_w1(lambda a, b: exit(3))
    assert result.status == "wrong" and "raised SystemExit" in result.message


def test_a_missing_name_is_not_attempted():
    outputs = exercises.evaluate_in_kernel("coefficients", C.functions(C.CORRECT["multistep"]), {}, 60)
    result = exercises.judge("coefficients", outputs)
    assert result.status == "not attempted"
    assert result.reason.startswith("c_skip_student, c_out_student is not defined")


def test_cmlesson_own_function_is_not_an_answer():
    result = checks.check_coefficients(parameterization.c_skip, parameterization.c_out)
    assert result.status == "wrong" and "cmlesson's own cmlesson.parameterization.c_skip" in result.message


def test_wrong_return_types_are_explained():
    assert "returned str" in checks.check_curriculum(lambda k, K, s0, s1: "two").message
    assert "returned float, expected a scalar tensor" in checks.check_ct_loss(lambda *a: 1.0).message
    assert "returned list" in checks.check_ladder(lambda *a: [1.0], nn.Identity(), torch.zeros(3, 2)).message


def test_check_prints_a_report(capsys):
    result = checks.check_curriculum(C.functions(C.CORRECT["curriculum"])["ct_curriculum_student"])
    out = capsys.readouterr().out
    assert result == checks.Result(1, 1, "ok", result.message, "correct")
    assert out.startswith("[PASS] Exercise 3.1: the CT curriculum N(k): 1/1")


def test_not_done_returns_its_argument():
    x = torch.ones(3)
    assert checks.not_done(x) is x


STUB_LAYOUTS = {  # (source, is it a stub?): stubs are told apart from answers by whether not_done runs
    "decorated stub": ("@torch.no_grad()\ndef ct_curriculum_student(k, K, s0, s1):\n    return not_done(s0)\n", True),
    "stub behind a helper": ("def _todo(v):\n    return not_done(v)\n\n"
                             "def ct_curriculum_student(k, K, s0, s1):\n    return _todo(s0)\n", True),
    "solution, then the dead stub line": (C.CORRECT["curriculum"].rstrip() + "\n    return not_done(s0)\n", False),
    "decorated solution": ("@torch.no_grad()\n" + C.CORRECT["curriculum"], False),
}


@pytest.mark.parametrize("layout", STUB_LAYOUTS)
def test_stub_detection_happens_at_run_time(layout):
    source, is_stub = STUB_LAYOUTS[layout]
    result = checks.check_curriculum(C.functions(source)["ct_curriculum_student"])
    assert (result.status, result.score) == (("not attempted", 0) if is_stub else ("ok", 1)), result.message


def test_use_picks_the_students_function_only_once_it_passed(capsys):
    mine = C.functions(C.CORRECT["curriculum"])["ct_curriculum_student"]
    assert checks.check_curriculum(mine).use(mine, max) is mine
    assert "uses your ct_curriculum_student" in capsys.readouterr().out.splitlines()[-1]
    stub = C.functions("def ct_curriculum_student(k, K, s0, s1):\n    return not_done(s0)\n")["ct_curriculum_student"]
    assert checks.check_curriculum(stub).use(stub, schedules.ct_curriculum) is schedules.ct_curriculum
    last = capsys.readouterr().out.splitlines()[-1]
    assert last == ("-> your ct_curriculum_student not attempted yet: the package's cmlesson.schedules.ct_curriculum "
                    "stands in below")


def test_evaluation_leaves_the_global_rng_alone():
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    exercises.module("ema").evaluate(C.functions(C.CORRECT["ema"])["ema_update_student"])
    assert torch.equal(torch.rand(3), expected)


def test_a_slow_function_is_stopped_by_the_time_limit():
    namespace = {"ct_curriculum_student": lambda k, K, s0, s1: __import__("time").sleep(30)}
    outputs = exercises.evaluate_in_kernel("curriculum", namespace, {}, 0.3)
    assert "raised TimeoutError" in outputs["error"]


def test_exercise_table():
    """One module per exercise, each with its parts; the registry is what the modules declare."""
    assert checks.EXERCISES["coefficients"].names == ("c_skip_student", "c_out_student")
    assert {e.notebook for e in checks.EXERCISES.values()} == {"01", "02", "03", "04", "05", "06", "07", "08", "09", "10", "11"}
    names = [n for e in checks.EXERCISES.values() for n in e.names]
    assert len(names) == len(set(names)), "two exercises read the same name"
    for ex_id, ex in checks.EXERCISES.items():
        mod = exercises.module(ex_id)
        assert ex.id == ex_id and ex.points >= 1
        assert all(callable(getattr(mod, part)) for part in ("evaluate", "judge", "check"))
        assert getattr(checks, f"check_{ex_id}") is mod.check
    order = [(e.notebook, e.rank) for e in checks.EXERCISES.values()]
    assert order == sorted(order)
    with pytest.raises(AttributeError, match="check_nothing"):
        checks.check_nothing  # noqa: B018


def test_kernel_code_is_self_contained(tmp_path):
    """The injected modules import no cmlesson; the grader's cell, run from their text alone in a namespace
    standing in for the notebook's globals, gives the same outputs as the in-process evaluation."""
    for name, source in exercises.kernel_sources().items():
        imports = re.findall(r"^\s*(?:from|import)\s+(\S+)", source, re.M)
        assert all(m in ("__future__", "importlib", "json", "math", "os", "signal", "sys", "threading", "time", "types",
                         "dataclasses", "functools", "numpy", "torch", "._kernel", "._fixtures", "._judging")
                   for m in imports), (name, imports)
    assert "def run_grader" in exercises.kernel_sources()["_kernel"]
    ids = ["coefficients", "ct_loss", "curriculum"]
    student = C.functions(C.CORRECT["coefficients"], C.CORRECT["ct_loss"],
                          "@torch.no_grad()\ndef ct_curriculum_student(k, K, s0, s1):\n    return not_done(s0)\n")
    results = tmp_path / "results.json"
    exec(compile(grade.grader_cell(results, None, ids), "<grader cell>", "exec"), student)
    report = __import__("json").loads(results.read_text())
    for ex_id in ids:
        assert report["exercises"][ex_id] == exercises.evaluate_in_kernel(ex_id, student, {}, 60), ex_id
    assert report["exercises"]["curriculum"] == {"stub": True}  # the notebook's not_done, seen from the grader's copy


def test_kernel_model_reproduces_the_consistency_function(ladder_assets):
    clone, reference = ladder.kernel_args(ladder_assets.kernel_arrays())
    x = 3 * torch.randn(500, 2)
    for sigma in (80.0, torch.tensor(0.5), 0.002 + 5 * torch.rand(500)):
        assert torch.equal(clone(x, sigma), ladder_assets.model(x, sigma))
    assert torch.equal(reference, ladder_assets.reference)


def test_ladder_keys_must_be_ints(ladder_assets):
    result = grade_code("ladder", C.WRONG["ladder"]["string_keys"], ladder_assets)
    assert result.status == "wrong" and "keys must be the step counts as ints" in result.message


@pytest.mark.slow
def test_ladder_right_and_per_axis(ladder_assets):
    right = grade_code("ladder", C.CORRECT["ladder"], ladder_assets)
    assert (right.status, right.score) == ("ok", 2), right.message
    wrong = grade_code("ladder", C.WRONG["ladder"]["per_axis"], ladder_assets)
    assert (wrong.status, wrong.score) == ("wrong", 0)
    assert wrong.reason.startswith("you measured W1 per axis")


# Exercise 5.1b (ct_training): tests/test_ex_ct_training.py


# --- diagnoses added with notebooks 03-05's rewritten exercises ---------------------------------------------------

_CURRICULUM = "def ct_curriculum_student(k, K, s0, s1):\n    u = math.sqrt(k / K * ((s1 + 1) ** 2 - s0**2) + s0**2)\n"
_CT_LOSS = C.CORRECT["ct_loss"]
_W1 = "def w1_student(a, b):\n    M = ot.dist(a, b, metric='euclidean')\n"
NEW_MISTAKES = [  # (exercise, source, words the diagnosis must contain, score)
    ("curriculum", _CURRICULUM + "    return math.floor(u)\n", r"^rounded down where N must be rounded up.*"
     r"N\(k = 1, K = 1000, s0 = 2, s1 = 150\) = 5, expected 6", 0),
    ("curriculum", _CURRICULUM + "    return round(u)\n", r"^rounded to the nearest integer where N must be rounded up", 0),
    ("curriculum", "def ct_curriculum_student(k, K, s0, s1):\n    return math.ceil(s0 + k / K * (s1 + 1 - s0))\n",
     r"^N\(k\) itself grows linearly from s0 to s1 \+ 1: .*N\(k\)\^2 that moves linearly", 0),
    ("curriculum", "def ct_curriculum_student(k, K, s0, s1):\n    return math.ceil(s0 + math.sqrt(k / K) * (s1 + 1 - s0))\n",
     r"^N\(k\) - s0 grows like sqrt\(k/K\)", 0),
    ("ema", "def ema_update_student(ema_model, model, decay):\n    import copy\n    new = copy.deepcopy(ema_model)\n"
     "    with torch.no_grad():\n        for p_new, p in zip(new.parameters(), model.parameters()):\n"
     "            p_new.mul_(decay).add_(p, alpha=1 - decay)\n    return new\n",
     r"parameters did not change: update them in place.*returns a value, but the training loop ignores it", 0),
    ("ema", C.CORRECT["ema"].replace("p_ema.mul_(decay).add_(p, alpha=1 - decay)",
                                     "p_ema.mul_(decay).add_(p, alpha=1 - decay)\n        p.copy_(p_ema)"),
     r"you changed model \(the online network\)", 0),
    ("ema", C.CORRECT["ema"].replace("b_ema.copy_(b)", "b_ema.copy_((b_ema + b) // 2 if not b.is_floating_point() "
                                     "else decay * b_ema + (1 - decay) * b)"), r"^buffers averaged or altered", 0),
    ("ct_loss", _CT_LOSS.replace("lo[:, None] * z", "lo * z"), r"raised RuntimeError: The size of tensor a \(64\).*"
     r"make the levels a column, shape \(n, 1\)", 0),
    ("ct_loss", _CT_LOSS.replace("(x0.shape[0],)", "(1,)").replace("hi, lo = sigmas[i], sigmas[i + 1]",
                                                                   "hi, lo = sigmas[i].expand(64), sigmas[i + 1].expand(64)"),
     r"one pair of levels for the whole batch.*draw one level index per point", 0),
    ("ct_loss", _CT_LOSS.replace(".pow(2).sum(1).mean()", ".pow(2).sum()"), r"summed over the batch instead of averaging", 1),
    ("w1", _W1 + "    return float(M.mean())\n", r"^the mean of all pairwise distances: .*independent coupling", 0),
    ("w1", _W1 + "    return float(ot.emd2(np.ones(len(a)), np.ones(len(b)), M))\n", r"^weights of 1 per point", 0),
    ("w1", _W1 + "    return float(ot.emd(ot.unif(len(a)), ot.unif(len(b)), M).sum())\n",
     r"^you returned the total mass of the transport plan", 0),
    ("w1", "def w1_student(a, b):\n    return float(np.sqrt(ot.emd2(ot.unif(len(a)), ot.unif(len(b)), ot.dist(a, b))))\n",
     r"^the square root of the squared-cost optimum: that is W2", 0),
]


@pytest.mark.parametrize(("ex_id", "source", "pattern", "score"), NEW_MISTAKES,
                         ids=[f"{m[0]}-{i}" for i, m in enumerate(NEW_MISTAKES)])
def test_new_mistakes_are_named(ex_id, source, pattern, score):
    result = grade_code(ex_id, source)
    assert (result.status, result.score) == ("wrong", score), result.message
    assert re.search(pattern, result.message, re.S), result.message


LADDER_MISTAKES = {  # mistake: (source, words the diagnosis must contain, score)
    "ignores metric": (C.CORRECT["ladder"].replace("ladder[k] = metric(", "ladder[k] = metrics.wasserstein_2d("),
                       r"^your function ignores its argument `metric`.*matches: 1: ", 1),
    "no metric argument": (C.CORRECT["ladder"].replace(", metric=metrics.wasserstein_2d)", ")").replace(
        "ladder[k] = metric(", "ladder[k] = metrics.wasserstein_2d("),
        r"^called with a metric as fifth argument, your function failed: .*TypeError", 1),
    "renoising off the generator": (C.CORRECT["ladder"].replace("sigmas, generator=g)", "sigmas)"),
                                    r"^the 1-step rung matches, the others do not: the re-noising draws", None),
}


@pytest.mark.slow
@pytest.mark.parametrize("mistake", LADDER_MISTAKES)
def test_ladder_mistakes_are_named(ladder_assets, mistake):
    source, pattern, score = LADDER_MISTAKES[mistake]
    result = grade_code("ladder", source, ladder_assets)
    assert result.status == "wrong", result.message
    assert score is None or result.score == score, result.message
    assert re.search(pattern, result.message, re.S), result.message


def test_ladder_spy_metric_is_judged_without_w1():
    """The fifth-argument call is judged from what the spy saw: no transport problem is solved for it."""
    from cmlesson.grading.exercises.ladder import _metric_problem
    assert _metric_problem({"values": [1001.0, 1002.0], "shapes": [[[5, 2], [5, 2]]] * 2}, 5) is None
    assert "ignores its argument" in _metric_problem({"values": [0.1, 0.2], "shapes": []}, 5)
    assert "does not return, for each rung" in _metric_problem({"values": [1002.0, 1001.0], "shapes": [[[5, 2], [5, 2]]] * 2}, 5)
