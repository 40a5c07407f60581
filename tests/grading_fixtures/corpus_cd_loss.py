"""Student code for notebook 02's distillation loss (cd_loss); merged into corpus.py."""

_RIGHT = """\
def cd_loss_student(model, target_model, teacher, x0, sigmas, *, ode_step, generator):
    i = torch.randint(0, len(sigmas) - 1, (x0.shape[0],), generator=generator)
    hi, lo = sigmas[i], sigmas[i + 1]
    x_hi = x0 + hi[:, None] * torch.randn(x0.shape, generator=generator)
    with torch.no_grad():
        x_lo = ode_step(teacher, x_hi, hi, lo)
        target = target_model(x_lo, lo)
    return (model(x_hi, hi) - target).pow(2).sum(1).mean()
"""

CORRECT = {"cd_loss": _RIGHT}

STUBS = {"cd_loss": """\
def cd_loss_student(model, target_model, teacher, x0, sigmas, *, ode_step, generator):
    # YOUR CODE HERE
    return not_done(torch.tensor(0.0))
"""}

WRONG = {"cd_loss": {
    "reversed": _RIGHT.replace("        target = target_model(x_lo, lo)\n    return (model(x_hi, hi) - target)",
                               "        target = target_model(x_hi, hi)\n    return (model(x_lo, lo) - target)"),
    "grad_to_target": _RIGHT.replace("        target = target_model(x_lo, lo)\n", "    target = target_model(x_lo, lo)\n"),
    "euler": _RIGHT.replace("x_lo = ode_step(teacher, x_hi, hi, lo)",
                            "x_lo = x_hi + (lo - hi)[:, None] * (x_hi - teacher(x_hi, hi)) / hi[:, None]"),
    "wrong_way": _RIGHT.replace("ode_step(teacher, x_hi, hi, lo)", "ode_step(teacher, x_hi, lo, hi)"),
    "fresh_noise": _RIGHT.replace("x_lo = ode_step(teacher, x_hi, hi, lo)",
                                  "x_lo = x0 + lo[:, None] * torch.randn(x0.shape, generator=generator)"),
    "same_noise": _RIGHT.replace("    x_hi = x0 + hi[:, None] * torch.randn(x0.shape, generator=generator)\n",
                                 "    z = torch.randn(x0.shape, generator=generator)\n    x_hi = x0 + hi[:, None] * z\n")
                        .replace("x_lo = ode_step(teacher, x_hi, hi, lo)", "x_lo = x0 + lo[:, None] * z"),
    "mean": _RIGHT.replace(".pow(2).sum(1).mean()", ".pow(2).mean()"),
    "batch_sum": _RIGHT.replace(".pow(2).sum(1).mean()", ".pow(2).sum()"),
    "vs_x0": _RIGHT.replace("(model(x_hi, hi) - target)", "(model(x_hi, hi) - x0)"),
    "noise_first": _RIGHT.replace(
        "    i = torch.randint(0, len(sigmas) - 1, (x0.shape[0],), generator=generator)\n"
        "    hi, lo = sigmas[i], sigmas[i + 1]\n"
        "    x_hi = x0 + hi[:, None] * torch.randn(x0.shape, generator=generator)\n",
        "    z = torch.randn(x0.shape, generator=generator)\n"
        "    i = torch.randint(0, len(sigmas) - 1, (x0.shape[0],), generator=generator)\n"
        "    hi, lo = sigmas[i], sigmas[i + 1]\n"
        "    x_hi = x0 + hi[:, None] * z\n"),
    "online_as_target": _RIGHT.replace("target = target_model(x_lo, lo)", "target = model(x_lo, lo)"),
    "online_as_target_with_grad": _RIGHT.replace("        target = target_model(x_lo, lo)\n",
                                                 "    target = model(x_lo, lo)\n"),
    "lesson": """\
def cd_loss_student(model, target_model, teacher, x0, sigmas, *, ode_step, generator):
    i = torch.randint(0, len(sigmas) - 1, (x0.shape[0],), generator=generator)
    hi, lo = sigmas[i], sigmas[i + 1]
    x_lo = x0 + lo[:, None] * torch.randn(x0.shape, generator=generator)
    with torch.no_grad():
        x_hi = x_lo + (hi - lo)[:, None] * (x_lo - teacher(x_lo, lo)) / lo[:, None]
        target = target_model(x_hi, hi)
    return torch.nn.functional.mse_loss(model(x_lo, lo), target)
""",
    "reversed_with_grad": _RIGHT.replace("        target = target_model(x_lo, lo)\n    return (model(x_hi, hi) - target)",
                                         "    target = target_model(x_hi, hi)\n    return (model(x_lo, lo) - target)"),
    "target_on_x_hi": _RIGHT.replace("target = target_model(x_lo, lo)", "target = target_model(x_hi, lo)"),
    "step_from_x0": _RIGHT.replace("ode_step(teacher, x_hi, hi, lo)", "ode_step(teacher, x0, hi, lo)"),
    "not_squared": _RIGHT.replace(".pow(2).sum(1).mean()", ".norm(dim=1).mean()"),
    "l1": _RIGHT.replace(".pow(2).sum(1).mean()", ".abs().sum(1).mean()"),
}}
