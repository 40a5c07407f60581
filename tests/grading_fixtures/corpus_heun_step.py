"""Student code for notebook 02's Heun step with levels as floats or one per row; merged into corpus.py.

It replaces corpus.py's heun_step entries: the step now also takes a (batch,) level per row, the way the
distillation loss calls it, so the right answer makes the levels a column.
"""

_RIGHT = """\
def heun_step_student(denoiser, x, sigma, sigma_next):
    s = torch.as_tensor(sigma).reshape(-1, 1)
    s_next = torch.as_tensor(sigma_next).reshape(-1, 1)
    d = (x - denoiser(x, sigma)) / s
    x_euler = x + (s_next - s) * d
    d_next = (x_euler - denoiser(x_euler, sigma_next)) / s_next
    return x + (s_next - s) * (d + d_next) / 2
"""

CORRECT = {"heun_step": _RIGHT}

STUBS = {"heun_step": """\
def heun_step_student(denoiser, x, sigma, sigma_next):
    # YOUR CODE HERE
    return not_done(torch.zeros_like(x))
"""}

WRONG = {"heun_step": {
    "euler": """\
def heun_step_student(denoiser, x, sigma, sigma_next):
    return x + (sigma_next - sigma) * (x - denoiser(x, sigma)) / sigma
""",
    "no_half": _RIGHT.replace("(d + d_next) / 2", "(d + d_next)"),
    "floats_only": """\
def heun_step_student(denoiser, x, sigma, sigma_next):
    d = (x - denoiser(x, sigma)) / sigma
    x_euler = x + (sigma_next - sigma) * d
    d_next = (x_euler - denoiser(x_euler, sigma_next)) / sigma_next
    return x + (sigma_next - sigma) * (d + d_next) / 2
""",
    "slope_at_start": _RIGHT.replace("d_next = (x_euler - denoiser(x_euler, sigma_next)) / s_next",
                                     "d_next = (x - denoiser(x, sigma_next)) / s_next"),
    "wrong_way": _RIGHT.replace("x_euler = x + (s_next - s) * d", "x_euler = x + (s - s_next) * d")
                       .replace("return x + (s_next - s) * (d + d_next) / 2", "return x + (s - s_next) * (d + d_next) / 2"),
    "second_alone": _RIGHT.replace("(d + d_next) / 2", "d_next"),
    "slope_sign": _RIGHT.replace("(x - denoiser(x, sigma))", "(denoiser(x, sigma) - x)")
                        .replace("(x_euler - denoiser(x_euler, sigma_next))", "(denoiser(x_euler, sigma_next) - x_euler)"),
    "euler_up": _RIGHT.replace("x_euler = x + (s_next - s) * d", "x_euler = x + (s - s_next) * d"),
    "last_step_up": _RIGHT.replace("return x + (s_next - s)", "return x + (s - s_next)"),
    "from_euler": _RIGHT.replace("return x + (s_next - s)", "return x_euler + (s_next - s)"),
    "second_divided_by_sigma": _RIGHT.replace("denoiser(x_euler, sigma_next)) / s_next", "denoiser(x_euler, sigma_next)) / s"),
    "second_denoiser_at_sigma": _RIGHT.replace("denoiser(x_euler, sigma_next)", "denoiser(x_euler, sigma)"),
    "second_at_sigma": _RIGHT.replace("denoiser(x_euler, sigma_next)) / s_next", "denoiser(x_euler, sigma)) / s"),
    "first_divided_by_next": _RIGHT.replace("denoiser(x, sigma)) / s\n", "denoiser(x, sigma)) / s_next\n"),
    "first_denoiser_at_next": _RIGHT.replace("denoiser(x, sigma)) / s\n", "denoiser(x, sigma_next)) / s\n"),
    "no_division": _RIGHT.replace(") / s\n", ")\n").replace(") / s_next\n", ")\n"),
    "sigma_squared": _RIGHT.replace(") / s\n", ") / s**2\n").replace(") / s_next\n", ") / s_next**2\n"),
}}
