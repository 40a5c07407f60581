"""Delegation caught at run time (issue 28, part 1): a call into the package's own answer, under any name and at any
depth, scores 0 with a reason that names the package function; allowed helpers stay allowed; interfering with the
watch is reported as tampering. In the notebook's checks (``checks.check_<id>``), nbgrader's ``checks.score`` and the
grader's kernel alike."""

from __future__ import annotations

import sys
import threading

import pytest
from grading_fixtures import corpus as C

from cmlesson import checks
from cmlesson.grading import exercises, grade
from cmlesson.grading.exercises import _kernel

C_OUT = C.CORRECT["coefficients"].split("\n\n")[1]  # the student's own c_out, beside a delegating c_skip
C_SKIP = C.CORRECT["coefficients"].split("\n\n")[0]
OWN_C_SKIP = "    return 1 / (1 + ((s - sm) / sd) ** 2)\n"


def _delegation(result, label: str) -> None:
    assert (result.score, result.status) == (0, "wrong"), result.message
    assert result.reason.startswith(f"your code runs cmlesson.{label} (call chain: "), result.reason
    assert "the package's own answer to this exercise" in result.reason


# --- every kind of wrapper ---------------------------------------------------------------------------------------

WRAPPERS = {
    "def": ("import cmlesson.parameterization as Q\ndef c_skip_student(s, sd, sm):\n    return Q.c_skip(s, sd, sm)\n" + C_OUT,
            "parameterization.c_skip", "c_skip_student -> c_skip"),
    "lambda": ("from cmlesson import parameterization as Q\nc_skip_student = lambda s, sd, sm: Q.c_skip(s, sd, sm)\n" + C_OUT,
               "parameterization.c_skip", "<lambda> -> c_skip"),
    "partial": (C_SKIP + "\nimport functools\nfrom cmlesson.parameterization import c_out as mine\n"
                "c_out_student = functools.partial(mine)\n", "parameterization.c_out", "c_out"),
    "class": ("import cmlesson.parameterization as Q\nclass Mine:\n    def __call__(self, *args):\n"
              "        return Q.c_skip(*args)\n"
              "c_skip_student = Mine()\n" + C_OUT, "parameterization.c_skip", "Mine.__call__ -> c_skip"),
    "module alias": ("import cmlesson\nimport cmlesson.parameterization\nP2 = cmlesson.parameterization\n"
                     "def c_skip_student(s, sd, sm):\n    return P2.c_skip(s, sd, sm)\n" + C_OUT, "parameterization.c_skip",
                     "c_skip_student -> c_skip"),
    "name alias": ("from cmlesson.parameterization import c_skip as my_formula\n"
                   "def c_skip_student(s, sd, sm):\n    return my_formula(s, sd, sm)\n" + C_OUT, "parameterization.c_skip",
                   "c_skip_student -> c_skip"),
    "looked up by text": ("import importlib\ndef c_skip_student(s, sd, sm):\n"
                          "    module = importlib.import_module('cmlesson.' + 'parameterization')\n"
                          "    return getattr(module, 'c_' + 'skip')(s, sd, sm)\n"
                          + C_OUT, "parameterization.c_skip", "c_skip_student -> c_skip"),
    "deep helpers": ("import cmlesson.parameterization as Q\ndef helper_b(*a):\n    return Q.c_skip(*a)\n"
                     "def helper_a(*a):\n    return helper_b(*a)\n"
                     "def c_skip_student(s, sd, sm):\n    return helper_a(s, sd, sm)\n"
                     + C_OUT, "parameterization.c_skip", "c_skip_student -> helper_a -> helper_b -> c_skip"),
    "inside another package function": (
        "import torch, cmlesson.parameterization as Q\n"
        "class Zero(torch.nn.Module):\n    def forward(self, x, c):\n        return torch.zeros_like(x)\n"
        "def c_skip_student(s, sd, sm):\n    x = torch.ones(len(s), 1, dtype=s.dtype)\n"
        "    return Q.consistency_function(Zero(), x, s, sd, sm)[:, 0]\n" + C_OUT,
        "parameterization.c_skip", "c_skip_student -> consistency_function -> c_skip"),
    "in a thread": ("import threading, cmlesson.parameterization as Q\ndef c_skip_student(s, sd, sm):\n    out = []\n"
                    "    t = threading.Thread(target=lambda: out.append(Q.c_skip(s, sd, sm)))\n    t.start()\n    t.join()\n"
                    "    return out[0]\n" + C_OUT, "parameterization.c_skip", "c_skip_student.<locals>.<lambda> -> c_skip"),
    "its code under another file and name": (
        "import types, cmlesson.parameterization as Q\n"
        "c_skip_student = types.FunctionType(Q.c_skip.__code__.replace(co_filename='mine.py', co_name='mine', "
        "co_qualname='mine'), {'__name__': 'mine'})\n" + C_OUT, "parameterization.c_skip", "mine"),
    "its source executed afresh": (
        "import inspect, cmlesson.parameterization as Q\nns = {'__name__': 'mine'}\n"
        "exec(compile(inspect.getsource(Q.c_skip), 'mine.py', 'exec'), ns)\nc_skip_student = ns['c_skip']\n" + C_OUT,
        "parameterization.c_skip", "c_skip"),
}


@pytest.mark.parametrize("kind", WRAPPERS)
def test_every_kind_of_wrapper_scores_0_with_the_package_function_named(kind):
    source, label, chain = WRAPPERS[kind]
    result = C.grade("coefficients", source)
    _delegation(result, label)
    assert f"(call chain: {chain})" in result.reason


DELEGATING = {  # one wrapper of the package's answer per exercise, each of another kind
    "multistep": ("def multistep_student(model, x, sigmas, generator):\n"
                  "    return samplers.sample_consistency(model, x, sigmas, generator=generator)\n",
                  "samplers.sample_consistency"),
    "consistency_function": ("import cmlesson.parameterization as Q\n"
                             "def consistency_function_student(backbone, x, sigma, sd, sm):\n"
                             "    return Q.ConsistencyFunction(backbone, sd, sm, 80.0)(x, sigma)\n",
                             "parameterization.Preconditioner.forward"),
    "heun_step": ("heun_step_student = lambda d, x, s, sn: samplers.heun_step(d, x, s, sn)\n", "samplers.heun_step"),
    "cd_loss": ("import functools\nfrom cmlesson import losses\n"
                "cd_loss_student = functools.partial(losses.consistency_distillation_loss)\n",
                "losses.consistency_distillation_loss"),
    "cd_step": ("from cmlesson import training as T\nclass Step:\n    def __call__(self, *args):\n"
                "        return T.distillation_step(*args)\ncd_step_student = Step()\n", "training.distillation_step"),
    "curriculum": ("import cmlesson.schedules as S\ndef ct_curriculum_student(k, K, s0, s1):\n"
                   "    return S.ct_curriculum(k, K, s0, s1)\n",
                   "schedules.ct_curriculum"),
    "ema": ("from cmlesson import ema\ndef ema_update_student(ema_model, model, decay):\n    ema.TargetEMA(ema_model)"
            ".update(model, decay)\n", "ema.ema_update_"),
    "ct_loss": ("from cmlesson import losses\ndef ct_loss_student(model, target_model, x0, sigmas, generator):\n"
                "    return losses.consistency_training_loss(model, target_model, x0, sigmas, generator=generator)\n",
                "losses.consistency_training_loss"),
    "w1": ("w1_student = lambda a, b: metrics.wasserstein_2d(a, b)\n", "metrics.wasserstein_2d"),
    "ladder": ("from cmlesson.authoring import bench\n"
               "def quality_ladder_student(model, steps_list, reference, seed, metric=metrics.wasserstein_2d):\n"
               "    return bench.quality_ladder(model, steps_list, reference, seed, metric)\n", "authoring.bench.quality_ladder"),
    "meanflow_target": ("from cmlesson.frontier import meanflow as MF\ndef meanflow_target_student(u, z, r, t, v):\n"
                        "    return MF.meanflow_target(u, z, r, t, v)\n", "frontier.meanflow.meanflow_target"),
    "lagrangian_residual": ("from cmlesson.frontier import lsd as L\ndef lagrangian_residual_student(model, z, s, t):\n"
                            "    return L.lagrangian_residual(model, z, s, t)\n", "frontier.lsd.lagrangian_residual"),
    "frechet_distance": ("from cmlesson.frontier import classifier\ndef frechet_distance_student(a, b):\n"
                         "    return classifier.frechet_distance(a[::-1], b)\n", "frontier.classifier.frechet_distance"),
    "guided_denoiser": ("from cmlesson.frontier import guidance as G\n"
                        "guided_denoiser_student = lambda d, x, s, c, w: G.guided_denoise(d, x, s, c, w)\n",
                        "frontier.guidance.guided_denoise"),
    "drift_field": ("from cmlesson.frontier import drifting as D\ndef drift_student(y, x, temperature):\n"
                    "    return D.drift(y, x, temperature)\n", "frontier.drifting.drift"),
    "pseudo_huber": ("from cmlesson import losses\n"
                     "def pseudo_huber_student(a, b, distance=losses.pseudo_huber_distance):\n    return distance(a, b)\n",
                     "losses.pseudo_huber_distance"),
}


def test_every_exercise_with_a_function_declares_its_answers():
    assert {e for e, ex in exercises.EXERCISES.items() if ex.answers} == set(DELEGATING) | {"coefficients"}
    assert {e for e, ex in exercises.EXERCISES.items() if not ex.answers} == {"two_step", "ct_training"}  # values


@pytest.mark.parametrize("ex_id", DELEGATING)
def test_a_wrapper_of_the_answer_scores_0_in_every_exercise(ex_id, ladder_assets):
    source, label = DELEGATING[ex_id]
    assert label in exercises.EXERCISES[ex_id].answers
    assets = ladder_assets if ex_id == "ladder" else None
    _delegation(C.grade(ex_id, source, assets), label)


def test_every_declared_answer_is_a_package_function_the_watch_recognises():
    """A renamed or moved package function must fail here, not silently stop being watched."""
    for ex in exercises.EXERCISES.values():
        for label in ex.answers:
            fn = exercises.answer_function(label)
            assert _kernel.package_label(fn.__code__) == label, label
    assert {label for label, _ in exercises.answer_codes()} == {a for ex in exercises.EXERCISES.values() for a in ex.answers}
    with pytest.raises(ValueError, match="names no function"):
        exercises.answer_function("parameterization.no_such_function")


def test_the_answer_of_another_exercise_stays_allowed(ladder_assets):
    """Package helpers the exercise allows: the student's own earlier function, data, samplers, the default metric."""
    uses_package_coefficients = ("from cmlesson.parameterization import c_skip, c_out\n"
                                 + C.CORRECT["consistency_function"])
    assert "c_skip(" in C.CORRECT["consistency_function"]
    assert C.grade("consistency_function", uses_package_coefficients).passed
    ladder_result = C.grade("ladder", C.CORRECT["ladder"], ladder_assets)  # sample_consistency and wasserstein_2d
    assert ladder_result.passed, ladder_result.message
    own_heun = C.CORRECT["heun_step"] + "\n" + C.CORRECT["cd_loss"]  # a loss may call the student's own Heun step
    assert C.grade("cd_loss", own_heun).passed


def test_the_package_step_in_place_of_ode_step_is_named():
    source = C.CORRECT["cd_loss"].replace("ode_step(teacher,", "samplers.heun_step(teacher,")
    assert source != C.CORRECT["cd_loss"]
    _delegation(C.grade("cd_loss", source), "samplers.heun_step")


# --- the notebook's own checks and nbgrader ------------------------------------------------------------------------

def test_the_notebooks_checks_apply_the_same_rule(capsys):
    ns = C.functions(WRAPPERS["lambda"][0])
    result = checks.check_coefficients(ns["c_skip_student"], ns["c_out_student"])
    printed = capsys.readouterr().out
    assert result.score == 0 and "[FIX]" in printed and "cmlesson.parameterization.c_skip" in printed
    ns = C.functions(DELEGATING["w1"][0])
    assert checks.score("w1", ns) == 0
    assert "your code runs cmlesson.metrics.wasserstein_2d" in capsys.readouterr().out


# --- tampering -----------------------------------------------------------------------------------------------------

OWN = "def c_skip_student(s, sd, sm):\n{body}" + OWN_C_SKIP + C_OUT
TAMPERING = {
    "sys.setprofile(None)": ("import sys\n", "    sys.setprofile(None)\n", "your code called sys.setprofile"),
    "switched off and on again": ("import sys, cmlesson.parameterization as Q\n",
                                  "    h = sys.getprofile()\n    sys.setprofile(None)\n    Q.c_skip(s, sd, sm)\n"
                                  "    sys.setprofile(h)\n", "your code called sys.getprofile"),
    "sys.settrace": ("import sys\n", "    sys.settrace(None)\n", "your code called sys.settrace"),
    "threading.setprofile": ("import threading\n", "    threading.setprofile(None)\n", "your code called threading.setprofile"),
    "gc": ("import gc\n", "    gc.get_referrers(s)\n", "your code searched the interpreter's objects (gc.get_referrers)"),
    "ctypes": ("import ctypes\n", "    ctypes.pythonapi.Py_IsInitialized()\n", "your code used ctypes"),
    "a process": ("import subprocess\n", "    subprocess.run(['true'])\n",
                  "your code started another process (subprocess.Popen)"),
    "__code__": ("def spare():\n    pass\n", "    spare.__code__ = (lambda: None).__code__\n",
                 "your code replaced a function's code"),
}


@pytest.mark.parametrize("kind", TAMPERING)
def test_tampering_with_the_watch_is_reported(kind):
    head, body, words = TAMPERING[kind]
    result = C.grade("coefficients", head + OWN.format(body=body))
    assert (result.score, result.status) == (0, "wrong"), result.message
    assert result.reason.startswith(f"tampering with the grader: {words}"), result.reason
    assert sys.getprofile() is None and threading.getprofile() is None  # the watch put back what was there


def test_without_tampering_the_same_code_passes():
    assert C.grade("coefficients", OWN.format(body="")).passed


def test_a_notebook_that_replaced_sys_setprofile_is_reported(monkeypatch):
    monkeypatch.setattr(sys, "setprofile", lambda fn: None)
    result = C.grade("coefficients", C.CORRECT["coefficients"])
    assert result.reason.startswith("tampering with the grader: the notebook replaced sys.setprofile"), result.reason
    monkeypatch.setattr(sys, "setprofile", sys.settrace)  # a genuine builtin, but not the one
    assert "replaced sys.setprofile" in C.grade("coefficients", C.CORRECT["coefficients"]).reason


def test_a_hook_switched_off_unseen_is_reported():
    """Two layers: the audit hook sees sys.setprofile even where the profile hook is blind (here switched off behind
    its back), and the check after the call finds the hook gone."""
    with _kernel.Watch(("parameterization.c_skip",)) as watch:
        watch._on = False
        sys.setprofile(None)
        watch._on = True
    assert watch.tampered == ["your code changed the profiler (sys.setprofile) while the grader ran it",
                              "the grader's profile hook was no longer installed after your code ran (removed): your code "
                              "switched it off"]


def test_a_notebook_audit_hook_that_blocks_the_graders_is_reported(tmp_path):
    """A fresh copy of the kernel code (as in the grader's cell) whose audit hook a notebook's own hook vetoes."""
    veto = [True]

    def block(event, args):
        if veto[0] and event == "sys.addaudithook":
            raise RuntimeError("no more audit hooks")

    sys.addaudithook(block)  # audit hooks cannot be removed: the veto is switched off below
    try:
        student = C.functions(C.CORRECT["coefficients"])
        results = tmp_path / "results.json"
        exec(compile(grade.grader_cell(results, None, ["coefficients"]), "<grader cell>", "exec"), student)
    finally:
        veto[0] = False
    outputs = __import__("json").loads(results.read_text())["exercises"]["coefficients"]
    assert outputs == {"tampered": "the notebook blocked the grader's audit hook (an audit hook of its own refused it)"}


def test_the_grader_row_notes_tampering():
    sub = grade.Submission(grade.Path("t.ipynb"), exercises=["coefficients", "multistep", "two_step"])
    run = grade.Run(report={"exercises": {"coefficients": {"tampered": "your code used ctypes while the grader ran it"}}})
    row = grade.judge(sub, run, {})
    assert row.note.startswith("tampering with the grader in coefficients: your code used ctypes")
    assert row.results["coefficients"].reason.startswith("tampering with the grader")


# --- in the grader's kernel ----------------------------------------------------------------------------------------

@pytest.mark.slow
def test_the_grader_catches_wrappers_and_tampering_in_the_kernel(tmp_path):
    """--sandbox none (the bwrap kernel would import the package installed for the sandbox, not this checkout)."""
    subs = tmp_path / "subs"
    subs.mkdir()
    C.write(subs / "wrappers.ipynb", WRAPPERS["partial"][0], "import functools\nmultistep_student = functools.partial("
            "lambda model, x, sigmas, generator: samplers.sample_consistency(model, x, sigmas, generator=generator))",
            C.CORRECT["two_step"])
    C.write(subs / "tampers.ipynb", "import sys\nsys.setprofile = lambda fn: None", *[C.CORRECT[e] for e in C.NOTEBOOK_01],
            C.CORRECT["two_step"])
    C.write(subs / "honest.ipynb", *[C.CORRECT[e] for e in C.NOTEBOOK_01], C.CORRECT["two_step"])
    rows = {r.file: r for r in grade.grade(grade.find_submissions(subs), timeout=120, jobs=2, progress=False,
                                           sandbox_mode="none")}
    wrappers, tampers, honest = rows["wrappers.ipynb"], rows["tampers.ipynb"], rows["honest.ipynb"]
    assert wrappers.results["coefficients"].reason.startswith("your code runs cmlesson.parameterization.c_out")
    assert wrappers.results["multistep"].reason.startswith("your code runs cmlesson.samplers.sample_consistency "
                                                           "(call chain: <lambda> -> sample_consistency)")
    assert (wrappers.results["coefficients"].score, wrappers.results["multistep"].score) == (0, 0)
    for ex_id in ("coefficients", "multistep", "two_step"):
        assert tampers.results[ex_id].reason.startswith("tampering with the grader: the notebook replaced sys.setprofile")
    assert "tampering with the grader in coefficients" in tampers.note
    assert (honest.status, honest.results["coefficients"].score, honest.results["multistep"].score) == ("ok", 1, 1)
