"""Tiny pretrained models shipped with the package, so notebooks and widgets need not train first.

``load("teacher" | "cd" | "ct")`` returns the two-moons teacher (EDM denoiser), distilled consistency
model or scratch-trained consistency model, trained with the course defaults (seed 0).
``load("ict" | "sct_prior" | "sct" | "shortcut_seed0" | "meanflow_seed0")`` returns the models notebook 08 only
measures: notebook 06's best recipe (iCT with half the levels drawn uniformly), sCT without and with its adaptive
weighting, the shortcut model and MeanFlow, each trained from scratch with its ``cmlesson.config`` default (the last
two are the seed-0 runs of notebooks 10 and 11); ``load("cd500_mu0" | "cd500_mu0.9999")``
two runs notebook 04's target-decay ablation only measures; ``load("ct06_l2" | "ct06_pseudo_huber" | "ct06_lognormal" |
"ct06_doubling" | "ct06_no_ema" | "ict06_lognormal")`` the six runs of notebook 06's ablation it only measures
(:data:`ICT_ABLATION`);
``load("lsd_seed0" | ... | "drifting_seed2")`` notebooks 10 and 11's runs at training seeds 0, 1 and 2: LSD, the
shortcut model, MeanFlow and the drifting model with their course defaults (``FLOWMAP_RUNS``), which they only measure.
:func:`info` gives their training steps and seconds.
``load("digits_pca" | "digits_classifier" | "digits_lcm" | "digits_pixel_teacher")`` returns notebook 09's digits
models: the PCA codec of the 20-number latent space, the classifier that judges samples (notebook 07's), the guided
latent consistency model (LCM) conditioned on the digit and on w, and the conditional teacher trained on the 64
pixels instead of the latent (which notebook 09 only measures). ``load("digits_teacher")`` returns the pixel-space EDM
teacher notebook 07 distils, ``load("digits_cd")`` the distilled one-step model (:data:`DIGITS_CD`); notebook 07 only
measures them.
Weights are stored in float16 (240-480 KB each), loaded with ``torch.load(..., weights_only=True)`` and checked
against the SHA-256 in ``manifest.json``. A missing or altered file is never trusted: the model is
retrained in memory with a progress bar instead. ``python -m cmlesson checkpoints`` rebuilds them all.
Introduced in notebook 01.
"""

from __future__ import annotations

import hashlib
import json
import math
import sys
import time
import warnings
from dataclasses import asdict, replace
from pathlib import Path

import torch
from torch import nn

from . import data, ema, losses, schedules, training
from .config import (
    ConsistencyTrainingConfig,
    DistillConfig,
    GuidedTeacherConfig,
    LCMConfig,
    NetworkConfig,
    NoiseConfig,
    SCTConfig,
    TeacherConfig,
)
from .ema import frozen_copy
from .frontier import classifier, drifting, flowmap, guidance, latent, lcm, lsd, meanflow, shortcut, trigflow
from .networks import NoiseConditionedMLP
from .parameterization import ConsistencyFunction, EDMDenoiser

FOLDER = Path(__file__).parent / "checkpoints"
TARGET_DECAY_RUNS = {"cd500_mu0": 0.0, "cd500_mu0.9999": 0.9999}  # notebook 04's ablation: the decays it only measures
FLOWMAP_RUNS = {f"{method}_seed{seed}": (method, seed)  # notebooks 10 and 11: three training seeds per method
                for method in ("lsd", "shortcut", "meanflow", "drifting") for seed in (0, 1, 2)}
# notebook 06's ablation, the runs it only measures: CT (squared distance, uniform levels, square-root curriculum, target
# EMA, no weighting) with one iCT change each, and all four; its remedy is "ict"; a short pseudo-Huber run with the
# student's distance trains on screen
ICT_ABLATION = {
    "ct06_l2": {},
    "ct06_pseudo_huber": {"distance": losses.pseudo_huber_distance},
    "ct06_lognormal": {"levels": losses.lognormal_levels},
    "ct06_doubling": {"curriculum": schedules.ict_curriculum},
    "ct06_no_ema": {"target_decay": ema.no_target_decay, "weighting": losses.ict_weighting},
    "ict06_lognormal": {"distance": losses.pseudo_huber_distance, "levels": losses.lognormal_levels,
                        "curriculum": schedules.ict_curriculum, "target_decay": ema.no_target_decay,
                        "weighting": losses.ict_weighting},
}
# notebook 08's methods at their config defaults, which it only measures: sCT, and the seed-0 shortcut and MeanFlow runs
# of FLOWMAP_RUNS (one file each, shared with notebooks 10 and 11)
FRONTIER_RUNS = ("sct", "shortcut_seed0", "meanflow_seed0")
MOONS_NAMES = ("teacher", "cd", "ct", "ict", "sct_prior", *TARGET_DECAY_RUNS, *ICT_ABLATION, "sct", *FLOWMAP_RUNS)
DIGITS_NAMES = ("digits_pca", "digits_classifier", "digits_lcm", "digits_pixel_teacher")
LAB07_NAMES = ("digits_teacher", "digits_cd")  # notebook 07's teacher on the 64 pixels and its distillation
NAMES = MOONS_NAMES + DIGITS_NAMES + LAB07_NAMES
DATASET, POOL_SIZE, SEED = "moons", 100_000, 0
DIGITS_LATENT_DIM = 20  # notebook 09's latent: 20 PCA numbers per digit
DIGITS_NET = NetworkConfig(hidden=256, depth=4)  # notebook 09's teacher and consistency model
ABLATION_STEPS = 500  # notebook 04's runs: at 200 steps even the paper's decay 0.95 has not left the start
ABLATION_CD = DistillConfig(steps=ABLATION_STEPS, batch=1000, lr=1e-3, N=18)  # notebook 04's short runs: the default's
#   lr 5e-3 and smaller batches are tuned for its 2,250 steps; in 500 they leave even the paper's decay far behind
DIGITS_TEACHER_NET = NetworkConfig(hidden=256, depth=4)  # notebook 07's teacher: 64 pixels in, 256 units
DIGITS_TEACHER = replace(TeacherConfig(), steps=3000, batch=256, lr=2e-3)  # its recipe: batch 256 of 1,438 digits
DIGITS_CD = DistillConfig(steps=1500, batch=256, lr=1e-3, N=18)  # notebook 07's distillation of the digits teacher
ICT_BUDGET = replace(ConsistencyTrainingConfig(), steps=2500, s0=10, s1=1280)  # notebook 06's budget, iCT's curriculum
CT06_BUDGET = replace(ConsistencyTrainingConfig(), steps=2500)  # notebook 06's budget, CT's curriculum (s0 = 2, s1 = 40)


def path(name: str) -> Path:
    """The file of checkpoint ``name``: ``<name>_moons.pt`` for the two-moons models, ``<name>.pt`` for the digits ones."""
    return FOLDER / (f"{name}_{DATASET}.pt" if name in MOONS_NAMES else f"{name}.pt")


def training_data() -> torch.Tensor:
    """The pool every shipped checkpoint was trained on: 100,000 i.i.d. two-moons points, seed 0."""
    return data.sample(DATASET, POOL_SIZE, seed=SEED)


def _train(name: str, progress: bool = True, teacher: nn.Module | None = None) -> training.Trained:
    pool = training_data()
    noise = training.noise_config_for(pool, NoiseConfig())
    if name == "teacher":
        return training.train_teacher(pool, TeacherConfig(), noise=noise, seed=SEED, progress=progress)
    if name == "cd":
        teacher = teacher if teacher is not None else load("teacher")
        return training.train_distillation(teacher, pool, DistillConfig(), rho=noise.rho, seed=SEED, progress=progress)
    if name == "ct":
        return training.train_consistency(pool, ConsistencyTrainingConfig(), noise=noise, seed=SEED, progress=progress)
    if name in TARGET_DECAY_RUNS:  # notebook 04, section 4: distillation with another target decay, nothing else changed
        teacher = teacher if teacher is not None else load("teacher")
        cfg = replace(ABLATION_CD, target_decay=TARGET_DECAY_RUNS[name])
        return training.train_distillation(teacher, pool, cfg, rho=noise.rho, seed=SEED, progress=progress)
    if name == "ict":  # notebook 06, section 8: all four iCT changes, half of each batch's levels drawn uniformly
        return training.train_consistency(pool, ICT_BUDGET, noise=noise, seed=SEED, distance=losses.pseudo_huber_distance,
                                          levels=losses.mixed_levels, curriculum=schedules.ict_curriculum,
                                          target_decay=ema.no_target_decay, weighting=losses.ict_weighting,
                                          progress=progress)
    if name in ICT_ABLATION:  # notebook 06, sections 2-7: CT's choices, then the named iCT change(s) in their place
        change = ICT_ABLATION[name]
        budget = ICT_BUDGET if change.get("curriculum") is schedules.ict_curriculum else CT06_BUDGET
        recipe = {"distance": losses.l2_distance, "levels": losses.uniform_levels, "curriculum": schedules.ct_curriculum,
                  "target_decay": ema.ct_target_decay, "weighting": losses.uniform_weighting, **change}
        return training.train_consistency(pool, budget, noise=noise, seed=SEED, progress=progress, **recipe)
    if name == "sct":  # notebook 08, section 5: sCT with its course default
        return trigflow.train_scm(pool, SCTConfig(), seed=SEED, progress=progress)
    if name == "sct_prior":  # notebook 08, section 5: sCT with the prior weight 1/sigma alone
        return trigflow.train_scm(pool, SCTConfig(), weighting=trigflow.prior_weighting, seed=SEED, progress=progress)
    if name in FLOWMAP_RUNS:  # notebook 10: each flow-map method with its course default, one training seed
        method, seed = FLOWMAP_RUNS[name]
        train = {"lsd": lsd.train_lsd, "shortcut": shortcut.train_shortcut, "meanflow": meanflow.train_meanflow,
                 "drifting": drifting.train_drifting}[method]
        return train(pool, seed=seed, progress=progress)
    if name in DIGITS_NAMES:
        return _train_digits(name, progress)
    if name == "digits_teacher":  # notebook 07, section 3: the EDM teacher on the digits' 64 pixels
        x_tr = data.digits_split(test_share=0.2, seed=SEED)[0]
        return training.train_teacher(x_tr, DIGITS_TEACHER, noise=training.noise_config_for(x_tr), net=DIGITS_TEACHER_NET,
                                      seed=SEED, progress=progress)
    if name == "digits_cd":  # notebook 07, section 4: consistency distillation of the shipped teacher, unchanged
        x_tr = data.digits_split(test_share=0.2, seed=SEED)[0]
        return training.train_distillation(load("digits_teacher"), x_tr, DIGITS_CD, rho=training.noise_config_for(x_tr).rho,
                                           seed=SEED, progress=progress)
    raise ValueError(f"name must be one of {NAMES}, got {name!r}")


def _train_digits(name: str, progress: bool = True) -> training.Trained:
    """Notebook 09's recipe: PCA to 20 numbers, the conditional teacher in the latent, LCM with skipping steps."""
    start = time.perf_counter()
    x_tr, y_tr, _, _ = data.digits_split(test_share=0.2, seed=SEED)
    if name == "digits_classifier":
        model = classifier.train_classifier()
        return training.Trained(model, model, [], time.perf_counter() - start)
    codec = latent.PCACodec.fit(x_tr, DIGITS_LATENT_DIM)
    if name == "digits_pca":
        return training.Trained(codec, codec, [], time.perf_counter() - start)
    if name == "digits_pixel_teacher":  # section 3's "what did the latent buy?": the same teacher on the 64 pixels
        return guidance.train_conditional_teacher(x_tr, y_tr, GuidedTeacherConfig(), noise=training.noise_config_for(x_tr),
                                                  net=DIGITS_NET, seed=SEED, progress=progress)
    z_tr = codec.encode(x_tr)
    noise = training.noise_config_for(z_tr)
    teacher = guidance.train_conditional_teacher(z_tr, y_tr, GuidedTeacherConfig(), noise=noise, net=DIGITS_NET,
                                                 seed=SEED, progress=progress)
    cm = lcm.train_lcm(teacher.model, z_tr, y_tr, LCMConfig(), rho=noise.rho, seed=SEED, progress=progress)
    return training.Trained(cm.model, cm.online, cm.history, time.perf_counter() - start)


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _manifest() -> dict:
    path = FOLDER / "manifest.json"
    return json.loads(path.read_text()) if path.exists() else {}


def _build(meta: dict) -> nn.Module:
    if meta["kind"] == "pca":
        return latent.PCACodec(torch.zeros(meta["data_dim"]), torch.zeros(meta["latent_dim"], meta["data_dim"]), meta["scale"])
    if meta["kind"] == "classifier":
        return classifier.DigitClassifier(meta["hidden"], meta["data_dim"], meta["n_classes"])
    if meta["kind"] == "conditional_edm":
        backbone = guidance.ConditionedMLP(meta["data_dim"], NetworkConfig(**meta["network"]), meta["n_classes"])
        return EDMDenoiser(backbone, meta["sigma_data"], meta["sigma_min"], meta["sigma_max"])
    if meta["kind"] == "lcm":
        backbone = guidance.ConditionedMLP(meta["data_dim"], NetworkConfig(**meta["network"]), meta["n_classes"],
                                           guidance_embedding=True, max_guidance=meta["max_guidance"])
        return ConsistencyFunction(backbone, meta["sigma_data"], meta["sigma_min"], meta["sigma_max"])
    if meta["kind"] == "flowmap":
        net = flowmap.TwoTimeMLP(meta["data_dim"], NetworkConfig(**meta["network"]))
        return flowmap.AverageVelocity(net, torch.zeros(meta["data_dim"]), meta["scale"])
    if meta["kind"] == "trigflow":
        net = NetworkConfig(**meta["network"])
        return trigflow.TrigFlowConsistency(NoiseConditionedMLP(meta["data_dim"], net), torch.zeros(meta["data_dim"]),
                                            meta["sigma_data"], meta["sigma_max"], trigflow.LogVarHead(net.emb_dim, net.max_freq))
    if meta["kind"] == "flowmap":
        return flowmap.AverageVelocity(flowmap.TwoTimeMLP(meta["data_dim"], NetworkConfig(**meta["network"])),
                                       torch.zeros(meta["data_dim"]), meta["scale"])
    if meta["kind"] == "drifting":
        return drifting.Generator(drifting.PlainMLP(meta["data_dim"], NetworkConfig(**meta["network"])),
                                  torch.zeros(meta["data_dim"]), meta["scale"])
    cls = EDMDenoiser if meta["kind"] == "edm" else ConsistencyFunction
    backbone = NoiseConditionedMLP(meta["data_dim"], NetworkConfig(**meta["network"]))
    return cls(backbone, meta["sigma_data"], meta["sigma_min"], meta["sigma_max"])


def load(name: str, progress: bool = True) -> nn.Module:
    """The shipped model ``name`` (frozen, eval mode); retrained in memory if its file is missing or altered."""
    if name not in NAMES:
        raise ValueError(f"name must be one of {NAMES}, got {name!r}")
    meta, file = _manifest().get(name), path(name)
    problem = None
    if meta is None or not file.exists():
        problem = f"checkpoint {file.name} is missing"
    elif _sha256(file) != meta["sha256"]:
        problem = f"checkpoint {file.name} does not match its SHA-256 in manifest.json"
    if problem is None:
        model = _build(meta)
        state = torch.load(file, map_location="cpu", weights_only=True)
        model.load_state_dict({k: v.float() for k, v in state.items()})
        return frozen_copy(model)
    warnings.warn(f"{problem}; training it now with the course defaults instead", stacklevel=2)
    return _train(name, progress).model


def info(name: str) -> dict:
    """The manifest's entry for checkpoint ``name``: how it was built, its ``steps`` and ``train_seconds``."""
    if name not in NAMES:
        raise ValueError(f"name must be one of {NAMES}, got {name!r}")
    return dict(_manifest()[name])


def _meta(name: str, model: nn.Module) -> dict:
    """What :func:`_build` needs to rebuild ``model`` before its weights are loaded."""
    if isinstance(model, trigflow.TrigFlowConsistency):
        return {"kind": "trigflow", "data_dim": 2, "network": asdict(NetworkConfig()), "sigma_data": model.sigma_data,
                "sigma_max": model.sigma_data * math.tan(model.t_max), "dataset": DATASET}
    if name in LAB07_NAMES:
        kind = "edm" if name == "digits_teacher" else "consistency"
        return {"kind": kind, "data_dim": 64, "network": asdict(DIGITS_TEACHER_NET), "sigma_data": model.sigma_data,
                "sigma_min": model.sigma_min, "sigma_max": model.sigma_max, "dataset": "digits"}
    if isinstance(model, drifting.Generator):
        return {"kind": "drifting", "data_dim": 2, "network": asdict(NetworkConfig()), "scale": model.scale,
                "dataset": DATASET}
    if isinstance(model, flowmap.AverageVelocity):  # the center is a buffer; the scale is not in the state dict
        return {"kind": "flowmap", "data_dim": 2, "network": asdict(NetworkConfig()), "scale": model.scale,
                "dataset": DATASET}
    if name in MOONS_NAMES:
        return {"kind": "edm" if isinstance(model, EDMDenoiser) else "consistency", "data_dim": 2,
                "network": asdict(NetworkConfig()), "sigma_data": model.sigma_data, "sigma_min": model.sigma_min,
                "sigma_max": model.sigma_max, "dataset": DATASET}
    if name == "digits_pca":
        return {"kind": "pca", "data_dim": model.directions.shape[1], "latent_dim": model.dim, "scale": model.scale,
                "dataset": "digits"}
    if name == "digits_classifier":
        return {"kind": "classifier", "data_dim": model.hidden.in_features, "hidden": model.hidden.out_features,
                "n_classes": model.out.out_features, "dataset": "digits"}
    b = model.backbone
    if name == "digits_pixel_teacher":
        return {"kind": "conditional_edm", "data_dim": b.inp.in_features, "network": asdict(b.cfg),
                "n_classes": b.n_classes, "sigma_data": model.sigma_data, "sigma_min": model.sigma_min,
                "sigma_max": model.sigma_max, "dataset": "digits"}
    return {"kind": "lcm", "data_dim": b.inp.in_features, "network": asdict(b.cfg), "n_classes": b.n_classes,
            "max_guidance": b.max_guidance, "sigma_data": model.sigma_data, "sigma_min": model.sigma_min,
            "sigma_max": model.sigma_max, "lcm": asdict(LCMConfig()), "dataset": "digits"}


def save_all(progress: bool = True, names: tuple[str, ...] = NAMES) -> dict:
    """Retrain ``names`` (all by default) with the course defaults and write them; the manifest keeps the others."""
    FOLDER.mkdir(exist_ok=True)
    manifest, teacher = {k: v for k, v in _manifest().items() if k in NAMES}, None
    for name in names:
        trained = _train(name, progress, teacher)
        model = trained.model
        if name == "teacher":
            teacher = model
        file = path(name)
        torch.save({k: v.half() for k, v in model.state_dict().items()}, file)
        manifest[name] = {**_meta(name, model), "sha256": _sha256(file), "bytes": file.stat().st_size,
                          "train_seconds": round(trained.seconds, 1), "steps": len(trained.history),
                          "seed": FLOWMAP_RUNS[name][1] if name in FLOWMAP_RUNS else SEED}
        # written after each model: a later one (digits_cd) loads an earlier one (digits_teacher) as shipped
        (FOLDER / "manifest.json").write_text(json.dumps({k: manifest[k] for k in NAMES if k in manifest}, indent=2)
                                              + "\n")
    return manifest


def main(args) -> int:
    names = tuple(args.only) if args.only else NAMES
    unknown = [n for n in names if n not in NAMES]
    if unknown:
        print(f"error: --only {' '.join(unknown)}: not a checkpoint; allowed: {', '.join(NAMES)}", file=sys.stderr)
        return 2
    for name, meta in save_all(names=names).items():
        print(f"{name}: {meta['bytes'] / 1024:.0f} KB, trained in {meta['train_seconds']} s, sha256 {meta['sha256'][:12]}")
    return 0
