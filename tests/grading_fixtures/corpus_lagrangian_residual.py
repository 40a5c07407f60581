"""Student code for notebook 10's exercise, the Lagrangian residual; merged into corpus.py."""

_HEAD = "def lagrangian_residual_student(model, z, s, t):\n"

CORRECT = {"lagrangian_residual": _HEAD + """\
    def flow_map(t_):
        return z + (t_ - s)[:, None] * model(z, s, s - t_)

    x, dxdt = torch.func.jvp(flow_map, (t,), (torch.ones_like(t),))
    with torch.no_grad():
        v = model(x, t, torch.zeros_like(t))
    return dxdt - v
"""}

STUBS = {"lagrangian_residual": _HEAD + """\
    # YOUR CODE HERE
    return not_done(torch.zeros_like(z))
"""}

_RIGHT = CORRECT["lagrangian_residual"]


def _swap(old: str, new: str) -> str:
    assert old in _RIGHT, old
    return _RIGHT.replace(old, new)


WRONG = {"lagrangian_residual": {
    "tangent_on_s": _HEAD + """\
    def flow_map(s_):
        return z + (t - s_)[:, None] * model(z, s_, s_ - t)

    x, dxds = torch.func.jvp(flow_map, (s,), (torch.ones_like(s),))
    with torch.no_grad():
        v = model(x, t, torch.zeros_like(t))
    return dxds - v
""",
    "no_stop_gradient": _swap("""\
    with torch.no_grad():
        v = model(x, t, torch.zeros_like(t))
""", """\
    v = model(x, t, torch.zeros_like(t))
"""),
    "target_at_start": _swap("v = model(x, t, torch.zeros_like(t))", "v = model(z, t, torch.zeros_like(t))"),
    "target_at_start_time_s": _swap("v = model(x, t, torch.zeros_like(t))", "v = model(z, s, torch.zeros_like(s))"),
    "target_time_s": _swap("v = model(x, t, torch.zeros_like(t))", "v = model(x, s, torch.zeros_like(s))"),
    "no_gap": _HEAD + """\
    u, dudt = torch.func.jvp(lambda t_: model(z, s, s - t_), (t,), (torch.ones_like(t),))
    x = z + (t - s)[:, None] * u
    with torch.no_grad():
        v = model(x, t, torch.zeros_like(t))
    return u + dudt - v
""",
    "no_product": _HEAD + """\
    u, dudt = torch.func.jvp(lambda t_: model(z, s, s - t_), (t,), (torch.ones_like(t),))
    x = z + (t - s)[:, None] * u
    with torch.no_grad():
        v = model(x, t, torch.zeros_like(t))
    return (t - s)[:, None] * dudt - v
""",
    "network_only": _HEAD + """\
    u, dudt = torch.func.jvp(lambda t_: model(z, s, s - t_), (t,), (torch.ones_like(t),))
    x = z + (t - s)[:, None] * u
    with torch.no_grad():
        v = model(x, t, torch.zeros_like(t))
    return dudt - v
""",
    "h_flipped": _swap("model(z, s, s - t_)", "model(z, s, t_ - s)"),
    "no_target": _swap("return dxdt - v", "return dxdt"),
    "no_graph": _swap("    x, dxdt = torch.func.jvp(flow_map, (t,), (torch.ones_like(t),))\n",
                      "    with torch.no_grad():\n        x, dxdt = torch.func.jvp(flow_map, (t,), (torch.ones_like(t),))\n"),
    "finite_difference": _HEAD + """\
    eps = 1e-3
    x = z + (t - s)[:, None] * model(z, s, s - t)
    x_eps = z + (t + eps - s)[:, None] * model(z, s, s - t - eps)
    with torch.no_grad():
        v = model(x, t, torch.zeros_like(t))
    return (x_eps - x) / eps - v
""",
    "no_column": _swap("(t_ - s)[:, None]", "(t_ - s)"),
}}

ALSO_CORRECT = {  # other right ways: the sign reversed (the loss squares it), autograd.forward_ad dual numbers
    "negated": _swap("return dxdt - v", "return v - dxdt"),
    "forward_ad": _HEAD + """\
    import torch.autograd.forward_ad as fwAD
    with fwAD.dual_level():
        t_dual = fwAD.make_dual(t, torch.ones_like(t))
        out = z + (t_dual - s)[:, None] * model(z, s, s - t_dual)
        x, dxdt = fwAD.unpack_dual(out)
    with torch.no_grad():
        v = model(x, t, torch.zeros_like(t))
    return dxdt - v
""",
}
