"""The course's figures: scatter grids (every panel shown, at most three a row, the same limits in every panel) and
the diagram of the training pair (every part of it named)."""

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import pytest
import torch

from cmlesson import plotting


@pytest.mark.parametrize("n", range(1, 11))
def test_panel_grid_fits_every_panel_in_the_fewest_rows_of_at_most_three(n):
    rows, cols = plotting.panel_grid(n)
    assert cols <= 3 and rows * cols >= n
    assert rows == -(-n // 3), "no more rows than needed"
    assert rows * cols - n < rows, "no empty column"


def test_scatter_panels_share_limits_and_stay_readable():
    pts = {f"panel {i}": torch.randn(50, 2) * (i + 1) for i in range(5)}
    fig = plotting.scatter_panels(pts, suptitle="five")
    shown = [ax for ax in fig.axes if ax.get_visible() and ax.axison]
    assert [ax.get_title() for ax in shown] == list(pts)
    assert len({(ax.get_xlim(), ax.get_ylim()) for ax in shown}) == 1, "one set of limits for every panel"
    width, height = fig.get_size_inches()
    assert width <= 4.5 * height


@pytest.mark.parametrize("draw, step", [(plotting.cd_pair_schematic, "teacher: one Heun step"),
                                        (plotting.ct_pair_schematic, "no teacher")])
def test_pair_schematic_names_every_part_of_the_training_pair(draw, step):
    fig, ax = plt.subplots()
    draw(ax)
    texts = " ".join(t.get_text() for t in ax.texts)
    for part in ("online", "(gradient)", "target", "(no gradient)", "boundary", "loss", step):
        assert part in texts, part
    assert [t.get_text() for t in ax.get_xticklabels()] == [r"$\sigma_\mathrm{min}$", r"$\sigma_{i+1}$", r"$\sigma_i$"]
    assert ax.get_title() and ax.get_xlabel() and ax.get_ylabel()
    plt.close(fig)


def test_image_grids_wrap_at_three_a_row():
    images = torch.rand(30, 64) * 2 - 1
    fig = plotting.image_grids({f"panel {i}": images for i in range(5)}, ncol=6, size=2.9)
    shown = [ax for ax in fig.axes if ax.axison]
    assert len(shown) == 5 and [ax.get_title() for ax in shown] == [f"panel {i}" for i in range(5)]
    assert len({round(ax.get_position().y0, 3) for ax in shown}) == 2, "two rows"
    width, height = fig.get_size_inches()
    assert width / height <= 4.5
    plt.close(fig)


def test_a_title_of_three_lines_is_refused_and_two_are_drawn():
    """Titles of at most two short lines: a third line is named in the error, not squeezed above the panel."""
    pts = torch.randn(20, 2)
    fig = plotting.scatter_panels({"data\nW1 = 1.00x floor": pts}, suptitle="two lines\nare fine")
    assert fig.axes[0].get_title() == "data\nW1 = 1.00x floor"
    plt.close(fig)
    with pytest.raises(ValueError, match="title has 3 lines, at most 2"):
        plotting.scatter_panels({"teacher: Heun\n35 evaluations\nW1 = 1.2x floor": pts})
    with pytest.raises(ValueError, match="title has 3 lines"):
        plotting.image_grids({"digits": torch.zeros(4, 64)}, ncol=2, suptitle="a\nb\nc")
    plt.close("all")


def test_image_grids_puts_per_row_panels_a_row_and_makes_room_for_the_readings():
    images = torch.zeros(20, 64)
    two = plotting.image_grids({f"p{i}": images for i in range(4)}, per_row=2, size=5.2)
    assert [a.get_subplotspec().get_geometry()[:2] for a in two.axes][0] == (2, 2)
    plain = plotting.image_grids({"a": images}, size=5.2).get_size_inches()[1]
    labelled = plotting.image_grids({"a": images}, size=5.2, labels={"a": ["1"] * 20}).get_size_inches()[1]
    assert labelled - 0.5 == pytest.approx((plain - 0.5) * 13 / 9)  # 8 + 1 + 4 pixel rows a tile, not 8 + 1
