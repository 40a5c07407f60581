"""Shared fixtures: tiny networks, a closed-form Gaussian data model, and spy modules that record their calls."""

from __future__ import annotations

import pytest
import torch
from hypothesis import HealthCheck, settings
from torch import nn

from cmlesson.config import NetworkConfig
from cmlesson.networks import NoiseConditionedMLP

# Factory fixtures hold no per-example state, so sharing them across hypothesis examples is safe.
# No example database: every run explores afresh (known failures are pinned with @example).
settings.register_profile(
    "cmlesson", max_examples=25, deadline=None, database=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
settings.load_profile("cmlesson")

TINY = NetworkConfig(hidden=16, depth=2)  # the smallest backbone worth testing


@pytest.fixture(autouse=True)
def single_thread():
    """Run every test on one intra-op thread. The tests' tensors are tiny, and on a shared 2-core machine a
    multi-threaded op that must wait for a busy core can take seconds instead of microseconds. (The training
    functions set their own thread count; this resets it before each test.)"""
    if torch.get_num_threads() != 1:
        torch.set_num_threads(1)


def random_backbone(seed: int, data_dim: int = 2, out_std: float = 1.0) -> NoiseConditionedMLP:
    """A tiny backbone with random weights everywhere, including the output layer (which starts at zero)."""
    torch.manual_seed(seed)
    net = NoiseConditionedMLP(data_dim, TINY)
    nn.init.normal_(net.out.weight, std=out_std)
    nn.init.normal_(net.out.bias, std=out_std)
    return net


@pytest.fixture(scope="module")
def ladder_assets():
    """The ladder exercise's grader assets: a tiny random consistency model (not the shipped checkpoint), a reference."""
    from cmlesson import data, parameterization
    from cmlesson.grading.exercises import ladder

    torch.manual_seed(0)
    backbone = NoiseConditionedMLP(2, TINY)
    nn.init.normal_(backbone.out.weight, std=0.3)
    model = parameterization.ConsistencyFunction(backbone, 0.5, 0.002, 80.0).eval().requires_grad_(False)
    return ladder.LadderAssets(model, data.sample("moons", 2000, seed=5))


@pytest.fixture
def make_backbone():
    """Factory fixture: ``make_backbone(seed)`` gives a tiny backbone with a non-zero output layer."""
    return random_backbone


class GaussianData:
    """Data x0 ~ N(m, s^2 I): the PF-ODE, its denoiser and its consistency function are all in closed form.

    D(x, sigma) = m + s^2 / (s^2 + sigma^2) (x - m)
    ODE flow from sigma_a to sigma_b: x_b = m + (x_a - m) sqrt(s^2 + sigma_b^2) / sqrt(s^2 + sigma_a^2)
    """

    def __init__(self, m=(0.3, -0.2), s: float = 0.5, sigma_min: float = 0.002, sigma_max: float = 80.0):
        self.m = torch.tensor(m, dtype=torch.float64)
        self.s = s
        self.sigma_data = s
        self.sigma_min = sigma_min
        self.sigma_max = sigma_max

    @staticmethod
    def _col(sigma, x: torch.Tensor) -> torch.Tensor:
        sigma = torch.as_tensor(sigma, dtype=torch.float64)
        return sigma.reshape(-1, *([1] * (x.ndim - 1))) if sigma.ndim else sigma

    def denoiser(self, x: torch.Tensor, sigma) -> torch.Tensor:
        """The exact x0-prediction E[x0 | x0 + sigma z = x]."""
        s2, sg = self.s**2, self._col(sigma, x)
        return self.m + s2 / (s2 + sg**2) * (x - self.m)

    def flow(self, x: torch.Tensor, sigma_a, sigma_b) -> torch.Tensor:
        """The exact PF-ODE solution from level sigma_a to level sigma_b."""
        sa, sb = self._col(sigma_a, x), self._col(sigma_b, x)
        return self.m + (x - self.m) * (self.s**2 + sb**2).sqrt() / (self.s**2 + sa**2).sqrt()

    def consistency_function(self, x: torch.Tensor, sigma) -> torch.Tensor:
        """The ideal consistency function: follow the ODE down to sigma_min."""
        return self.flow(x, sigma, self.sigma_min)

    def exact_step(self, denoiser, x, sigma, sigma_next):
        """An ODE 'step' with no discretization error, in the signature of samplers.heun_step."""
        return self.flow(x, sigma, sigma_next)

    def sample(self, n: int, generator: torch.Generator) -> torch.Tensor:
        return self.m + self.s * torch.randn(n, len(self.m), generator=generator, dtype=torch.float64)


@pytest.fixture
def gaussian() -> GaussianData:
    """Gaussian data N((0.3, -0.2), 0.5^2 I) with the course's noise range [0.002, 80]."""
    return GaussianData()


@pytest.fixture
def make_gaussian():
    """Factory fixture: ``make_gaussian(m=..., s=...)`` builds other Gaussian data models."""
    return GaussianData


class Spy(nn.Module):
    """Wraps a model (module or function) and records every (x, sigma) it is called with."""

    def __init__(self, inner, sigma_data: float | None = None, sigma_min: float = 0.002, sigma_max: float = 80.0):
        super().__init__()
        self.inner = inner
        self.sigma_data = sigma_data if sigma_data is not None else getattr(inner, "sigma_data", 0.5)
        self.sigma_min = sigma_min
        self.sigma_max = sigma_max
        self.calls: list[tuple[torch.Tensor, torch.Tensor]] = []

    def forward(self, x: torch.Tensor, sigma) -> torch.Tensor:
        self.calls.append((x.detach().clone(), torch.as_tensor(sigma).detach().clone().double()))
        return self.inner(x, sigma)


@pytest.fixture
def spy():
    """Factory fixture: ``spy(model)`` wraps a model so that its calls are recorded in ``.calls``."""
    return Spy


class Zeros(nn.Module):
    """A 'model' whose output is 0 whatever x and sigma are (one parameter, so that it can get a gradient)."""

    def __init__(self):
        super().__init__()
        self.p = nn.Parameter(torch.zeros(()))

    def forward(self, x: torch.Tensor, sigma) -> torch.Tensor:
        return torch.zeros_like(x) * self.p


@pytest.fixture
def zeros_model():
    """Factory fixture: ``zeros_model()`` is a model whose output is always 0."""
    return Zeros

