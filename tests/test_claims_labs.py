"""The labs' claims (notebooks 06-08), checked against what the executed solution notebooks print.

These were ``assert`` lines in the notebooks; a student read them, and they checked values the cells print anyway.
Each test reads a cell's printed output (found by the cell's id), parses the numbers the prose quotes, and checks
the claim with the bound the notebook used. Numbers are read as printed (two or three decimals).
"""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parent.parent
SOLUTIONS = ROOT / "solutions"
SCORE = r"(\d+\.\d+)x ± (\d+\.\d+)"  # a yardstick Score as printed: "1.70x ± 0.17"
DIFF = r"([+-]\d+\.\d+)x ± (\d+\.\d+), (beyond|within) the noise"  # a paired difference and its verdict


@cache
def _notebook(stem: str):
    (path,) = SOLUTIONS.glob(f"{stem}_*.ipynb")
    return nbformat.read(path, as_version=4)


def printed(stem: str, cell_id: str) -> str:
    """The stdout of the cell ``cell_id`` of solution notebook ``stem`` ("06", ...), as executed."""
    for cell in _notebook(stem).cells:
        if cell.get("id") == cell_id:
            text = "".join(o.get("text", "") for o in cell.get("outputs", []) if o.get("output_type") == "stream")
            assert text, f"notebook {stem}, cell {cell_id} printed nothing: execute the solution notebook"
            return text
    raise AssertionError(f"notebook {stem} has no cell {cell_id}")


class Diff:
    """A paired difference as printed: its value, standard error and verdict."""

    def __init__(self, value: str, se: str, verdict: str):
        self.value, self.se, self.beyond = float(value), float(se), verdict == "beyond"

    def __repr__(self) -> str:
        return f"{self.value:+.2f} ± {self.se:.2f} ({'beyond' if self.beyond else 'within'})"


def differences(text: str) -> dict[tuple[str, str, int], Diff]:
    """Every "a - b, k step(s): +0.33x ± 0.08, beyond the noise" line of ``text``, keyed (a, b, k)."""
    out = {}
    for m in re.finditer(r"^(.+?) - (.+?), (\d+) steps?: " + DIFF, text, flags=re.M):
        out[m.group(1), m.group(2), int(m.group(3))] = Diff(*m.group(4, 5, 6))
    return out


def test_the_parsers_read_what_the_yardstick_prints():
    d = differences("a (x) - b, 1 step: -0.58x ± 0.09, beyond the noise (|d| > 2 s.e.)\n"
                    "a (x) - b, 2 steps: +0.08x ± 0.02, within the noise (|d| <= 2 s.e.)")
    assert repr(d["a (x)", "b", 1]) == "-0.58 ± 0.09 (beyond)" and not d["a (x)", "b", 2].beyond
    assert re.findall(SCORE, "1 step 1.70x ± 0.17,  2 steps 1.50x ± 0.11") == [("1.70", "0.17"), ("1.50", "0.11")]


# --- 06: improved consistency training ------------------------------------------------------------------------

BASE, ICT, REMEDY = "CT (Song et al. 2023)", "iCT: all four changes", "iCT + half uniform levels (remedy)"
PH, LOGNORMAL, DOUBLING, NO_EMA = ("+ pseudo-Huber distance", "+ lognormal level sampling", "+ doubling curriculum",
                                   "+ no target EMA, 1/gap weighting")
SINGLES = (PH, LOGNORMAL, DOUBLING, NO_EMA)


@pytest.fixture(scope="module")
def nb06():
    text = printed("06", "06-31")
    r = {}
    for line in text.splitlines():
        m = re.match(r"^(.+?)\s+" + SCORE + r"\s+" + SCORE + r"$", line)
        if m:
            r[m.group(1)] = (float(m.group(2)), float(m.group(4)))
    assert set(r) == {BASE, *SINGLES, ICT, REMEDY}, sorted(r)
    return r, differences(text)


def test_06_each_change_alone_helps_one_step_and_hurts_two_steps_by_at_most_5_percent(nb06):
    r, d = nb06
    ct1, ct2 = r[BASE]
    for name in SINGLES:
        assert r[name][0] < ct1 and r[name][1] <= 1.05 * ct2, f"{name} alone should not be worse than CT: {r[name]}"
        assert d[name, BASE, 1].value < 0 and d[name, BASE, 1].beyond, f"{name}: its one-step gain beyond the noise"


def test_06_the_single_changes(nb06):
    r, d = nb06
    ct1, ct2 = r[BASE]
    assert r[PH][1] < 0.8 * ct2, "pseudo-Huber should help two-step samples clearly"
    assert d[PH, BASE, 2].beyond, "pseudo-Huber's two-step gain should be beyond the noise"
    assert abs(r[LOGNORMAL][0] / ct1 - 1) < 0.25, "lognormal alone should change CT's one-step samples little"
    assert r[NO_EMA][0] < 0.8 * ct1, "no EMA with the 1/gap weighting should help one step clearly"
    assert d[NO_EMA, BASE, 1].beyond, "no EMA + 1/gap: its one-step gain beyond the noise"
    assert min(SINGLES, key=lambda n: r[n][0]) == NO_EMA, "no EMA + 1/gap: best single change at 1 step"
    assert min(SINGLES, key=lambda n: r[n][1]) == PH, "pseudo-Huber: best single change at 2 steps"
    assert r[DOUBLING][0] < ct1, "the doubling curriculum alone should lower the one-step score"


def test_06_ict_beats_every_change_alone_beyond_the_noise(nb06):
    r, d = nb06
    ict1, ict2 = r[ICT]
    assert ict1 < min(r[n][0] for n in SINGLES) and ict2 < min(r[n][1] for n in SINGLES), "iCT should beat each alone"
    for name in SINGLES:
        for k in (1, 2):
            assert d[ICT, name, k].value < 0 and d[ICT, name, k].beyond, f"iCT - {name}, {k} steps: {d[ICT, name, k]}"


def test_06_the_remedy(nb06):
    r, d = nb06
    (ct1, _), (ict1, ict2), (rem1, rem2) = r[BASE], r[ICT], r[REMEDY]
    assert rem1 <= 2.0, f"the remedy should sample within 2x the noise floor in one step, got {rem1:.2f}x"
    assert rem2 <= 1.8, f"two steps of the remedy should stay within 1.8x the floor, got {rem2:.2f}x"
    assert rem1 < 0.9 * ict1 and d[REMEDY, ICT, 1].beyond, "the mixture should beat pure lognormal sampling at one step"
    assert (ict1 - rem1) / ict1 > (ict2 - rem2) / ict2 + 0.05, "the mixture should help one step more than two steps"
    assert ct1 > 1.5 * rem1 and d[BASE, REMEDY, 1].beyond, "the original CT should be far behind the remedy at one step"
    assert min(r, key=lambda n: r[n][0]) == REMEDY, "the remedy: the best one-step recipe of the notebook"


# --- 07: digits in one step: tests/test_claims_07.py ------------------------------------------------------------


# --- 08: continuous time and flow maps --------------------------------------------------------------------------

ICT08, SCT, SCT_PRIOR = "iCT + half uniform (notebook 6)", "sCT (Lu & Song 2024)", "sCT without adaptive weighting"
SHORTCUT, MEANFLOW = "shortcut model (Frans et al. 2024)", "MeanFlow (Geng et al. 2025)"


@pytest.fixture(scope="module")
def nb08():
    text = printed("08", "ff8fca21")
    rows = {}
    for line in text.splitlines():
        m = re.match(r"^(.+?)\s+" + r"\s+".join([SCORE] * 3) + r"\s+[\d,]+\s+\d+$", line)
        if m:
            v = [float(x) for x in m.groups()[1:]]
            rows[m.group(1)] = {1: (v[0], v[1]), 2: (v[2], v[3]), 4: (v[4], v[5])}
    assert set(rows) == {ICT08, SCT, SCT_PRIOR, SHORTCUT, MEANFLOW}, sorted(rows)
    best = re.search(r"best at one step: (.+)", text).group(1).strip()
    return rows, best, differences(text)


def test_08_the_shortcut_model_is_best_at_one_step_beyond_the_noise(nb08):
    rows, best, d = nb08
    sh = {k: v[0] for k, v in rows[SHORTCUT].items()}
    assert best == SHORTCUT, f"the shortcut model should be the best one-step method, got {best}"
    assert sh[1] <= 1.75, f"the shortcut model should sample within 1.75x the floor in one step, got {sh[1]:.2f}"
    assert sh[4] <= sh[1], "four shortcut jumps should not be worse than one"
    for name in rows:
        if name != SHORTCUT:
            assert d[name, SHORTCUT, 1].value > 0 and d[name, SHORTCUT, 1].beyond, f"{name}: {d[name, SHORTCUT, 1]}"


def test_08_sct(nb08):
    rows, _, _ = nb08
    sc, rem = rows[SCT], rows[ICT08]
    assert rows[SCT_PRIOR][1][0] >= 1.5 * sc[1][0], "without adaptive weighting one-step sCT should be far worse"
    assert sc[1][0] <= 2.2, f"sCT should sample within 2.2x the floor in one step, got {sc[1][0]:.2f}"
    # sCT and notebook 6's recipe are closer at one step than either standard error, and sCT's scores at 1, 2 and 4
    # steps differ by less than the larger of the two standard errors (the paired readings the text quotes:
    # tests/test_claims_08.py)
    assert abs(sc[1][0] - rem[1][0]) < min(sc[1][1], rem[1][1])
    for a, b in ((1, 2), (2, 4), (1, 4)):
        assert abs(sc[a][0] - sc[b][0]) < max(sc[a][1], sc[b][1]), f"sCT at {a} and {b} steps"


def test_08_adaptive_weighting_matters_at_one_step_not_at_four():
    d = differences(printed("08", "a8d571ab"))
    assert d[SCT_PRIOR, SCT, 1].value > 0 and d[SCT_PRIOR, SCT, 1].beyond, d[SCT_PRIOR, SCT, 1]
    assert not d[SCT_PRIOR, SCT, 4].beyond, d[SCT_PRIOR, SCT, 4]


def test_08_meanflow(nb08):
    rows, _, _ = nb08
    mf, rem = rows[MEANFLOW], rows[ICT08]
    assert 0.8 * rem[1][0] <= mf[1][0] <= 1.3 * rem[1][0], "MeanFlow should land near notebook 6's recipe at one step"
    # its four-step score is above its one-step score, by less than the two standard errors together (the paired
    # difference the text quotes: tests/test_claims_08.py)
    assert mf[1][0] < mf[4][0] < mf[1][0] + mf[1][1] + mf[4][1], mf


def test_08_renoising_spends_two_calls_better_than_the_path():
    text = printed("08", "940794d9")
    target = float(re.search(r"two calls: <= (\d+(?:\.\d+)?)x", text).group(1))
    renoised = {}
    for m in re.finditer(r"re-noised at t_mid = 1/(\d+)\s*:\s+" + SCORE + r";\s+minus the path " + DIFF, text):
        renoised[int(m.group(1))] = (float(m.group(2)), Diff(*m.group(4, 5, 6)))
    assert sorted(renoised) == [2, 4, 8, 16], renoised
    assert min(renoised, key=lambda k: renoised[k][0]) == 8, "re-noising to 1/8 should be best"
    assert renoised[8][1].value < 0 and renoised[8][1].beyond, "re-noising to 1/8 should beat the path beyond the noise"
    assert renoised[8][0] <= target, f"two re-noised calls should meet the bound {target}, got {renoised[8][0]}"
    assert not renoised[2][1].beyond and not renoised[16][1].beyond, "the text: 1/2 and 1/16 within the noise"
    assert "the package's sampler equals the on-screen one: True" in printed("08", "fa731e7f")
