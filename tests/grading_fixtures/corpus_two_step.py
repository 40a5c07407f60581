"""Student code for notebook 01's design exercise, the intermediate level of 2-step sampling; merged into corpus.py.

A right answer keeps the course's default level, written out (a light notebook imports nothing):
tests/test_ex_two_step.py checks that the number is ``two_step.default_tau()``.
"""

DEFAULT = 2.119709522109382  # samplers.multistep_sigmas(2, ...)[1] of the shipped distilled model

CORRECT = {"two_step": f"""\
# No level's paired gain over the default is beyond the noise: keep the default.
two_step_tau = {DEFAULT!r}
two_step_reason = "within the noise"
"""}

STUBS = {"two_step": """\
# YOUR CODE HERE
two_step_tau, two_step_reason = not_done(1.0), ""
"""}


def _answer(tau: str, reason: str = "beyond the noise") -> str:
    return f"two_step_tau = {tau}\ntwo_step_reason = {reason!r}\n"


WRONG = {"two_step": {
    "tensor": _answer("torch.tensor(1.0)"),
    "array": _answer("np.array([1.0, 2.0])"),
    "levels_list": _answer("[80.0, 1.0]"),
    "string": _answer('"1.0"'),
    "below_min": _answer("0.001"),
    "at_min": _answer("0.002"),
    "above_max": _answer("100.0"),
    "at_max": _answer("80.0"),
    "nan": _answer('float("nan")'),
    "no_reason": f"two_step_tau = {DEFAULT!r}\n",
    "other_reason": _answer(repr(DEFAULT), "smallest W1"),
    "reason_not_a_string": f"two_step_tau = {DEFAULT!r}\ntwo_step_reason = True\n",
    "reason_capitalised": _answer(repr(DEFAULT), "Within the noise."),
    "default_with_switch_reason": _answer(repr(DEFAULT), "beyond the noise"),
    "switch_with_keep_reason": _answer("0.894", "within the noise"),
    "switch_within_noise": _answer("0.894"),  # near sigma_data: its gain is within the noise in the scan
    "near_min": _answer("0.002 * 1.01"),
    "near_max": _answer("79.0"),
    "high": _answer("10.0"),
}}
