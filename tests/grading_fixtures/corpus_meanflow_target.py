"""Student code for notebook 08's exercise, the MeanFlow target; merged into corpus.py."""

CORRECT = {"meanflow_target": """\
def meanflow_target_student(u, z, r, t, v):
    with torch.no_grad():
        _, dudt = torch.func.jvp(u, (z, r, t), (v, torch.zeros_like(r), torch.ones_like(t)))
    return v - (t - r)[:, None] * dudt
"""}

STUBS = {"meanflow_target": """\
def meanflow_target_student(u, z, r, t, v):
    # YOUR CODE HERE
    return not_done(v.clone())
"""}


def _right(body: str) -> str:
    return "def meanflow_target_student(u, z, r, t, v):\n" + body


WRONG = {"meanflow_target": {
    "sign": CORRECT["meanflow_target"].replace("return v - (t - r)", "return v + (t - r)"),
    "gap_reversed": CORRECT["meanflow_target"].replace("return v - (t - r)", "return v - (r - t)"),
    "grad_through": _right("""\
    _, dudt = torch.func.jvp(u, (z, r, t), (v, torch.zeros_like(r), torch.ones_like(t)))
    return v - (t - r)[:, None] * dudt
"""),
    "finite_difference": _right("""\
    eps = 1e-3
    with torch.no_grad():
        dudt = (u(z + eps * v, r, t + eps) - u(z, r, t)) / eps
    return v - (t - r)[:, None] * dudt
"""),
    "finite_difference_float64": _right("""\
    eps = 1e-6
    with torch.no_grad():
        z, r, t, v = z.double(), r.double(), t.double(), v.double()
        dudt = (u(z + eps * v, r, t + eps) - u(z - eps * v, r, t - eps)) / (2 * eps)
    return (v - (t - r)[:, None] * dudt).float()
"""),
    "along_r": CORRECT["meanflow_target"].replace("(v, torch.zeros_like(r), torch.ones_like(t))",
                                                 "(v, torch.ones_like(r), torch.zeros_like(t))"),
    "args_swapped": CORRECT["meanflow_target"].replace("torch.func.jvp(u, (z, r, t),", "torch.func.jvp(u, (z, t, r),"),
    "no_v": CORRECT["meanflow_target"].replace("(v, torch.zeros_like(r), torch.ones_like(t))",
                                              "(torch.zeros_like(v), torch.zeros_like(r), torch.ones_like(t))"),
    "z_ones": CORRECT["meanflow_target"].replace("(v, torch.zeros_like(r), torch.ones_like(t))",
                                                "(torch.ones_like(z), torch.zeros_like(r), torch.ones_like(t))"),
    "both_ends": CORRECT["meanflow_target"].replace("(v, torch.zeros_like(r), torch.ones_like(t))",
                                                   "(v, torch.ones_like(r), torch.ones_like(t))"),
    "no_time": CORRECT["meanflow_target"].replace("(v, torch.zeros_like(r), torch.ones_like(t))",
                                                 "(v, torch.zeros_like(r), torch.zeros_like(t))"),
    "no_gap": CORRECT["meanflow_target"].replace("return v - (t - r)[:, None] * dudt", "return v - dudt"),
    "no_column": CORRECT["meanflow_target"].replace("(t - r)[:, None]", "(t - r)"),
    "u_itself": _right("""\
    with torch.no_grad():
        return u(z, r, t)
"""),
}}

ALSO_CORRECT = {  # other right ways: autograd's double-backward JVP, forward-mode dual numbers
    "autograd_functional": _right("""\
    _, dudt = torch.autograd.functional.jvp(u, (z, r, t), (v, torch.zeros_like(r), torch.ones_like(t)))
    return (v - (t - r)[:, None] * dudt).detach()
"""),
    "forward_ad": _right("""\
    import torch.autograd.forward_ad as fwAD
    with torch.no_grad(), fwAD.dual_level():
        out = u(fwAD.make_dual(z, v), r, fwAD.make_dual(t, torch.ones_like(t)))
        dudt = fwAD.unpack_dual(out).tangent
    return v - (t - r)[:, None] * dudt
"""),
}
