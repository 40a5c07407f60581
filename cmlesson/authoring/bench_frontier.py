"""Notebook 08's methods as the benchmark measures them: sCT, the shortcut model and MeanFlow, trained from scratch
(and notebook 10's LSD flow map).

Each is trained with its course default (``cmlesson.config``) on the benchmark's training set and sampled with
its own sampler from fresh noise per sampling seed; :func:`per_seed` returns the per-seed W1 that
``python -m cmlesson bench`` averages, as for the other keys, and the training seconds.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from ..config import DriftingConfig, LSDConfig, MeanFlowConfig, SCTConfig, ShortcutConfig
from ..frontier import drifting, flowmap, lsd, meanflow, shortcut, trigflow

KEYS = {  # benchmark key: (method, sampling steps)
    "sct_1step_w1": ("sct", 1), "sct_2step_w1": ("sct", 2),
    "shortcut_1step_w1": ("shortcut", 1), "shortcut_2step_w1": ("shortcut", 2),
    "shortcut_renoise_2step_w1": ("shortcut_renoise", 2), "shortcut_4step_w1": ("shortcut", 4),
    "meanflow_1step_w1": ("meanflow", 1), "meanflow_2step_w1": ("meanflow", 2),
    "lsd_1step_w1": ("lsd", 1), "lsd_2step_w1": ("lsd", 2), "lsd_4step_w1": ("lsd", 4),  # notebook 10
    "drift_1step_w1": ("drift", 1),  # notebook 11: a drifting generator has one step only
}

NAMES = {"sct_1step_w1": "sCT from scratch, 1 step", "sct_2step_w1": "sCT from scratch, 2 steps",
         "shortcut_1step_w1": "shortcut model from scratch, 1 step", "shortcut_2step_w1": "shortcut model, 2 jumps of 1/2",
         "shortcut_renoise_2step_w1": "shortcut model, 2 steps re-noised (Alg. 1)",
         "shortcut_4step_w1": "shortcut model, 4 steps",
         "meanflow_1step_w1": "MeanFlow from scratch, 1 step", "meanflow_2step_w1": "MeanFlow, 2 steps",
         "lsd_1step_w1": "LSD flow map from scratch, 1 step", "lsd_2step_w1": "LSD flow map, 2 steps",
         "lsd_4step_w1": "LSD flow map, 4 steps",
         "drift_1step_w1": "drifting model from scratch, 1 step (notebook 11)"}


def samplers_for(models: dict, n: int) -> dict[str, Callable[[int], Callable[[torch.Generator], torch.Tensor]]]:
    """{method: steps -> (generator -> n samples)} for trained {"sct", "shortcut", "meanflow", "lsd"} models.

    "shortcut" follows the flow map's own path (equal jumps); "shortcut_renoise" jumps to 0 and re-noises
    (notebook 1's Alg. 1, at :func:`flowmap.renoise_times`).
    """
    def trig(k):
        m = models["sct"]
        return lambda g: trigflow.sample_trigflow(m, trigflow.noise(m, n, g), trigflow.multistep_times(k, m), generator=g)

    def flow(name):
        def steps(k):
            m = models[name]
            return lambda g: flowmap.sample_flowmap(m, flowmap.noise(m, n, g), flowmap.uniform_times(k))
        return steps

    def renoise(k):
        m = models["shortcut"]
        return lambda g: flowmap.sample_flowmap_renoise(m, flowmap.noise(m, n, g), flowmap.renoise_times(k), generator=g)

    def drift(k):  # one step: g(e)
        m = models["drift"]
        return lambda g: drifting.sample_drifting(m, n, g)

    return {"sct": trig, "shortcut": flow("shortcut"), "shortcut_renoise": renoise, "meanflow": flow("meanflow"),
            "lsd": flow("lsd"),             **({"drift": drift} if "drift" in models else {})}


def per_seed(train: torch.Tensor, w1_per_seed: Callable, n: int, seeds: int, progress: bool = True) -> tuple[dict, dict]:
    """Train notebook 08's three methods and notebook 10's LSD on ``train``; ({key: per-seed W1},
    {"<method>_train_s": seconds}).

    ``w1_per_seed(sample, n, seeds)`` is the benchmark's measurement (its references, its seeds).
    """
    runs = {"sct": trigflow.train_scm(train, SCTConfig(), progress=progress),
            "shortcut": shortcut.train_shortcut(train, ShortcutConfig(), progress=progress),
            "meanflow": meanflow.train_meanflow(train, MeanFlowConfig(), progress=progress),
            "lsd": lsd.train_lsd(train, LSDConfig(), progress=progress),
            "drift": drifting.train_drifting(train, DriftingConfig(), progress=progress)}
    sample = samplers_for({name: run.model for name, run in runs.items()}, n)
    w1 = {key: w1_per_seed(sample[method](k), n, seeds) for key, (method, k) in KEYS.items()}
    return w1, {f"{name}_train_s": run.seconds for name, run in runs.items()}
