"""The digits classifier as a torch module computes what scikit-learn's MLPClassifier computes."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from sklearn.neural_network import MLPClassifier

from cmlesson import data
from cmlesson.frontier import classifier


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")  # 30 iterations suffice for the comparison
def test_torch_classifier_matches_sklearns_probabilities():
    x, y = data.digits()
    clf = MLPClassifier(hidden_layer_sizes=(16,), max_iter=30, random_state=0).fit(x[:400].numpy(), y[:400].numpy())
    model = classifier.DigitClassifier.from_sklearn(clf)
    ours = model(x[400:600]).detach().numpy()
    assert np.allclose(ours, clf.predict_proba(x[400:600].clamp(-1, 1).numpy()), atol=1e-5)
    assert np.allclose(ours.sum(1), 1.0, atol=1e-6)


def test_classifier_clips_to_the_pixel_range():
    model = classifier.DigitClassifier()
    x = torch.randn(5, 64) * 3
    assert torch.equal(model(x), model(x.clamp(-1, 1)))
