"""omicsdisent.pl: each plot draws what its input holds, saves PNG/PDF where asked and never uses pyplot."""

from __future__ import annotations

import anndata as ad
import numpy as np
import pandas as pd
import pytest
from matplotlib.figure import Figure

from omicsdisent import pl, tl
from omicsdisent.errors import InputError
from omicsdisent.train import TrainingHistory

PNG = b"\x89PNG\r\n\x1a\n"


@pytest.fixture
def cohort():
    """90 samples: a 4-d embedding whose first dimension drives the hazard, a subtype and an age."""
    rng = np.random.default_rng(0)
    n = 90
    z = rng.normal(size=(n, 4)).astype(np.float32)
    hazard = np.exp(1.2 * z[:, 0])
    time = rng.exponential(1500.0 / hazard)
    censor = rng.uniform(200, 4000, n)
    obs = pd.DataFrame(
        {
            "subtype": pd.Categorical(np.where(z[:, 1] > 0.3, "LumA", np.where(z[:, 1] < -0.3, "Basal", "Her2"))),
            "age": rng.normal(58, 9, n),
            "OS_time": np.minimum(time, censor),
            "OS_event": (time <= censor).astype(float),
        },
        index=[f"TCGA-AA-{i:04d}" for i in range(n)],
    )
    obs.loc[obs.index[:3], "subtype"] = np.nan
    adata = ad.AnnData(obs=obs)
    adata.obsm["X_shared"] = z
    return adata


def _texts(ax) -> list[str]:
    return [t.get_text() for t in ax.texts]


def test_umap_colours_each_category_with_a_legend_and_saves_png(cohort, tmp_path):
    cohort.obsm["X_umap"] = np.random.default_rng(1).normal(size=(cohort.n_obs, 2))
    figure = pl.umap(cohort, "subtype", save=tmp_path / "umap.png")
    ax = figure.axes[0]
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert labels == ["Basal", "Her2", "LumA", "NA"]
    sizes = [len(c.get_offsets()) for c in ax.collections]
    counts = cohort.obs["subtype"].value_counts()
    assert sizes == [counts["Basal"], counts["Her2"], counts["LumA"], 3]
    assert (tmp_path / "umap.png").read_bytes()[:8] == PNG


def test_umap_of_a_numeric_column_uses_a_colour_scale(cohort):
    cohort.obsm["X_umap"] = np.random.default_rng(1).normal(size=(cohort.n_obs, 2))
    figure = pl.umap(cohort, "age")
    assert len(figure.axes) == 2  # the plot and its colour bar
    np.testing.assert_allclose(figure.axes[0].collections[0].get_array(), cohort.obs["age"].to_numpy())


def test_umap_computes_x_umap_with_tl_cluster_when_absent(cohort):
    assert "X_umap" not in cohort.obsm
    figure = pl.umap(cohort, "subtype", rep="X_shared")
    assert cohort.obsm["X_umap"].shape == (cohort.n_obs, 2)
    assert "leiden" in cohort.obs
    assert sum(len(c.get_offsets()) for c in figure.axes[0].collections) == cohort.n_obs


def test_umap_names_the_missing_column_or_embedding(cohort):
    with pytest.raises(InputError, match=r"color='PAM50'.*obs has subtype, age, OS_time, OS_event"):
        pl.umap(cohort, "PAM50")
    with pytest.raises(InputError, match="no 'X_umap'"):
        pl.umap(cohort, "subtype", compute=False)


def test_kaplan_meier_from_a_survival_result_draws_groups_and_numbers_at_risk(cohort, tmp_path):
    result = tl.survival(cohort, rep="X_shared", cv=3, seed=0)
    figure = pl.kaplan_meier(result, save=tmp_path / "km.pdf")
    ax, at_risk = figure.axes
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["low", "high"]
    assert f"log-rank p = {result.logrank_p:.3g}" in ax.get_title()
    # The first column of the at-risk table (time 0) is each group's size.
    sizes = result.group_sizes
    first = sorted((t.get_position()[1], t.get_text()) for t in at_risk.texts if t.get_position()[0] == 0.0)
    assert [int(text) for _, text in first] == [sizes["high"], sizes["low"]]
    assert (tmp_path / "km.pdf").read_bytes()[:5] == b"%PDF-"


def test_kaplan_meier_from_obs_matches_lifelines(cohort):
    from lifelines import KaplanMeierFitter

    cohort.obs["group"] = np.where(cohort.obs["age"] > 58, "older", "younger")
    figure = pl.kaplan_meier(cohort, groups="group")
    curves = {line.get_label(): line for line in figure.axes[0].get_lines()}
    older = cohort.obs["group"] == "older"
    expected = KaplanMeierFitter().fit(cohort.obs.loc[older, "OS_time"], cohort.obs.loc[older, "OS_event"])
    np.testing.assert_allclose(curves["older"].get_ydata(), expected.survival_function_.iloc[:, 0].to_numpy())
    at_zero = [int(t.get_text()) for t in figure.axes[1].texts if t.get_position()[0] == 0.0]
    assert sorted(at_zero) == sorted(cohort.obs["group"].value_counts().tolist())
    with pytest.raises(InputError, match="groups='nope'"):
        pl.kaplan_meier(cohort, groups="nope")


def test_training_curves_draw_one_panel_per_term_with_train_and_validation():
    history = TrainingHistory(
        train={"total": [9.0, 7.0, 6.0], "reconstruction": [5.0, 4.0, 3.5]},
        validation={"total": [9.5, 7.5, 6.8], "reconstruction": [5.2, 4.4, 3.9]},
        epochs_run=3,
        best_epoch=2,
    )
    figure = pl.training_curves(history)
    titles = [ax.get_title() for ax in figure.axes]
    assert titles == ["total", "reconstruction"]
    train_line, validation_line = figure.axes[0].get_lines()[:2]
    np.testing.assert_array_equal(train_line.get_ydata(), [9.0, 7.0, 6.0])
    np.testing.assert_array_equal(validation_line.get_ydata(), [9.5, 7.5, 6.8])
    assert figure.axes[0].get_lines()[2].get_xdata()[0] == 3  # best epoch (0-based 2) marked at epoch 3
    with pytest.raises(InputError, match="'kl' not in the history"):
        pl.training_curves(history, terms=["kl"])


def test_variance_explained_bars_follow_the_table():
    table = pd.DataFrame(
        {"modality": ["rna", "methyl"], "n_samples": [50, 40], "r2_total": [0.6, 0.5], "r2_shared": [0.3, 0.2],
         "r2_private": [0.25, -0.1], "private_share": [0.45, 0.0]}
    )
    figure = pl.variance_explained(tl.VarianceExplained(table=table))
    ax = figure.axes[0]
    widths = [patch.get_width() for patch in ax.patches]
    np.testing.assert_allclose(widths, [30, 20, 25, -10, 60, 50])  # shared, private, total; rna then methyl
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["shared z", "private w", "z and w"]
    assert [t.get_text() for t in ax.get_yticklabels()] == ["rna", "methyl"]


def test_probe_heatmap_annotates_every_cell():
    table = pd.DataFrame({"subtype": [0.81, 0.34, np.nan], "rna:true_private": [0.05, 0.62, 0.1]}, index=["z", "w_rna", "w_methyl"])
    figure = pl.probe_heatmap(table)
    ax = figure.axes[0]
    assert _texts(ax) == ["0.81", "0.05", "0.34", "0.62", "NA", "0.10"]
    assert [t.get_text() for t in ax.get_yticklabels()] == ["z", "w_rna", "w_methyl"]


def test_confusion_matrix_shows_shares_of_each_true_class():
    confusion = pd.DataFrame([[8, 2], [1, 3]], index=["LumA", "Basal"], columns=["LumA", "Basal"])
    assert _texts(pl.confusion_matrix(confusion).axes[0]) == ["0.80", "0.20", "0.25", "0.75"]
    assert _texts(pl.confusion_matrix(confusion, normalize=False).axes[0]) == ["8", "2", "1", "3"]


def test_save_refuses_other_formats_and_existing_files_unless_asked(cohort, tmp_path):
    cohort.obsm["X_umap"] = np.zeros((cohort.n_obs, 2))
    with pytest.raises(InputError, match=r"\.png or \.pdf"):
        pl.umap(cohort, "subtype", save=tmp_path / "umap.svg")
    target = tmp_path / "umap.png"
    target.write_bytes(b"mine")
    with pytest.raises(InputError, match="overwrite=True"):
        pl.umap(cohort, "subtype", save=target)
    assert target.read_bytes() == b"mine"
    pl.umap(cohort, "subtype", save=target, overwrite=True)
    assert target.read_bytes()[:8] == PNG
    assert sorted(p.name for p in tmp_path.iterdir()) == ["umap.png"]


def test_plots_return_figures_without_registering_them_with_pyplot(cohort):
    import matplotlib.pyplot as plt

    cohort.obsm["X_umap"] = np.zeros((cohort.n_obs, 2))
    figure = pl.umap(cohort, "subtype")
    assert isinstance(figure, Figure)
    assert plt.get_fignums() == []
    assert figure.canvas.get_renderer() is not None  # drawn on the Agg canvas
