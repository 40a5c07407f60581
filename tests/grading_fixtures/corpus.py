"""Student code for every exercise, as the source a notebook cell would hold, and synthetic notebooks built from it.

``CORRECT[id]`` is a right answer, ``WRONG[id][mistake]`` one with a known mistake, ``STUBS[id]`` the
unattempted stub (it calls ``not_done``). :func:`functions` executes such code and returns what it defines.
"""

from __future__ import annotations

import importlib
from pathlib import Path

import nbformat

from cmlesson.grading.exercises import EXERCISES

IMPORTS = """\
import math
import numpy as np
import ot
import torch
from cmlesson import data, metrics, samplers
from cmlesson.checks import not_done
"""

CORRECT = {
    "coefficients": """\
def c_skip_student(sigma, sigma_data, sigma_min):
    return 1 / (1 + ((sigma - sigma_min) / sigma_data) ** 2)

def c_out_student(sigma, sigma_data, sigma_min):
    return sigma_data * (sigma - sigma_min) / (sigma**2 + sigma_data**2).sqrt()
""",
    "multistep": """\
def multistep_student(model, x, sigmas, generator):
    x = model(x, sigmas[0])
    for tau in sigmas[1:]:
        z = torch.randn(x.shape, generator=generator)
        x = model(x + (tau**2 - model.sigma_min**2) ** 0.5 * z, tau)
    return x
""",
    "curriculum": """\
def ct_curriculum_student(k, K, s0, s1):
    return math.ceil(math.sqrt(k / K * ((s1 + 1) ** 2 - s0**2) + s0**2) - 1) + 1
""",
    "ema": """\
@torch.no_grad()
def ema_update_student(ema_model, model, decay):
    for p_ema, p in zip(ema_model.parameters(), model.parameters()):
        p_ema.mul_(decay).add_(p, alpha=1 - decay)
    for b_ema, b in zip(ema_model.buffers(), model.buffers()):
        b_ema.copy_(b)
""",
    "ct_loss": """\
def ct_loss_student(model, target_model, x0, sigmas, generator):
    i = torch.randint(0, len(sigmas) - 1, (x0.shape[0],), generator=generator)
    z = torch.randn(x0.shape, generator=generator)
    hi, lo = sigmas[i], sigmas[i + 1]
    with torch.no_grad():
        target = target_model(x0 + lo[:, None] * z, lo)
    return (model(x0 + hi[:, None] * z, hi) - target).pow(2).sum(1).mean()
""",
    "ct_training": """\
from cmlesson import checkpoints
ex1_model = checkpoints.load("ct")  # stands in for the model the student trained (notebook 3's run)
""",
    "w1": """\
def w1_student(a, b):
    return float(ot.emd2(ot.unif(len(a)), ot.unif(len(b)), ot.dist(a, b, metric="euclidean")))
""",
    "ladder": """\
def quality_ladder_student(model, steps_list, reference, seed, metric=metrics.wasserstein_2d):
    ladder = {}
    for k in steps_list:
        g = torch.Generator().manual_seed(seed)
        x = model.sigma_max * torch.randn(len(reference), 2, generator=g)
        sigmas = samplers.multistep_sigmas(k, model.sigma_min, model.sigma_max, model.sigma_data)
        ladder[k] = metric(samplers.sample_consistency(model, x, sigmas, generator=g), reference)
    return ladder
""",
}

STUBS = {
    "coefficients": """\
def c_skip_student(sigma, sigma_data, sigma_min):
    # YOUR CODE HERE
    return not_done(torch.ones_like(sigma))

def c_out_student(sigma, sigma_data, sigma_min):
    # YOUR CODE HERE
    return not_done(torch.zeros_like(sigma))
""",
    "multistep": """\
def multistep_student(model, x, sigmas, generator):
    # YOUR CODE HERE
    return not_done(x)
""",
}

WRONG = {
    "coefficients": {
        "lesson": """\
def c_skip_student(sigma, sigma_data, sigma_min):
    return sigma_min**2 / (sigma**2 + sigma_min**2)

def c_out_student(sigma, sigma_data, sigma_min):
    return sigma * sigma_min / (sigma**2 + sigma_min**2).sqrt()
""",
        "edm": """\
def c_skip_student(sigma, sigma_data, sigma_min):
    return sigma_data**2 / (sigma**2 + sigma_data**2)

def c_out_student(sigma, sigma_data, sigma_min):
    return sigma * sigma_data / (sigma**2 + sigma_data**2).sqrt()
""",
        "hardcoded": """\
def c_skip_student(sigma, sigma_data, sigma_min):
    return 0.25 / ((sigma - 0.002) ** 2 + 0.25)

def c_out_student(sigma, sigma_data, sigma_min):
    return sigma_data * (sigma - sigma_min) / (sigma**2 + sigma_data**2).sqrt()
""",
        "no_sigma_data": CORRECT["coefficients"].replace("return sigma_data * (sigma - sigma_min)", "return (sigma - sigma_min)"),
        "other_form": """\
def c_skip_student(sigma, sigma_data, sigma_min):
    return sigma_min / sigma

def c_out_student(sigma, sigma_data, sigma_min):
    return sigma_data * (sigma - sigma_min) / sigma
""",
        "paper_form": CORRECT["coefficients"].replace(  # 1 only to rounding at sigma_min (number / tensor)
            "1 / (1 + ((sigma - sigma_min) / sigma_data) ** 2)", "sigma_data**2 / ((sigma - sigma_min) ** 2 + sigma_data**2)"),
        "sqrt_shift": CORRECT["coefficients"].replace("(sigma**2 + sigma_data**2).sqrt()",
                                                      "((sigma - sigma_min) ** 2 + sigma_data**2).sqrt()"),
    },
    "multistep": {
        "sigma_noise": CORRECT["multistep"].replace("(tau**2 - model.sigma_min**2) ** 0.5", "tau"),
        "noise_first": CORRECT["multistep"].replace(
            "    x = model(x, sigmas[0])\n",
            "    x = model(x + sigmas[0] * torch.randn(x.shape, generator=generator), sigmas[0])\n"),
        "raises": """\
def multistep_student(model, x, sigmas, generator):
    raise ValueError("sigmas must be a tensor")
""",
    },
    "curriculum": {
        "lesson": """\
def ct_curriculum_student(k, K, s0, s1):
    return int(2 + (150 - 2) * (k / K))
""",
        "off_by_one": """\
def ct_curriculum_student(k, K, s0, s1):
    return math.ceil(math.sqrt(k / K * ((s1 + 1) ** 2 - s0**2) + s0**2)) + 1
""",
        "decreasing": """\
def ct_curriculum_student(k, K, s0, s1):
    k = K - k
    return math.ceil(math.sqrt(k / K * ((s1 + 1) ** 2 - s0**2) + s0**2) - 1) + 1
""",
        "hardcoded": """\
def ct_curriculum_student(k, K, s0, s1):
    return math.ceil(math.sqrt(k / K * (151**2 - 4) + 4) - 1) + 1
""",
    },
    "ema": {
        "swapped": CORRECT["ema"].replace("p_ema.mul_(decay).add_(p, alpha=1 - decay)",
                                          "p_ema.mul_(1 - decay).add_(p, alpha=decay)"),
        "no_buffers": CORRECT["ema"].replace("        b_ema.copy_(b)\n", "        pass\n"),
        "not_in_place": """\
def ema_update_student(ema_model, model, decay):
    import copy
    ema_model = copy.deepcopy(model)
""",
    },
    "ct_loss": {
        "reversed": """\
def ct_loss_student(model, target_model, x0, sigmas, generator):
    i = torch.randint(0, len(sigmas) - 1, (x0.shape[0],), generator=generator)
    z = torch.randn(x0.shape, generator=generator)
    hi, lo = sigmas[i], sigmas[i + 1]
    with torch.no_grad():
        target = target_model(x0 + hi[:, None] * z, hi)
    return (model(x0 + lo[:, None] * z, lo) - target).pow(2).sum(1).mean()
""",
        "grad_to_target": CORRECT["ct_loss"].replace("    with torch.no_grad():\n        target", "    if True:\n        target"),
        "two_noises": CORRECT["ct_loss"].replace(
            "target_model(x0 + lo[:, None] * z, lo)",
            "target_model(x0 + lo[:, None] * torch.randn(x0.shape, generator=generator), lo)"),
        "mse": CORRECT["ct_loss"].replace(".pow(2).sum(1).mean()", ".pow(2).mean()"),
        "vs_x0": """\
def ct_loss_student(model, target_model, x0, sigmas, generator):
    i = torch.randint(0, len(sigmas) - 1, (x0.shape[0],), generator=generator)
    z = torch.randn(x0.shape, generator=generator)
    hi = sigmas[i]
    return (model(x0 + hi[:, None] * z, hi) - x0).pow(2).sum(1).mean()
""",
    },
    "w1": {
        "per_axis": """\
def w1_student(a, b):
    return float(np.mean([metrics.per_dimension_wasserstein(a[:, [d]], b[:, [d]]) for d in range(2)]))
""",
        "sqeuclidean": """\
def w1_student(a, b):
    return float(ot.emd2(ot.unif(len(a)), ot.unif(len(b)), ot.dist(a, b)))
""",
        "paired": """\
def w1_student(a, b):
    return float(np.linalg.norm(a - b, axis=1).mean())
""",
    },
    "ladder": {
        "per_axis": CORRECT["ladder"].replace("ladder[k] = metric(", "ladder[k] = metrics.per_dimension_wasserstein("),
        "string_keys": CORRECT["ladder"].replace("ladder[k] =", "ladder[str(k)] ="),
    },
}

# Exercises added later keep their code in a file of their own, grading_fixtures/corpus_<id>.py, with the same
# three dicts (the notebook order of ALL follows cmlesson.grading.exercises.EXERCISES).
for _path in sorted(Path(__file__).parent.glob("corpus_*.py")):
    _more = importlib.import_module(f"grading_fixtures.{_path.stem}")
    CORRECT.update(_more.CORRECT)
    WRONG.update(_more.WRONG)
    STUBS.update(_more.STUBS)

ALL = [e for e in EXERCISES if e in CORRECT]
NOTEBOOK_01 = ["coefficients", "multistep"]


def functions(*sources: str) -> dict:
    """Execute student code (after the notebook's imports) and return its namespace."""
    namespace: dict = {}
    exec(IMPORTS, namespace)
    for source in sources:
        exec(source, namespace)
    return namespace


def grade(ex_id: str, source: str, assets=None):
    """Evaluate student code the way the grader's kernel does (``evaluate_in_kernel``), then judge it here."""
    from cmlesson.grading import exercises

    arrays = exercises.kernel_arrays({ex_id: assets}) if assets is not None else {}
    return exercises.judge(ex_id, exercises.evaluate_in_kernel(ex_id, functions(source), arrays, 60.0), assets)


def notebook(*cells: str, imports: bool = True) -> nbformat.NotebookNode:
    """A notebook with one markdown cell, then one code cell per source (after the imports cell, unless told)."""
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb.cells = [nbformat.v4.new_markdown_cell("# A submission")]
    nb.cells += [nbformat.v4.new_code_cell(source) for source in ((IMPORTS,) if imports else ()) + cells]
    return nb


def write(path: Path, *cells: str, imports: bool = True) -> Path:
    nbformat.write(notebook(*cells, imports=imports), path)
    return path
