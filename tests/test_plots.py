import sys

import numpy as np
from matplotlib.figure import Figure

from labelfix import plots

PNG = b"\x89PNG\r\n\x1a\n"


def test_every_plot_is_a_figure_that_renders_to_png(tmp_path):
    figures = [
        plots.class_distribution(["a", "b"], np.array([10, 4]), np.array([2, 0])),
        plots.count_matrix(np.array([[3, 1], [0, 5]]), ["a", "b"], rows="true", columns="predicted", shade_by_row=True),
        plots.count_matrix(np.zeros((2, 2), dtype=int), ["a", "b"], rows="given", columns="suggested"),
        plots.score_histogram(np.linspace(0, 1, 50), np.arange(50) < 5),
        plots.training_curves([{"epoch": 1, "train_loss": 1.0, "val_loss": 0.9, "val_accuracy": 0.5},
                               {"epoch": 2, "train_loss": 0.5, "val_loss": 0.6, "val_accuracy": 0.8}]),
        plots.lr_sweep(np.logspace(-5, 0, 20), np.linspace(2, 1, 20), 1e-3),
    ]
    assert all(isinstance(figure, Figure) for figure in figures)
    assert all(plots.png_bytes(figure).startswith(PNG) for figure in figures)
    assert plots.png_data_uri(figures[0]).startswith("data:image/png;base64,")
    plots.save_png(figures[-1], tmp_path / "sweep.png")
    assert (tmp_path / "sweep.png").read_bytes().startswith(PNG) and [p.name for p in tmp_path.iterdir()] == ["sweep.png"]


def test_the_score_histogram_counts_images_in_plain_numbers():
    scores = np.random.default_rng(0).beta(5, 0.5, 5000)
    figure = plots.score_histogram(scores, scores < 0.3)
    plots.png_bytes(figure)  # lays the ticks out
    labels = [label.get_text() for label in figure.axes[0].get_yticklabels() if label.get_text()]
    assert labels and "1000" in labels and not any("$" in label for label in labels)


def test_no_module_switches_matplotlib_into_its_global_pyplot_state():
    import labelfix.pipeline  # noqa: F401
    import labelfix.report.html  # noqa: F401
    import labelfix.training.train  # noqa: F401

    assert "matplotlib.pyplot" not in sys.modules
