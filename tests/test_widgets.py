"""The explorers' callbacks, driven directly (no browser): set a control, check the figure or the message."""

from __future__ import annotations

import html
import io

import numpy as np
import PIL.Image
import pytest
import torch
from torch import nn

from cmlesson import samplers, schedules, widgets
from cmlesson.parameterization import ConsistencyFunction, EDMDenoiser

PNG = b"\x89PNG\r\n\x1a\n"


@pytest.fixture
def tiny(make_backbone) -> tuple[dict[str, nn.Module], nn.Module]:
    """Random tiny networks: the explorers only need something shaped like the shipped checkpoints."""
    cd = ConsistencyFunction(make_backbone(1, out_std=0.1), 0.5, 0.002, 80.0).eval()
    ct = ConsistencyFunction(make_backbone(2, out_std=0.1), 0.5, 0.002, 80.0).eval()
    teacher = EDMDenoiser(make_backbone(3, out_std=0.1), 0.5, 0.002, 80.0).eval()
    return {"CD": cd, "CT": ct}, teacher


class Exact(nn.Module):
    """The closed-form Gaussian denoiser or consistency function, shaped like a checkpoint (float32 in and out)."""

    def __init__(self, fn, g):
        super().__init__()
        self.fn, self.sigma_min, self.sigma_max, self.sigma_data = fn, g.sigma_min, g.sigma_max, g.sigma_data

    def forward(self, x, sigma):
        return self.fn(x.double(), torch.as_tensor(sigma, dtype=torch.float64)).float()


def assert_ok(ex: widgets.Explorer) -> None:
    assert ex.status == "ok", ex.problem
    assert ex.message.value == ex.problem == ""
    assert ex.png.startswith(PNG)


def assert_invalid(ex: widgets.Explorer, text: str, last_png: bytes) -> None:
    assert ex.status == "invalid"
    assert text in ex.problem and html.escape(ex.problem, quote=False) in ex.message.value
    assert "Traceback" not in ex.message.value
    assert ex.png == last_png  # the last good figure stays


# ---------------------------------------------------------------------------------------------- schedule


def test_schedule_explorer_redraws_on_every_control():
    ex = widgets.schedule_explorer()
    assert_ok(ex)
    for name, value in [("N", 40), ("rho", 3.0), ("sigma_min", 0.01), ("sigma_max", 10.0), ("family", "geometric")]:
        before = ex.png
        ex.controls[name].value = value
        assert_ok(ex)
        assert ex.png != before, name
    assert "geometric" in ex.info.value and "40 levels" in ex.info.value
    assert ex.controls["rho"].disabled  # rho means nothing for the geometric schedule


def test_schedule_explorer_plots_the_canonical_levels():
    ex = widgets.schedule_explorer()
    ex.controls["N"].value = 7
    levels = ex.fig.axes[0].lines[0].get_ydata()
    assert levels == pytest.approx(schedules.karras_sigmas(7, 0.002, 80.0, 7.0).numpy().tolist())
    gaps = ex.fig.axes[1].lines[0].get_ydata()
    assert gaps == pytest.approx((levels[:-1] - levels[1:]).tolist())
    curriculum = ex.fig.axes[2].lines[0].get_ydata()
    assert curriculum[0] == 2 and curriculum[-1] == 7  # s0 = 2 levels at first, N at the end


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"sigma_min": 5.0, "sigma_max": 1.0}, "sigma_min must be < sigma_max"),
        ({"sigma_min": 2.0, "sigma_max": 2.0}, "sigma_min must be < sigma_max"),
        ({"N": 1}, "N must be at least 2"),
    ],
)
def test_schedule_explorer_rejects_bad_input_and_keeps_the_figure(changes, message):
    ex = widgets.schedule_explorer()
    ex.controls["sigma_max"].value = 10.0
    *first, (last_name, last_value) = changes.items()
    for name, value in first:  # still valid
        ex.controls[name].value = value
    assert_ok(ex)
    good = ex.png
    ex.controls[last_name].value = last_value
    assert_invalid(ex, message, good)
    ex.controls["N"].value, ex.controls["sigma_min"].value, ex.controls["sigma_max"].value = 12, 0.01, 50.0
    assert_ok(ex)  # a valid value clears the message and redraws
    assert ex.png != good


# ---------------------------------------------------------------------------------------------- steps


def test_step_levels_follow_the_package():
    assert widgets.step_levels("course", 3, "", 0.002, 80.0, 0.5) == samplers.multistep_sigmas(3, 0.002, 80.0, 0.5)
    karras = widgets.step_levels("karras", 4, "", 0.002, 80.0, 0.5)
    assert karras == pytest.approx(schedules.karras_sigmas(5, 0.002, 80.0, 7.0)[:-1].tolist())
    assert widgets.step_levels("geometric", 1, "", 0.002, 80.0, 0.5) == [80.0]
    assert widgets.step_levels("hand", 7, "2.0, 0.6", 0.002, 80.0, 0.5) == [80.0, 2.0, 0.6]  # steps from the list
    assert widgets.step_levels("hand", 7, "", 0.002, 80.0, 0.5) == [80.0]
    assert widgets.teacher_levels(1, 0.002, 80.0).tolist() == [80.0, 0.0]
    assert len(widgets.teacher_levels(18, 0.002, 80.0)) == 19


def test_step_explorer_redraws_and_prints_w1_and_floor(tiny):
    cms, teacher = tiny
    ex = widgets.step_explorer(cms, teacher)
    assert_ok(ex)
    assert "noise floor" in ex.info.value and "W1" in ex.info.value
    for name, value in [("steps", 3), ("placement", "karras"), ("teacher_steps", 5), ("model", "CT")]:
        before = ex.png
        ex.controls[name].value = value
        assert_ok(ex)
        assert ex.png != before, name
    assert "CT" in ex.fig.texts[0].get_text()  # the suptitle names the model and its levels


def test_step_explorer_samples_with_the_levels_shown(tiny):
    cms, teacher = tiny
    ex = widgets.step_explorer(cms["CD"], teacher)
    ex.controls["placement"].value = "hand"
    assert ex.controls["steps"].disabled and not ex.controls["hand"].disabled
    ex.controls["hand"].value = "3, 0.4"
    assert_ok(ex)
    assert "80, 3, 0.4" in ex.fig.texts[0].get_text()
    g = torch.Generator().manual_seed(widgets.SEED)
    expected = samplers.sample_consistency(cms["CD"], samplers.noise(widgets.N_POINTS, 2, 80.0, g), [80.0, 3.0, 0.4], generator=g)
    shown = ex.fig.axes[1].collections[0].get_offsets()
    assert shown == pytest.approx(expected.numpy(), abs=1e-6)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("0.5, 2.0", "intermediate sigmas must be decreasing"),
        ("1.0, 1.0", "intermediate sigmas must be decreasing"),
        ("100, 1", "must lie between"),
        ("0.001", "must lie between"),
        ("1.5, abc", "could not read 'abc' as a number"),
        (", ".join(["1"] * 10), "at most 9 intermediate sigmas"),
    ],
)
def test_step_explorer_rejects_bad_hand_levels(text, message, tiny):
    cms, teacher = tiny
    ex = widgets.step_explorer(cms, teacher)
    ex.controls["placement"].value = "hand"
    good = ex.png
    ex.controls["hand"].value = text
    assert_invalid(ex, message, good)


# ---------------------------------------------------------------------------------------------- trajectories


def test_trajectory_explorer_redraws_on_every_control(tiny):
    cms, teacher = tiny
    ex = widgets.trajectory_explorer(cms, teacher)
    assert_ok(ex)
    for name, value in [("sigma", 0.5), ("sigma", 40.0), ("n_points", 5), ("model", "CT")]:
        before = ex.png
        ex.controls[name].value = value
        assert_ok(ex)
        assert ex.png != before, name
    assert len(ex.fig.axes[1].collections[1].get_segments()) == 5  # one ODE path per point


def test_trajectory_explorer_shows_the_consistency_property_of_an_exact_model(gaussian):
    """With the closed-form Gaussian teacher and consistency function, f(x_t, t) is the path's end for every t."""
    g = gaussian
    ex = widgets.trajectory_explorer(Exact(g.consistency_function, g), Exact(g.denoiser, g))
    for sigma in (0.3, 5.0):
        ex.controls["sigma"].value = sigma
        assert_ok(ex)
        errors = [seg[:, 1] for seg in ex.fig.axes[2].collections[0].get_segments()]
        assert max(e.max() for e in errors) < 0.02  # only Heun's discretization error is left
        assert "on average <b>0.0" in ex.info.value


# ---------------------------------------------------------------------------------------------- robustness


class Breaks(nn.Module):
    """A consistency model that works until ``broken`` is set, then raises."""

    def __init__(self, inner: nn.Module):
        super().__init__()
        self.inner, self.broken = inner, False
        self.sigma_min, self.sigma_max, self.sigma_data = inner.sigma_min, inner.sigma_max, inner.sigma_data

    def forward(self, x, sigma):
        if self.broken:
            raise RuntimeError("the model broke")
        return self.inner(x, sigma)


@pytest.mark.parametrize("factory", [widgets.step_explorer, widgets.trajectory_explorer])
def test_an_exception_in_a_callback_becomes_a_short_message(factory, tiny):
    cms, teacher = tiny
    model = Breaks(cms["CD"])
    ex = factory(model, teacher)
    good = ex.png
    model.broken = True
    control = "steps" if "steps" in ex.controls else "sigma"
    ex.controls[control].value = 5 if control == "steps" else 0.7  # raises inside the callback, not here
    assert ex.status == "error"
    assert "RuntimeError: the model broke" in ex.problem
    assert ex.png == good
    model.broken = False
    ex.controls[control].value = 6 if control == "steps" else 0.9
    assert_ok(ex)


def _pixels(png: bytes) -> np.ndarray:
    return np.asarray(PIL.Image.open(io.BytesIO(png)).convert("RGB"))


@pytest.mark.slow  # renders every control twice: make test (and the ipywidgets-floor run) only
@pytest.mark.parametrize("name", ["schedule_explorer", "step_explorer", "trajectory_explorer"])
def test_partial_redraws_match_a_full_redraw(name, tiny):
    """Redraws repaint only what changed (blitting); after many changes the figure is still pixel-exact."""
    cms, teacher = tiny
    cms = {"distilled (CD)": cms["CD"], "trained from scratch (CT)": cms["CT"]}
    factory = {"schedule_explorer": widgets.schedule_explorer,
               "step_explorer": lambda: widgets.step_explorer(cms, teacher),
               "trajectory_explorer": lambda: widgets.trajectory_explorer(cms, teacher)}[name]
    ex = factory()
    extra = {"schedule_explorer": [("N", 150), ("N", 12), ("sigma_min", 0.0001), ("sigma_max", 1000.0)],
             "step_explorer": [("steps", 10)], "trajectory_explorer": [("sigma", 0.01), ("sigma", 80.0), ("n_points", 3)]}
    for control, value in widgets._CHANGES[name] + extra[name]:
        ex.controls[control].value = value
        assert_ok(ex)
    partial = ex.png
    ex._background = None  # forget the background: draw everything
    ex.redraw()
    assert np.array_equal(_pixels(partial), _pixels(ex.png))


def test_text_repr_is_short_and_stable():
    ex = widgets.schedule_explorer()
    assert repr(ex) == "Schedule explorer (an interactive widget: run the notebook in JupyterLab to use it)"
    assert ex._repr_mimebundle_()["text/plain"] == repr(ex)


@pytest.mark.slow  # renders every control twice: make test (and the ipywidgets-floor run) only
def test_latency_samples_time_every_change(tiny):
    cms, teacher = tiny
    cms = {"distilled (CD)": cms["CD"], "trained from scratch (CT)": cms["CT"]}
    samples = widgets.latency_samples({
        "schedule_explorer": widgets.schedule_explorer,
        "trajectory_explorer": lambda: widgets.trajectory_explorer(cms, teacher),
    })
    assert len(samples["schedule_explorer"]) == len(widgets._CHANGES["schedule_explorer"])
    assert len(samples["trajectory_explorer"]) == len(widgets._CHANGES["trajectory_explorer"])
    assert all(ms > 0 for ms in samples["schedule_explorer"] + samples["trajectory_explorer"])


# ---------------------------------------------------------------------------------------------- digits


class Always(nn.Module):
    """A classifier that reads every image as ``digit`` with probability ``p``."""

    def __init__(self, digit: int, p: float = 1.0):
        super().__init__()
        self.digit, self.p = digit, p

    def forward(self, x):
        out = torch.full((x.shape[0], 10), (1 - self.p) / 9)
        out[:, self.digit] = self.p
        return out


@pytest.fixture
def digit_models():
    """A random tiny guided consistency model on a 20-number PCA code of the digits, and a random classifier."""
    from cmlesson import data
    from cmlesson.frontier import classifier, latent, lcm
    from cmlesson.frontier.guidance import ConditionedMLP

    torch.manual_seed(0)
    backbone = ConditionedMLP(20, widgets_tiny_net())
    nn.init.normal_(backbone.out.weight, std=0.3)
    nn.init.normal_(backbone.label.weight)
    cm = lcm.consistency_model_from(EDMDenoiser(backbone, 1.0, 0.002, 80.0), 4.0).eval()
    nn.init.normal_(cm.backbone.guidance[1].weight)
    x, _ = data.digits()
    return cm, latent.PCACodec.fit(x[:300], 20), classifier.DigitClassifier().eval()


def widgets_tiny_net():
    from cmlesson.config import NetworkConfig

    return NetworkConfig(hidden=16, depth=2)


def test_digit_explorer_redraws_on_every_control(digit_models):
    ex = widgets.digit_explorer(*digit_models)
    assert_ok(ex)
    for name, value in [("w", 3.0), ("steps", 4), ("digits", "1, 4, 7"), ("seed", 5)]:
        before = ex.png
        ex.controls[name].value = value
        assert_ok(ex)
        assert ex.png != before, name
    assert "asked for 1, 4, 7" in ex.fig.axes[0].get_title() and "4 steps" in ex.fig.axes[0].get_title()


def test_digit_explorer_shows_the_models_samples_and_the_classifiers_reading(digit_models):
    from cmlesson.frontier import lcm

    cm, codec, _ = digit_models
    ex = widgets.digit_explorer(cm, codec, Always(7))
    ex.controls["steps"].value = 1
    ex.controls["seed"].value = 3
    labels = widgets.digit_tiles([7])
    g = torch.Generator().manual_seed(3)
    z = lcm.sample_guided_consistency(cm, samplers.noise(32, 20, cm.sigma_max, g), [cm.sigma_max], labels, 2.0, generator=g)
    expected = widgets._mosaic(codec.decode(z).clamp(-1, 1).numpy())
    shown = ex.fig.axes[0].images[0].get_array()
    assert np.allclose(shown, expected, atol=1e-5)
    assert "32 of 32</b> tiles read as the requested digit" in ex.info.value
    assert {t.get_text() for t in ex.fig.axes[0].texts} == {"7"}
    ink = np.argwhere(np.abs(shown - -1.0) > 1e-6)  # (row, column) of every pixel a tile drew
    for t in ex.fig.axes[0].texts:  # each reading sits in the blank strip under its tile, on no drawn pixel
        x, y = t.get_position()
        rows = ink[np.abs(ink[:, 1] - x) <= 2, 0]
        assert not np.any(np.abs(rows - y) <= 1.5), (x, y)
        assert shown[round(y), round(x)] == -1.0
    ex.controls["digits"].value = "3"
    assert "0 of 32</b> tiles read as the requested digit" in ex.info.value
    unsure = widgets.digit_explorer(cm, codec, Always(7, p=0.5))
    assert {t.get_text() for t in unsure.fig.axes[0].texts} == {"?"}  # below 0.9 confidence
    assert "0 of 32</b> with confidence" in unsure.info.value


def test_digit_tiles_give_each_requested_digit_whole_rows():
    assert widgets.digit_tiles([7]).tolist() == [7] * 32
    assert widgets.digit_tiles([1, 4]).tolist() == [1] * 16 + [4] * 16
    assert widgets.digit_tiles([1, 4, 7]).reshape(4, 8)[:, 0].tolist() == [1, 1, 4, 7]
    assert widgets.digit_tiles([0, 1, 2, 3]).reshape(4, 8)[:, 0].tolist() == [0, 1, 2, 3]


@pytest.mark.parametrize(("text", "message"), [("x", "type one to 4 digits"), ("", "type one to 4 digits"),
                                               ("12", "type one to 4 digits"), ("1,2,3,4,5", "at most 4")])
def test_digit_explorer_rejects_bad_digits_and_keeps_the_figure(text, message, digit_models):
    ex = widgets.digit_explorer(*digit_models)
    good = ex.png
    ex.controls["digits"].value = text
    assert_invalid(ex, message, good)
    ex.controls["digits"].value = "5"
    assert_ok(ex)


def test_digit_explorer_rejects_a_negative_seed(digit_models):
    ex = widgets.digit_explorer(*digit_models)
    good = ex.png
    ex.controls["seed"].value = -1
    assert_invalid(ex, "noise seed", good)


def test_new_samples_button_draws_fresh_noise(digit_models):
    ex = widgets.digit_explorer(*digit_models)
    before = ex.png
    button = ex.children[2].children[2]
    button.click()
    assert ex.controls["seed"].value == 1
    assert_ok(ex)
    assert ex.png != before


def test_digit_explorer_turns_an_exception_into_a_short_message(digit_models):
    cm, codec, classifier = digit_models

    class Broken(nn.Module):
        broken = False

        def forward(self, x):
            if self.broken:
                raise RuntimeError("the judge broke")
            return classifier(x)

    judge = Broken()
    ex = widgets.digit_explorer(cm, codec, judge)
    good = ex.png
    judge.broken = True
    ex.controls["steps"].value = 3
    assert ex.status == "error" and "RuntimeError: the judge broke" in ex.problem and ex.png == good


@pytest.mark.slow  # renders every control twice: make test (and the ipywidgets-floor run) only
def test_digit_explorer_partial_redraws_match_a_full_redraw(digit_models):
    ex = widgets.digit_explorer(*digit_models)
    for control, value in widgets._CHANGES["digit_explorer"]:
        ex.controls[control].value = value
        assert_ok(ex)
    partial = ex.png
    ex._background = None
    ex.redraw()
    assert np.array_equal(_pixels(partial), _pixels(ex.png))


def test_latency_samples_time_the_digit_explorer(digit_models):
    samples = widgets.latency_samples({"digit_explorer": lambda: widgets.digit_explorer(*digit_models)})
    assert len(samples["digit_explorer"]) == len(widgets._CHANGES["digit_explorer"])
    assert all(ms > 0 for ms in samples["digit_explorer"])
