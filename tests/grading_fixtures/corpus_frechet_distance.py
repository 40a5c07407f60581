"""Student code for notebook 07's exercise, the Fréchet distance; merged into corpus.py."""

CORRECT = {"frechet_distance": """\
def frechet_distance_student(a, b):
    mu_a, mu_b = a.mean(0), b.mean(0)
    s_a, s_b = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    w, v = np.linalg.eigh(s_a)
    root_a = (v * np.sqrt(np.clip(w, 0, None))) @ v.T
    cross = np.sqrt(np.clip(np.linalg.eigvalsh(root_a @ s_b @ root_a), 0, None)).sum()
    return float(((mu_a - mu_b) ** 2).sum() + np.trace(s_a) + np.trace(s_b) - 2 * cross)
"""}

STUBS = {"frechet_distance": """\
def frechet_distance_student(a, b):
    # YOUR CODE HERE
    return not_done(0.0)
"""}


def _with(cross: str) -> str:
    return CORRECT["frechet_distance"].replace(
        "    w, v = np.linalg.eigh(s_a)\n    root_a = (v * np.sqrt(np.clip(w, 0, None))) @ v.T\n"
        "    cross = np.sqrt(np.clip(np.linalg.eigvalsh(root_a @ s_b @ root_a), 0, None)).sum()\n", cross)


WRONG = {"frechet_distance": {
    "elementwise_root": _with("    cross = np.trace(np.sqrt(s_a @ s_b))\n"),
    "product_of_roots": _with("""\
    import scipy.linalg
    cross = np.trace(scipy.linalg.sqrtm(s_a) @ scipy.linalg.sqrtm(s_b)).real
"""),
    "no_root": _with("    cross = np.trace(s_a @ s_b)\n"),
    "diagonal": """\
def frechet_distance_student(a, b):
    mu_a, mu_b = a.mean(0), b.mean(0)
    sd_a, sd_b = a.std(0, ddof=1), b.std(0, ddof=1)
    return float(((mu_a - mu_b) ** 2).sum() + ((sd_a - sd_b) ** 2).sum())
""",
    "norm_not_squared": CORRECT["frechet_distance"].replace("((mu_a - mu_b) ** 2).sum()",
                                                            "np.linalg.norm(mu_a - mu_b)"),
    "no_mean": CORRECT["frechet_distance"].replace("((mu_a - mu_b) ** 2).sum() + ", ""),
    "square_root": CORRECT["frechet_distance"].replace("return float(", "return np.sqrt(").replace(
        "- 2 * cross)", "- 2 * cross)"),
    "rowvar": CORRECT["frechet_distance"].replace("np.cov(a, rowvar=False), np.cov(b, rowvar=False)",
                                                  "np.cov(a), np.cov(b)"),
    "biased": CORRECT["frechet_distance"].replace("np.cov(a, rowvar=False), np.cov(b, rowvar=False)",
                                                  "np.cov(a, rowvar=False, bias=True), np.cov(b, rowvar=False, bias=True)"),
    "tensor_of_the_wrong_thing": """\
def frechet_distance_student(a, b):
    return torch.cdist(torch.as_tensor(a), torch.as_tensor(b)).min(1).values.mean()
""",
}}

ALSO_CORRECT = {  # other right ways: scipy's matrix square root of the product, torch in float64
    "sqrtm": _with("""\
    import scipy.linalg
    cross = np.trace(scipy.linalg.sqrtm(s_a @ s_b)).real
"""),
    "torch": """\
def frechet_distance_student(a, b):
    a, b = torch.as_tensor(a, dtype=torch.float64), torch.as_tensor(b, dtype=torch.float64)
    s_a, s_b = torch.cov(a.T), torch.cov(b.T)
    eig = torch.linalg.eigvals(s_a @ s_b)
    return (a.mean(0) - b.mean(0)).pow(2).sum() + s_a.trace() + s_b.trace() - 2 * eig.sqrt().real.sum()
""",
}
