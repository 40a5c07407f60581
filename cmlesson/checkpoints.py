"""Tiny pretrained models shipped with the package, so notebooks and widgets need not train first.

``load("teacher" | "cd" | "ct")`` returns the two-moons teacher (EDM denoiser), distilled consistency
model or scratch-trained consistency model, trained with the course defaults (seed 0). Weights are
stored in float16 (about 240 KB each), loaded with ``torch.load(..., weights_only=True)`` and checked
against the SHA-256 in ``manifest.json``. A missing or altered file is never trusted: the model is
retrained in memory with a progress bar instead. ``python -m cmlesson checkpoints`` rebuilds them all.
Introduced in notebook 01.
"""

from __future__ import annotations

import hashlib
import json
import warnings
from dataclasses import asdict
from pathlib import Path

import torch
from torch import nn

from . import data, training
from .config import ConsistencyTrainingConfig, DistillConfig, NetworkConfig, NoiseConfig, TeacherConfig
from .ema import frozen_copy
from .networks import NoiseConditionedMLP
from .parameterization import ConsistencyFunction, EDMDenoiser

FOLDER = Path(__file__).parent / "checkpoints"
NAMES = ("teacher", "cd", "ct")
DATASET, POOL_SIZE, SEED = "moons", 100_000, 0


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
    raise ValueError(f"name must be one of {NAMES}, got {name!r}")


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _manifest() -> dict:
    path = FOLDER / "manifest.json"
    return json.loads(path.read_text()) if path.exists() else {}


def _build(meta: dict) -> nn.Module:
    cls = EDMDenoiser if meta["kind"] == "edm" else ConsistencyFunction
    backbone = NoiseConditionedMLP(meta["data_dim"], NetworkConfig(**meta["network"]))
    return cls(backbone, meta["sigma_data"], meta["sigma_min"], meta["sigma_max"])


def load(name: str, progress: bool = True) -> nn.Module:
    """The shipped model ``name`` (frozen, eval mode); retrained in memory if its file is missing or altered."""
    if name not in NAMES:
        raise ValueError(f"name must be one of {NAMES}, got {name!r}")
    meta, path = _manifest().get(name), FOLDER / f"{name}_{DATASET}.pt"
    problem = None
    if meta is None or not path.exists():
        problem = f"checkpoint {path.name} is missing"
    elif _sha256(path) != meta["sha256"]:
        problem = f"checkpoint {path.name} does not match its SHA-256 in manifest.json"
    if problem is None:
        model = _build(meta)
        state = torch.load(path, map_location="cpu", weights_only=True)
        model.load_state_dict({k: v.float() for k, v in state.items()})
        return frozen_copy(model)
    warnings.warn(f"{problem}; training it now with the course defaults instead", stacklevel=2)
    return _train(name, progress).model


def save_all(progress: bool = True) -> dict:
    """Retrain teacher, CD and CT with the course defaults and write them with a fresh manifest."""
    FOLDER.mkdir(exist_ok=True)
    manifest, teacher = {}, None
    for name in NAMES:
        trained = _train(name, progress, teacher)
        model = trained.model
        if name == "teacher":
            teacher = model
        path = FOLDER / f"{name}_{DATASET}.pt"
        torch.save({k: v.half() for k, v in model.state_dict().items()}, path)
        manifest[name] = {
            "kind": "edm" if isinstance(model, EDMDenoiser) else "consistency", "data_dim": 2,
            "network": asdict(NetworkConfig()), "sigma_data": model.sigma_data, "sigma_min": model.sigma_min,
            "sigma_max": model.sigma_max, "sha256": _sha256(path), "bytes": path.stat().st_size,
            "train_seconds": round(trained.seconds, 1), "dataset": DATASET, "seed": SEED,
        }
    (FOLDER / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")
    return manifest


def main(args) -> int:
    for name, meta in save_all().items():
        print(f"{name}: {meta['bytes'] / 1024:.0f} KB, trained in {meta['train_seconds']} s, sha256 {meta['sha256'][:12]}")
    return 0
