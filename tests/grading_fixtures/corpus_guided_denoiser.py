"""Student code for notebook 09's exercise, the guided denoiser; merged into corpus.py."""

CORRECT = {"guided_denoiser": """\
def guided_denoiser_student(denoiser, x, sigma, label, w):
    d_cond = denoiser(x, sigma, label)
    d_uncond = denoiser(x, sigma, torch.full_like(label, 10))
    return d_uncond + w * (d_cond - d_uncond)
"""}

STUBS = {"guided_denoiser": """\
def guided_denoiser_student(denoiser, x, sigma, label, w):
    # YOUR CODE HERE
    return not_done(denoiser(x, sigma, label))
"""}

_RIGHT = CORRECT["guided_denoiser"]
_MIX = "    return d_uncond + w * (d_cond - d_uncond)\n"


def _mix(line: str) -> str:
    return _RIGHT.replace(_MIX, f"    return {line}\n")


WRONG = {"guided_denoiser": {
    "swapped": _mix("d_cond + w * (d_uncond - d_cond)"),
    "one_minus_w": _mix("(1 - w) * d_cond + w * d_uncond"),
    "ho_salimans": _mix("(1 + w) * d_cond - w * d_uncond"),
    "minus_one": _mix("d_uncond + (w - 1) * (d_cond - d_uncond)"),
    "noisy_x": _mix("x + w * (d_cond - x)"),
    "noisy_x_shift": _mix("x + w * (d_cond - d_uncond)"),
    "label_zero": _RIGHT.replace("torch.full_like(label, 10)", "torch.zeros_like(label)"),
    "label_nine": _RIGHT.replace("torch.full_like(label, 10)", "torch.full_like(label, 9)"),
    "label_minus_one": _RIGHT.replace("torch.full_like(label, 10)", "torch.full_like(label, -1)"),
    "cond_only": _mix("d_cond"),
    "uncond_only": _mix("d_uncond"),
    "float_label": _RIGHT.replace("torch.full_like(label, 10)", "torch.full_like(x[:, 0], 10.0)"),
}}

ALSO_CORRECT = {  # other right ways: one batch of both terms, the weights written out
    "one_batch": """\
def guided_denoiser_student(denoiser, x, sigma, label, w):
    n = x.shape[0]
    both = denoiser(torch.cat([x, x]), torch.cat([sigma, sigma]), torch.cat([label, torch.full_like(label, 10)]))
    d_cond, d_uncond = both[:n], both[n:]
    return d_uncond + w * (d_cond - d_uncond)
""",
    "weights": _mix("w * d_cond + (1 - w) * d_uncond"),
}
