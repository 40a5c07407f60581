"""Student code for notebook 01's design exercise, the intermediate level of 2-step sampling; merged into corpus.py."""

CORRECT = {"two_step": """\
# Why: of the order of sigma_data the noise washes out the first jump's errors and still leaves x_hat recognisable.
two_step_tau = 1.0
"""}

STUBS = {"two_step": """\
# YOUR CODE HERE
two_step_tau = not_done(1.0)
"""}

WRONG = {"two_step": {
    "tensor": "two_step_tau = torch.tensor(1.0)\n",
    "array": "two_step_tau = np.array([1.0, 2.0])\n",
    "levels_list": "two_step_tau = [80.0, 1.0]\n",
    "string": 'two_step_tau = "1.0"\n',
    "below_min": "two_step_tau = 0.001\n",
    "at_min": "two_step_tau = 0.002\n",
    "above_max": "two_step_tau = 100.0\n",
    "at_max": "two_step_tau = 80.0\n",
    "nan": 'two_step_tau = float("nan")\n',
    "near_min": "two_step_tau = 0.002 * 1.01\n",
    "near_max": "two_step_tau = 79.0\n",
    "high": "two_step_tau = 10.0\n",
}}
