"""Bad inputs fail early, with a ValueError or TypeError that names the parameter and the offending value."""

from __future__ import annotations

import re

import pytest
import torch

from cmlesson import data, losses, metrics, samplers, schedules, training
from cmlesson.config import ConsistencyTrainingConfig, DistillConfig, NetworkConfig, NoiseConfig, TeacherConfig
from cmlesson.networks import NoiseConditionedMLP
from cmlesson.parameterization import ConsistencyFunction, EDMDenoiser

TINY = NetworkConfig(hidden=16, depth=2)
GOOD = data.sample("moons", 64, seed=0)


def with_nan() -> torch.Tensor:
    x = GOOD.clone()
    x[5, 1] = float("nan")
    return x


def consistency_model() -> ConsistencyFunction:
    return ConsistencyFunction(NoiseConditionedMLP(2, TINY), 0.5, 0.002, 80.0)


def teacher() -> EDMDenoiser:
    return EDMDenoiser(NoiseConditionedMLP(2, TINY), 0.5, 0.002, 80.0)


# (name, call, exception, regex that must name the parameter and its value)
CASES = [
    # sigma_min <= 0
    ("NoiseConfig sigma_min=0",
     lambda: NoiseConfig(sigma_min=0.0),
     ValueError, r"sigma_min must be .*> 0, got 0\.0"),
    ("karras sigma_min<0",
     lambda: schedules.karras_sigmas(10, -0.1, 80.0),
     ValueError, r"sigma_min must be .*> 0, got -0\.1"),
    ("geometric sigma_min=0",
     lambda: schedules.geometric_sigmas(10, 0, 80.0),
     ValueError, r"sigma_min must be .*> 0, got 0"),
    ("ConsistencyFunction sigma_min=0",
     lambda: ConsistencyFunction(NoiseConditionedMLP(2, TINY), 0.5, 0.0, 80.0),
     ValueError, r"sigma_min must be .*> 0, got 0\.0"),
    ("NoiseConfig sigma_min=nan",
     lambda: NoiseConfig(sigma_min=float("nan")),
     ValueError, r"sigma_min must be .*, got nan"),
    ("NoiseConfig sigma_min str",
     lambda: NoiseConfig(sigma_min="0.002"),
     TypeError, r"sigma_min must be a number > 0, got str '0\.002'"),
    # sigma_max <= sigma_min
    ("NoiseConfig sigma_max<sigma_min",
     lambda: NoiseConfig(sigma_min=1.0, sigma_max=0.5),
     ValueError, r"sigma_max must be > sigma_min = 1\.0, got sigma_max = 0\.5"),
    ("karras sigma_max=sigma_min",
     lambda: schedules.karras_sigmas(10, 2.0, 2.0),
     ValueError, r"sigma_max must be > sigma_min = 2\.0, got sigma_max = 2\.0"),
    ("EDMDenoiser sigma_max<sigma_min",
     lambda: EDMDenoiser(NoiseConditionedMLP(2, TINY), 0.5, 1.0, 0.1),
     ValueError, r"sigma_max must be > sigma_min = 1\.0, got sigma_max = 0\.1"),
    # N < 2
    ("karras N=1",
     lambda: schedules.karras_sigmas(1, 0.002, 80.0),
     ValueError, r"N must be an integer >= 2, got 1"),
    ("geometric N=0",
     lambda: schedules.geometric_sigmas(0, 0.002, 80.0),
     ValueError, r"N must be an integer >= 2, got 0"),
    ("karras N float",
     lambda: schedules.karras_sigmas(2.5, 0.002, 80.0),
     TypeError, r"N must be an integer >= 2, got float 2\.5"),
    ("train_distillation N=1",
     lambda: training.train_distillation(teacher(), GOOD, DistillConfig(steps=1, batch=8, N=1), progress=False),
     ValueError, r"N must be an integer >= 2, got 1"),
    # steps < 1
    ("train_teacher steps=0",
     lambda: training.train_teacher(GOOD, TeacherConfig(steps=0, batch=8), net=TINY, progress=False),
     ValueError, r"steps must be an integer >= 1, got 0"),
    ("train_distillation steps=0",
     lambda: training.train_distillation(teacher(), GOOD, DistillConfig(steps=0, batch=8), progress=False),
     ValueError, r"steps must be an integer >= 1, got 0"),
    ("train_consistency steps=0",
     lambda: training.train_consistency(GOOD, ConsistencyTrainingConfig(steps=0, batch=8), net=TINY, progress=False),
     ValueError, r"steps must be an integer >= 1, got 0"),
    ("train_teacher batch=0",
     lambda: training.train_teacher(GOOD, TeacherConfig(steps=1, batch=0), net=TINY, progress=False),
     ValueError, r"batch must be an integer >= 1, got 0"),
    ("lesson table steps=4",
     lambda: samplers.lesson_multistep_sigmas(4),
     ValueError, r"steps must be one of .*, got 4"),
    # multistep sigma lists
    ("multistep increasing",
     lambda: samplers.sample_consistency(consistency_model(), torch.zeros(2, 2), [1.0, 5.0]),
     ValueError, r"sigmas must be strictly decreasing .*got \[1\.0, 5\.0\]"),
    ("multistep above sigma_max",
     lambda: samplers.sample_consistency(consistency_model(), torch.zeros(2, 2), [100.0, 1.0]),
     ValueError, r"sigmas must lie in \[sigma_min, sigma_max\] = \[0\.002, 80\.0\], got \[100\.0, 1\.0\]"),
    ("multistep below sigma_min",
     lambda: samplers.sample_consistency(consistency_model(), torch.zeros(2, 2), [80.0, 0.001]),
     ValueError, r"sigmas must lie in .*got \[80\.0, 0\.001\]"),
    ("multistep empty",
     lambda: samplers.sample_consistency(consistency_model(), torch.zeros(2, 2), []),
     ValueError, r"sigmas must hold at least one"),
    ("ODE sampler increasing",
     lambda: samplers.sample_heun(teacher(), torch.zeros(2, 2), [0.5, 1.0]),
     ValueError, r"sigmas must be .*got \[0\.5, 1\.0\]"),
    ("loss schedule increasing",
     lambda: losses.consistency_training_loss(consistency_model(), consistency_model(), GOOD, torch.tensor([0.5, 1.0])),
     ValueError, r"sigmas must be a decreasing schedule .*got \[0\.5, 1\.0\]"),
    # data of the wrong shape or with NaN
    ("train_teacher 1-D data",
     lambda: training.train_teacher(GOOD[:, 0], TeacherConfig(steps=1, batch=8), net=TINY, progress=False),
     ValueError, r"data must have shape \(n, d\) with n >= 1, got \(64,\)"),
    ("train_teacher empty data",
     lambda: training.train_teacher(GOOD[:0], TeacherConfig(steps=1, batch=8), net=TINY, progress=False),
     ValueError, r"data must have shape \(n, d\) with n >= 1, got \(0, 2\)"),
    ("train_teacher NaN data",
     lambda: training.train_teacher(with_nan(), TeacherConfig(steps=1, batch=8), net=TINY, progress=False),
     ValueError, r"data contains NaN or inf in 1 of 64 rows"),
    ("train_consistency NaN data",
     lambda: training.train_consistency(with_nan(), ConsistencyTrainingConfig(steps=1, batch=8), net=TINY, progress=False),
     ValueError, r"data contains NaN or inf in 1 of 64 rows"),
    ("train_teacher list data",
     lambda: training.train_teacher([[0.0, 1.0]], TeacherConfig(steps=1, batch=8), net=TINY, progress=False),
     TypeError, r"data must be a tensor or array .*got list"),
    ("W1 of 3-D array",
     lambda: metrics.wasserstein_2d(torch.zeros(2, 2, 2), GOOD),
     ValueError, r"a must have shape .*got \(2, 2, 2\)"),
    ("W1 with inf",
     lambda: metrics.wasserstein_2d(GOOD, torch.full((3, 2), float("inf"))),
     ValueError, r"b contains NaN or inf in 3 of 3 rows"),
    ("sigma_data of NaN",
     lambda: data.estimate_sigma_data(with_nan()),
     ValueError, r"x contains NaN or inf in 1 of 64 rows"),
    # unknown dataset name
    ("unknown dataset",
     lambda: data.sample("banana", 10),
     ValueError, r"dataset must be one of .*got 'banana'"),
    ("sample n=0",
     lambda: data.sample("moons", 0),
     ValueError, r"n must be an integer >= 1, got 0"),
    # curricula and other ranges
    ("ct_curriculum k>K",
     lambda: schedules.ct_curriculum(11, 10),
     ValueError, r"k must be in \[0, K\] = \[0, 10\], got 11"),
    ("ict_curriculum K=0",
     lambda: schedules.ict_curriculum(0, 0),
     ValueError, r"K must be an integer >= 1, got 0"),
    ("ct_curriculum s1<s0",
     lambda: schedules.ct_curriculum(0, 10, 5, 3),
     ValueError, r"s1 must be an integer >= 5, got 3"),
    ("karras rho=0",
     lambda: schedules.karras_sigmas(5, 0.002, 80.0, rho=0.0),
     ValueError, r"rho must be .*> 0, got 0\.0"),
    ("noise sigma<0",
     lambda: samplers.noise(4, 2, -1.0),
     ValueError, r"sigma must be .*> 0, got -1\.0"),
]


@pytest.mark.parametrize(("call", "exc", "pattern"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_bad_input_is_named_in_the_error(call, exc, pattern):
    """The call raises the expected exception type, and its message names the parameter and the value."""
    with pytest.raises(exc, match=pattern):
        call()


def test_unreadable_file_is_named(tmp_path):
    """A file that exists but is not a numpy array raises ValueError naming the file."""
    path = tmp_path / "broken.npy"
    path.write_bytes(b"\x00\x01garbage")
    with pytest.raises(ValueError, match=re.escape(str(path))):
        data.load_points(path)


def test_missing_file_is_named(tmp_path):
    """A path that does not exist raises ValueError (not FileNotFoundError) naming the file."""
    path = tmp_path / "nowhere" / "pts.csv"
    with pytest.raises(ValueError, match=re.escape(str(path))):
        data.load_points(path)
