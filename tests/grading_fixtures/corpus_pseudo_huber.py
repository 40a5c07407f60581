"""Student code for notebook 06's exercise, the pseudo-Huber distance; merged into corpus.py."""

CORRECT = {"pseudo_huber": """\
def pseudo_huber_student(a, b):
    diff = (a - b).flatten(1)
    c = 0.00054 * math.sqrt(diff.shape[1])
    return torch.sqrt(diff.pow(2).sum(1) + c**2) - c
"""}

STUBS = {"pseudo_huber": """\
def pseudo_huber_student(a, b):
    # YOUR CODE HERE
    return not_done(torch.zeros(a.shape[0]))
"""}


def _with(body: str) -> str:
    return "def pseudo_huber_student(a, b):\n" + body


WRONG = {"pseudo_huber": {
    "no_minus_c": CORRECT["pseudo_huber"].replace("+ c**2) - c", "+ c**2)"),
    "c_unscaled": CORRECT["pseudo_huber"].replace("0.00054 * math.sqrt(diff.shape[1])", "0.00054"),
    "c_cifar": CORRECT["pseudo_huber"].replace("0.00054 * math.sqrt(diff.shape[1])", "0.00054 * math.sqrt(3072)"),
    "c_last_axis": CORRECT["pseudo_huber"].replace("math.sqrt(diff.shape[1])", "math.sqrt(a.shape[-1])"),
    "c_whole_batch": CORRECT["pseudo_huber"].replace("math.sqrt(diff.shape[1])", "math.sqrt(a.numel())"),
    "c_times_d": CORRECT["pseudo_huber"].replace("math.sqrt(diff.shape[1])", "diff.shape[1]"),
    "per_coordinate": CORRECT["pseudo_huber"].replace("torch.sqrt(diff.pow(2).sum(1) + c**2) - c",
                                                     "(torch.sqrt(diff.pow(2) + c**2) - c).sum(1)"),
    "mean_over_dims": CORRECT["pseudo_huber"].replace("diff.pow(2).sum(1)", "diff.pow(2).mean(1)"),
    "squared_inside": CORRECT["pseudo_huber"].replace("diff.pow(2).sum(1) + c**2", "diff.pow(2).sum(1) ** 2 + c**2"),
    "squared_distance": _with("    return (a - b).flatten(1).pow(2).sum(1)\n"),
    "length": _with("    return (a - b).flatten(1).norm(dim=1)\n"),
    "batch_mean": CORRECT["pseudo_huber"].replace("+ c**2) - c", "+ c**2).mean() - c"),
    "last_axis_only": _with("""\
    c = 0.00054 * math.sqrt(a[0].numel())
    return torch.sqrt((a - b).pow(2).sum(-1) + c**2) - c
"""),
    "numpy": _with("""\
    diff = (a - b).detach().flatten(1).numpy()
    c = 0.00054 * np.sqrt(diff.shape[1])
    return torch.from_numpy(np.sqrt((diff**2).sum(1) + c**2) - c)
"""),
}}

ALSO_CORRECT = {  # other right ways: the norm, float64, the cancellation-free form
    "norm": _with("""\
    n = torch.linalg.vector_norm(a - b, dim=tuple(range(1, a.ndim)))
    c = 0.00054 * a[0].numel() ** 0.5
    return torch.sqrt(n**2 + c**2) - c
"""),
    "float64": _with("""\
    sq = ((a.double() - b.double()) ** 2).reshape(len(a), -1).sum(dim=1)
    c = 0.00054 * math.sqrt(a[0].numel())
    return (torch.sqrt(sq + c * c) - c).float()
"""),
    "stable": _with("""\
    sq = (a - b).flatten(1).square().sum(1)
    c = 0.00054 * math.sqrt(a[0].numel())
    return sq / (torch.sqrt(sq + c**2) + c)
"""),
}
