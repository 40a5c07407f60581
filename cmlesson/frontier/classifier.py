"""The digits classifier of notebooks 07 and 09 as a torch module, so a widget can read samples without the notebook.

Notebooks 07 and 09 train scikit-learn's ``MLPClassifier`` (one hidden layer of 64 ReLU units) on the training
digits; :class:`DigitClassifier` holds the same two layers, copied from it by :meth:`DigitClassifier.from_sklearn`,
and is shipped as a checkpoint (:mod:`cmlesson.checkpoints`).
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from .. import data
from ..cpus import torch_threads

CONFIDENT = 0.9  # a reading counts as confident at max_c p(c | x) >= 0.9 (notebook 07's confident share)


class DigitClassifier(nn.Module):
    """p(c | x) = softmax(W2 ReLU(W1 x + b1) + b2): a one-hidden-layer perceptron (Rumelhart et al. 1986; notebook 07)."""

    def __init__(self, hidden: int = 64, n_pixels: int = 64, n_classes: int = 10):
        super().__init__()
        self.hidden = nn.Linear(n_pixels, hidden)
        self.out = nn.Linear(hidden, n_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Class probabilities (n, 10) of images (n, 64), clipped to the pixel range [-1, 1] first."""
        return self.out(torch.relu(self.hidden(x.clamp(-1, 1)))).softmax(-1)

    @classmethod
    def from_sklearn(cls, clf) -> DigitClassifier:
        """The same function as a fitted ``MLPClassifier(hidden_layer_sizes=(h,))`` (ReLU, softmax output)."""
        (w1, w2), (b1, b2) = clf.coefs_, clf.intercepts_
        model = cls(w1.shape[1], w1.shape[0], w2.shape[1])
        with torch.no_grad():
            model.hidden.weight.copy_(torch.from_numpy(np.ascontiguousarray(w1.T)))
            model.hidden.bias.copy_(torch.from_numpy(b1))
            model.out.weight.copy_(torch.from_numpy(np.ascontiguousarray(w2.T)))
            model.out.bias.copy_(torch.from_numpy(b2))
        return model


def fit_sklearn(x_train: torch.Tensor, y_train: torch.Tensor):
    """Notebook 07's classifier: MLPClassifier((64,), alpha=1e-3, max_iter=1000, random_state=0) on the training digits."""
    from sklearn.neural_network import MLPClassifier

    return MLPClassifier(hidden_layer_sizes=(64,), alpha=1e-3, max_iter=1000, random_state=0).fit(
        x_train.numpy(), y_train.numpy())


def train_classifier() -> DigitClassifier:
    """The judge as notebooks 07 and 09 train it, on ``data.digits_split(0.2, seed=0)``'s training digits."""
    x_tr, y_tr, _, _ = data.digits_split(test_share=0.2, seed=0)
    return DigitClassifier.from_sklearn(fit_sklearn(x_tr, y_tr)).eval().requires_grad_(False)


def frechet_distance(a, b) -> float:
    """Fréchet distance between Gaussians fitted to two sets of feature rows (notebook 07's FD; the FID's formula,
    Heusel et al. 2017, Sec. 3, after Dowson & Landau 1982): ||mu_a - mu_b||^2 + Tr(S_a + S_b - 2 (S_a S_b)^(1/2)),
    with the unbiased covariances (np.cov). The trace of the root is the sum of the square roots of the eigenvalues
    of the symmetric S_a^(1/2) S_b S_a^(1/2), which has the same eigenvalues as S_a S_b.

    Computed in float64 with torch on one thread: on 64 x 64 matrices a BLAS thread team costs far more than it saves
    (notebook 09 computes a thousand of these; NumPy's threaded eigh took about 40 times as long on a loaded machine)."""
    a, b = (torch.as_tensor(np.asarray(x, dtype=np.float64)) for x in (a, b))
    with torch_threads(1):
        mu_a, mu_b = a.mean(0), b.mean(0)
        s_a, s_b = torch.cov(a.T), torch.cov(b.T)  # unbiased, as np.cov
        w, v = torch.linalg.eigh(s_a)
        root_a = (v * w.clamp(min=0).sqrt()) @ v.T
        cross = torch.linalg.eigvalsh(root_a @ s_b @ root_a).clamp(min=0).sqrt().sum()
        return float(((mu_a - mu_b) ** 2).sum() + s_a.trace() + s_b.trace() - 2 * cross)
