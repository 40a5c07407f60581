"""Student code for notebook 02's consistency function (consistency_function); merged into corpus.py."""

_RIGHT = """\
from cmlesson.parameterization import c_skip, c_out

def consistency_function_student(backbone, x, sigma, sigma_data, sigma_min):
    s = sigma[:, None]
    F = backbone(x / (s**2 + sigma_data**2).sqrt(), sigma.log() / 4)
    return c_skip(s, sigma_data, sigma_min) * x + c_out(s, sigma_data, sigma_min) * F
"""

CORRECT = {"consistency_function": _RIGHT}

STUBS = {"consistency_function": """\
def consistency_function_student(backbone, x, sigma, sigma_data, sigma_min):
    # YOUR CODE HERE
    return not_done(torch.zeros_like(x))
"""}

WRONG = {"consistency_function": {
    "no_c_in": _RIGHT.replace("backbone(x / (s**2 + sigma_data**2).sqrt(),", "backbone(x,"),
    "c_noise_sigma": _RIGHT.replace("sigma.log() / 4)", "sigma)"),
    "c_noise_column": _RIGHT.replace("sigma.log() / 4)", "s.log() / 4)"),
    "c_noise_no_quarter": _RIGHT.replace("sigma.log() / 4)", "sigma.log())"),
    "swapped": _RIGHT.replace("return c_skip(s, sigma_data, sigma_min) * x + c_out(s, sigma_data, sigma_min) * F",
                              "return c_out(s, sigma_data, sigma_min) * x + c_skip(s, sigma_data, sigma_min) * F"),
    "skip_on_scaled": _RIGHT.replace("    F = backbone(x / (s**2 + sigma_data**2).sqrt(), sigma.log() / 4)\n"
                                     "    return c_skip(s, sigma_data, sigma_min) * x",
                                     "    x_in = x / (s**2 + sigma_data**2).sqrt()\n"
                                     "    F = backbone(x_in, sigma.log() / 4)\n"
                                     "    return c_skip(s, sigma_data, sigma_min) * x_in"),
    "edm": _RIGHT.replace("c_skip(s, sigma_data, sigma_min)", "(sigma_data**2 / (s**2 + sigma_data**2))")
                 .replace("c_out(s, sigma_data, sigma_min)", "(s * sigma_data / (s**2 + sigma_data**2).sqrt())"),
    "no_c_out": _RIGHT.replace(" + c_out(s, sigma_data, sigma_min) * F", " + F"),
    "hardcoded_sigma_data": _RIGHT.replace("(s**2 + sigma_data**2).sqrt()", "(s**2 + 0.25).sqrt()"),
    "coefficients_sigma_data_05": _RIGHT.replace("c_skip(s, sigma_data, sigma_min) * x + c_out(s, sigma_data, sigma_min)",
                                                 "c_skip(s, 0.5, sigma_min) * x + c_out(s, 0.5, sigma_min)"),
    "coefficients_sigma_min_0002": _RIGHT.replace("c_skip(s, sigma_data, sigma_min) * x + c_out(s, sigma_data, sigma_min)",
                                                  "c_skip(s, sigma_data, 0.002) * x + c_out(s, sigma_data, 0.002)"),
    "coefficients_arguments_swapped": _RIGHT.replace(
        "c_skip(s, sigma_data, sigma_min) * x + c_out(s, sigma_data, sigma_min)",
        "c_skip(s, sigma_min, sigma_data) * x + c_out(s, sigma_min, sigma_data)"),
    "lesson": _RIGHT.replace("c_skip(s, sigma_data, sigma_min) * x + c_out(s, sigma_data, sigma_min) * F",
                             "sigma_min**2 / (s**2 + sigma_min**2) * x + s * sigma_min / (s**2 + sigma_min**2).sqrt() * F"),
    "minus_F": _RIGHT.replace("x + c_out(s, sigma_data, sigma_min) * F", "x - c_out(s, sigma_data, sigma_min) * F"),
    "c_in_shifted": _RIGHT.replace("(s**2 + sigma_data**2).sqrt(), sigma", "((s - sigma_min)**2 + sigma_data**2).sqrt(), sigma"),
    "c_in_times": _RIGHT.replace("x / (s**2 + sigma_data**2).sqrt()", "x * (s**2 + sigma_data**2).sqrt()"),
    "c_noise_shifted": _RIGHT.replace("sigma.log() / 4)", "(sigma - sigma_min).log() / 4)"),
}}
