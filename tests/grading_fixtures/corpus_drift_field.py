"""Student code for notebook 11's exercise, the drift field; merged into corpus.py."""

CORRECT = {"drift_field": """\
def drift_student(y, x, temperature):
    with torch.no_grad():
        n = y.shape[0]
        logits = -torch.cdist(y, torch.cat([y, x])) / temperature
        logits[:, :n].fill_diagonal_(float("-inf"))
        a = (logits.softmax(dim=1) * logits.softmax(dim=0)).sqrt()
        a_gen, a_data = a[:, :n], a[:, n:]
        w_data = a_data * a_gen.sum(1, keepdim=True)
        w_gen = a_gen * a_data.sum(1, keepdim=True)
        return w_data @ x - w_gen @ y
"""}

STUBS = {"drift_field": """\
def drift_student(y, x, temperature):
    # YOUR CODE HERE
    return not_done(torch.zeros_like(y))
"""}

_C = CORRECT["drift_field"]

WRONG = {"drift_field": {
    "self_pair": _C.replace('        logits[:, :n].fill_diagonal_(float("-inf"))\n', ""),
    "repulsion_sign": _C.replace("return w_data @ x - w_gen @ y", "return w_data @ x + w_gen @ y"),
    "no_repulsion": _C.replace("return w_data @ x - w_gen @ y", "return w_data @ x - w_data.sum(1, keepdim=True) * y"),
    "rows_only": _C.replace("(logits.softmax(dim=1) * logits.softmax(dim=0)).sqrt()", "logits.softmax(dim=1)"),
    "columns_only": _C.replace("(logits.softmax(dim=1) * logits.softmax(dim=0)).sqrt()", "logits.softmax(dim=0)"),
    "unnormalised": _C.replace("(logits.softmax(dim=1) * logits.softmax(dim=0)).sqrt()", "logits.exp()"),
    "squared": _C.replace("-torch.cdist(y, torch.cat([y, x])) / temperature",
                          "-torch.cdist(y, torch.cat([y, x])).pow(2) / temperature"),
    "no_stop_gradient": _C.replace("    with torch.no_grad():\n", "    if True:\n"),
    "nan_mask": _C.replace('fill_diagonal_(float("-inf"))', 'fill_diagonal_(float("nan"))'),
    "other": _C.replace("return w_data @ x - w_gen @ y", "return 0.5 * (w_data @ x - w_gen @ y)"),
}}
