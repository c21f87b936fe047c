"""IDMVAEModule: the Pyro model, guide and objective of IDMVAE, with no AnnData inside.

Interface (read by ``omicsdisent.models.idmvae``; changes are listed here):

- ``IDMVAEModule(specs: list[ModalitySpec], config: ModelConfig)``; modality order is ``specs`` order and
  ``mask[:, i]`` refers to ``specs[i]``.
- Batch format, a dict of tensors on one device (``n`` samples):
  - ``"x"``: ``{name: float32 [n, d]}``, what the encoder sees; rows of absent modalities are zeros.
    For "nb" modalities x = log1p(counts / library * library_target); for "beta" modalities
    x = M-values log2(b / (1 - b)) (what ``pp`` puts in ``X``); otherwise the values themselves.
  - ``"mask"``: bool ``[n, M]``, True where sample i has modality m.
  - ``"target"`` (optional): ``{name: [n, d]}``, what the likelihood scores: raw counts for "nb",
    betas in [0, 1] for "beta". A modality missing from it is scored on ``x``.
  - ``"library"``: ``{name: [n]}``, total counts per sample, for "nb" modalities only.
  ``validate_data(data)`` checks a whole dataset in this format once (shapes, finiteness, ranges).
- ``model(batch)`` / ``guide(batch)``: Pyro programs with sites ``"z"``, ``"w/<name>"`` (latents) and
  ``"x/<name>"`` (observations), under plates ``"importance"`` (K, dim -3), ``"sources"`` (M, dim -2:
  the source modality whose encoder proposed the draw) and ``"samples"`` (n, dim -1).
- ``loss(batch) -> (total, terms)``: built from a guide trace and the model replayed on it.
  ``terms`` holds the weighted, detached parts that sum to ``total``: "mmvae_plus", and where enabled
  "cross_mi", "genaug", "diffusion" (the "authors" formulation; in the "paper" formulation the denoising
  loss sits inside "mmvae_plus"), and "supervised" with ``config.supervise`` (a head, ``self.head``,
  from :mod:`omicsdisent.models.supervision`; the batch then carries ``"outcome"``).
- ``encode(x, mask, give_mean=True) -> (z [n, z_dim], {name: w [n, w_dim]})``; ``encode_modality``;
  ``decode(z, w, library=None) -> {name: mean [n, d]}``; ``likelihood_dist``; ``sample_prior(n)``.

Pyro's own parameter store is not used: every parameter is an ``nn.Parameter`` of this module, so a
plain ``torch.optim`` optimiser and ``state_dict`` cover all of them.
"""

from __future__ import annotations

import math

import pyro
import pyro.poutine as poutine
import torch
from pyro import distributions as dist
from torch import nn

from omicsdisent.errors import DataMismatchError, InputError
from omicsdisent.models import likelihoods, objectives
from omicsdisent.models.config import ModalitySpec, ModelConfig
from omicsdisent.models.diffusion import DiffusionPriorDistribution, LatentDiffusionPrior
from omicsdisent.models.networks import build_decoder, build_encoder

DEFAULT_LIBRARY_TARGET = 1e4
# Initial unconstrained feature-wise parameter per likelihood: scale ~0.7, NB theta ~2, Beta precision ~20
# (a flat, low-precision Beta gives its mean weak gradients: phi ~3 trained visibly worse on BRCA betas).
_FEATURE_PARAM_INIT = {"normal": 0.0, "laplace": 0.0, "nb": 2.0, "beta": 20.0, "laplace_fixed": 0.0}  # laplace_fixed: unused
_SOFTPLUS_INV_ONE = math.log(math.e - 1.0)  # softplus(x) = 1: the auxiliary prior scale starts at 1


class IDMVAEModule(nn.Module):
    """Encoders, decoders, auxiliary private priors and (optionally) diffusion priors of IDMVAE."""

    def __init__(self, specs: list[ModalitySpec], config: ModelConfig):
        super().__init__()
        specs = list(specs)
        if not specs:
            raise InputError("IDMVAE needs at least one modality; got an empty list of modality specs")
        names = [s.name for s in specs]
        if len(set(names)) != len(names):
            raise InputError(f"modality names must be unique; got {names}")
        self.specs, self.config, self.names = specs, config, names
        self.encoders = nn.ModuleList([build_encoder(s, config) for s in specs])
        self.decoders = nn.ModuleList([build_decoder(s, config) for s in specs])
        self.feature_params = nn.ParameterList(
            [nn.Parameter(torch.full((s.n_features,), _FEATURE_PARAM_INIT[s.likelihood])) for s in specs]
        )
        # r_n: zero-mean auxiliary priors of the private latents with a learnable scale (MMVAE+).
        self.aux_prior_raw_scale = nn.Parameter(torch.full((len(specs), config.w_dim), _SOFTPLUS_INV_ONE))
        self.register_buffer("source_is", torch.eye(len(specs), dtype=torch.bool).unsqueeze(-1).unsqueeze(-1),
                             persistent=False)  # [M_source, M, 1, 1]
        self.register_buffer("prior_loc_z", torch.zeros(config.z_dim), persistent=False)
        self.register_buffer("prior_scale_z", torch.ones(config.z_dim), persistent=False)
        self.register_buffer("prior_loc_w", torch.zeros(config.w_dim), persistent=False)
        self.register_buffer("prior_scale_w", torch.ones(config.w_dim), persistent=False)
        library_targets = [s.library_target or DEFAULT_LIBRARY_TARGET for s in specs]
        self.register_buffer("library_target", torch.tensor(library_targets), persistent=False)
        input_totals = [s.input_total or s.library_target or DEFAULT_LIBRARY_TARGET for s in specs]
        self.register_buffer("input_total", torch.tensor(input_totals), persistent=False)
        self.z_prior: LatentDiffusionPrior | None = None
        self.w_priors: nn.ModuleList | None = None
        if config.prior == "diffusion":
            make = lambda dim: LatentDiffusionPrior(  # noqa: E731
                dim, hidden=config.diffusion_hidden, n_steps=config.diffusion_steps
            )
            self.z_prior = make(config.z_dim)
            self.w_priors = nn.ModuleList([make(config.w_dim) for _ in specs])
        self.head = _build_head(config, len(specs))

    # ----- networks -------------------------------------------------------------------------------

    @property
    def n_modalities(self) -> int:
        return len(self.specs)

    def index(self, name: str) -> int:
        """Position of modality ``name`` in ``specs``."""
        try:
            return self.names.index(name)
        except ValueError:
            raise InputError(f"unknown modality {name!r}; expected one of {', '.join(self.names)}") from None

    def _encode_all(self, x: dict[str, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor, list, list]:
        """Posterior parameters of every expert: z_loc, z_scale ``[M, n, z_dim]``, lists of w_loc, w_scale."""
        outs = [enc(x[name]) for enc, name in zip(self.encoders, self.names)]
        z_loc = torch.stack([o[0] for o in outs])
        z_scale = torch.stack([o[1] for o in outs])
        return z_loc, z_scale, [o[2] for o in outs], [o[3] for o in outs]

    def _feature_dist(self, m: int, z: torch.Tensor, w: torch.Tensor, library: torch.Tensor | None):
        spec = self.specs[m]
        raw = self.decoders[m](z, w)
        if spec.likelihood == "nb":
            if library is None:
                library = self.library_target[m].expand(raw.shape[:-1])
            library = library.clamp(min=1.0)  # absent rows may carry 0; present ones are checked > 0
        return likelihoods.build(spec.likelihood, raw, self.feature_params[m], library)

    def _decode_to_input_space(self, m: int, z: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        """Likelihood mean of modality m mapped to what its encoder sees (``[n, d]``), at the typical total."""
        return self.input_scale_mean(m, z, w)

    def input_scale_mean(
        self, modality: int | str, z: torch.Tensor, w: torch.Tensor, total: torch.Tensor | None = None
    ) -> torch.Tensor:
        """Likelihood mean of one modality on its encoder's scale, ``[..., d]``; differentiable in z and w.

        The inverse of what ``pp`` does to make ``x``: counts ("nb") give ``log1p(p * total)`` with p the
        decoded proportions over the modality's features and ``total`` ``[...]`` the sample's
        ``sum_g expm1(x_g)`` (None: the spec's ``input_total``, the training median); betas give
        M-values ``log2(b / (1 - b))``; other likelihoods their mean itself.
        """
        m = modality if isinstance(modality, int) else self.index(modality)
        spec = self.specs[m]
        raw = self.decoders[m](z, w)
        if spec.likelihood == "nb":
            if total is None:
                total = self.input_total[m]
            else:
                total = total.unsqueeze(-1)
            return torch.log1p(torch.softmax(raw, dim=-1) * total)
        if spec.likelihood == "beta":
            b = torch.sigmoid(raw).clamp(likelihoods.BETA_EPS, 1 - likelihoods.BETA_EPS)
            return torch.log2(b) - torch.log2(1 - b)
        return raw  # the Normal/Laplace location is the decoder output

    def _aux_prior_scale(self) -> torch.Tensor:
        return likelihoods.positive(self.aux_prior_raw_scale)

    def _latent_prior(self, which: int | None):
        """p(z) (which=None) or p(w_which): standard Normal, or the diffusion prior in the paper formulation."""
        cfg = self.config
        if cfg.prior == "diffusion" and cfg.diffusion_formulation == "paper":
            if which is None:
                return DiffusionPriorDistribution(self.z_prior, sampling_steps=cfg.diffusion_sampling_steps)
            # p(w_m) is in the log weight only where m is the source (elsewhere w_m ~ r_m): score that slice.
            return DiffusionPriorDistribution(
                self.w_priors[which], sampling_steps=cfg.diffusion_sampling_steps, only_source=which
            )
        if which is None:
            return dist.Normal(self.prior_loc_z, self.prior_scale_z, validate_args=False).to_event(1)
        return dist.Normal(self.prior_loc_w, self.prior_scale_w, validate_args=False).to_event(1)

    # ----- Pyro programs --------------------------------------------------------------------------

    def _plates(self, n: int):
        return (
            pyro.plate("importance", self.config.n_importance, dim=-3),
            pyro.plate("sources", self.n_modalities, dim=-2),
            pyro.plate("samples", n, dim=-1),
        )

    def model(self, batch: dict) -> None:
        """p(z) prod_m p(w_m) prod_m p(x_m | z, w_m), replicated over importance draws and source modalities."""
        n = batch["mask"].shape[0]
        targets = batch.get("target", {})
        libraries = batch.get("library", {})
        k_plate, source_plate, sample_plate = self._plates(n)
        with k_plate, source_plate, sample_plate:
            z = pyro.sample("z", self._latent_prior(None))
            ws = [pyro.sample(f"w/{name}", self._latent_prior(m)) for m, name in enumerate(self.names)]
            for m, (spec, name) in enumerate(zip(self.specs, self.names)):
                target = targets.get(name, batch["x"][name])
                if spec.likelihood == "beta":
                    target = likelihoods.clamp_beta(target)
                pyro.sample(f"x/{name}", self._feature_dist(m, z, ws[m], libraries.get(name)), obs=target)

    def guide(self, batch: dict) -> dict:
        """z ~ q(z | x_m) and w_m ~ q(w_m | x_m) for each source m; w_n ~ r_n for the other modalities n.

        Returns the posterior parameters (``z_loc``, ``z_scale``: ``[M, n, z_dim]``; ``w_loc``, ``w_scale``:
        lists of ``[n, w_dim]``), read back from the trace's return node by ``loss``.
        """
        z_loc, z_scale, w_locs, w_scales = self._encode_all(batch["x"])
        aux_scale = self._aux_prior_scale()
        k_plate, source_plate, sample_plate = self._plates(batch["mask"].shape[0])
        with k_plate, source_plate, sample_plate:
            pyro.sample("z", dist.Normal(z_loc, z_scale, validate_args=False).to_event(1))
            for m, name in enumerate(self.names):
                own = self.source_is[:, m]  # [M_source, 1, 1]: source m proposes w_m with its encoder
                loc = torch.where(own, w_locs[m], torch.zeros_like(w_locs[m]))
                scale = torch.where(own, w_scales[m], aux_scale[m])
                pyro.sample(f"w/{name}", dist.Normal(loc, scale, validate_args=False).to_event(1))
        return {"z_loc": z_loc, "z_scale": z_scale, "w_loc": w_locs, "w_scale": w_scales}

    # ----- objective ------------------------------------------------------------------------------

    def loss(self, batch: dict) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """The IDMVAE objective on one batch: (total scalar, {term: detached weighted scalar})."""
        cfg = self.config
        mask = batch["mask"]
        guide_trace = poutine.trace(self.guide).get_trace(batch)
        model_trace = poutine.trace(poutine.replay(self.model, trace=guide_trace)).get_trace(batch)
        model_trace.compute_log_prob()
        post = guide_trace.nodes["_RETURN"]["value"]
        dreg = cfg.n_importance > 1 and torch.is_grad_enabled()

        z = guide_trace.nodes["z"]["value"]  # [K, M, n, z_dim]
        z_loc, z_scale = post["z_loc"], post["z_scale"]
        if dreg:  # DReG: the variational densities see stopped parameters
            z_loc, z_scale = z_loc.detach(), z_scale.detach()
        # Density of every expert k at every draw: [K, M_source, n, M_expert].
        experts = dist.Normal(z_loc.transpose(0, 1), z_scale.transpose(0, 1), validate_args=False)
        log_q_experts = experts.log_prob(z.unsqueeze(-2)).sum(-1)
        log_q_mix = objectives.mixture_log_prob(log_q_experts, mask)

        log_q_w, log_p_w, log_lik, w_draws = [], [], [], []
        for m, name in enumerate(self.names):
            w_site = guide_trace.nodes[f"w/{name}"]
            w_own = w_site["value"][:, m]  # [K, n, w_dim]: the source's own private draw
            loc, scale = post["w_loc"][m], post["w_scale"][m]
            if dreg:
                loc, scale = loc.detach(), scale.detach()
            log_q_w.append(dist.Normal(loc, scale, validate_args=False).log_prob(w_own).sum(-1))
            log_p_w.append(model_trace.nodes[f"w/{name}"]["log_prob"][:, m])
            log_lik.append(model_trace.nodes[f"x/{name}"]["log_prob"])
            w_draws.append(w_site["value"])
        log_weights = objectives.mmvae_plus_log_weights(
            log_lik=torch.stack(log_lik, dim=-1),
            log_prior_z=model_trace.nodes["z"]["log_prob"],
            log_prior_w=torch.stack(log_p_w, dim=1),
            log_q_mix=log_q_mix,
            log_q_w=torch.stack(log_q_w, dim=1),
            mask=mask,
            beta=cfg.beta,
        )
        if dreg:
            weights = objectives.importance_weights(log_weights).unsqueeze(-1)
            for draw in [z, *w_draws]:
                if draw.requires_grad:
                    draw.register_hook(lambda grad: grad * weights)
        total = objectives.mmvae_plus_elbo(log_weights, mask, dreg=dreg)
        terms = {"mmvae_plus": total.detach()}

        for name, _, compute in self._active_terms():
            term = compute(self, post, mask, batch)
            total, terms[name] = total + term, term.detach()
        return total, terms

    # Each term beyond the MMVAE+ bound, declared once: (name, switched on when, weighted value from the
    # posterior, mask and batch). ``loss`` adds the active ones in this order; ``term_names`` lists them.
    def _cross_mi(self, post, mask, batch):
        cfg = self.config
        return cfg.lambda_mi * objectives.cross_view_infonce(list(post["z_loc"]), mask, cfg.tau, cfg.center_contrast)

    def _genaug(self, post, mask, batch):
        cfg = self.config
        return cfg.lambda_genaug * objectives.generative_augmentation_loss(
            list(post["z_loc"]), post["w_loc"], mask, self._decode_to_input_space,
            lambda m, x_plus: self.encoders[m](x_plus), cfg.tau, cfg.genaug, cfg.center_contrast,
        )

    def _xcov(self, post, mask, batch):
        return self.config.lambda_xcov * objectives.cross_correlation_penalty(list(post["z_loc"]), post["w_loc"], mask)

    def _diffusion(self, post, mask, batch):
        present = mask.t()  # [M, n]
        # z: one present expert per sample, drawn uniformly: an unbiased estimate of the mean over the
        # experts' posterior means at 1/M of the denoiser cost (the denoiser dominates the step).
        chosen = torch.where(mask, torch.rand(mask.shape, device=mask.device), -1.0).argmax(1)
        z_chosen = post["z_loc"][chosen, torch.arange(mask.shape[0], device=mask.device)]
        triples = [(self.z_prior.loss, z_chosen, mask.any(1))]
        triples += [(p.loss, w, present[m]) for m, (p, w) in enumerate(zip(self.w_priors, post["w_loc"]))]
        return self.config.diffusion_weight * objectives.diffusion_regulariser(triples)

    def _supervised(self, post, mask, batch):
        outcome = batch.get("outcome")
        if outcome is None:
            return post["z_loc"].new_zeros(())
        return self.config.supervise_weight * self.head.loss(post["z_loc"], post["w_loc"], mask, outcome)

    TERMS = (
        ("cross_mi", lambda self: self.config.lambda_mi > 0 and self.n_modalities > 1, _cross_mi),
        ("genaug", lambda self: self.config.lambda_genaug > 0, _genaug),
        ("xcov", lambda self: self.config.lambda_xcov > 0, _xcov),
        ("diffusion", lambda self: (self.config.prior == "diffusion" and self.config.diffusion_formulation == "authors"
                                    and self.config.diffusion_weight > 0), _diffusion),
        ("supervised", lambda self: self.head is not None, _supervised),
    )

    def _active_terms(self):
        return [(name, enabled, compute) for name, enabled, compute in self.TERMS if enabled(self)]

    def term_names(self) -> list[str]:
        """The keys ``loss`` returns in ``terms``, in order, for this configuration."""
        return ["mmvae_plus", *(name for name, _, _ in self._active_terms())]

    # ----- inference and generation ---------------------------------------------------------------

    def encode_modality(self, name: str, x_m: torch.Tensor) -> tuple[dist.Distribution, dist.Distribution]:
        """q(z | x_m) and q(w_m | x_m) for ``x_m`` ``[n, d_m]``: Normal distributions with event ``[z_dim]``/``[w_dim]``."""
        z_loc, z_scale, w_loc, w_scale = self.encoders[self.index(name)](x_m)
        return (dist.Normal(z_loc, z_scale, validate_args=False).to_event(1),
                dist.Normal(w_loc, w_scale, validate_args=False).to_event(1))

    def encode(
        self, x: dict[str, torch.Tensor], mask: torch.Tensor, give_mean: bool = True
    ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """Shared and private codes of n samples from the modalities each one has.

        x: ``{name: [n, d]}`` (zeros where absent); mask: bool ``[n, M]``.
        Returns z ``[n, z_dim]``: the mean of the present experts' posterior means (give_mean) or a draw
        from the mixture of the present experts; and ``{name: w [n, w_dim]}``: posterior mean or draw,
        NaN where the modality is absent. A sample with no modality gets NaN z.
        """
        z_loc, z_scale, w_locs, w_scales = self._encode_all(x)
        present = mask.t().unsqueeze(-1)  # [M, n, 1]
        if give_mean:
            z = (z_loc * present).sum(0) / present.sum(0)
        else:
            weights = torch.where(mask.any(1, keepdim=True), mask.to(z_loc.dtype), torch.ones_like(mask, dtype=z_loc.dtype))
            chosen = torch.multinomial(weights, 1).squeeze(-1)  # one present expert per sample
            rows = torch.arange(mask.shape[0], device=mask.device)
            z = z_loc[chosen, rows] + z_scale[chosen, rows] * torch.randn_like(z_loc[0])
            z = torch.where(mask.any(1, keepdim=True), z, torch.full_like(z, float("nan")))
        ws = {}
        for m, name in enumerate(self.names):
            w = w_locs[m] if give_mean else w_locs[m] + w_scales[m] * torch.randn_like(w_locs[m])
            ws[name] = torch.where(mask[:, m : m + 1], w, torch.full_like(w, float("nan")))
        return z, ws

    def likelihood_dist(
        self, name: str, z: torch.Tensor, w_m: torch.Tensor, library: torch.Tensor | None = None
    ) -> dist.Distribution:
        """p(x_m | z, w_m) for z ``[..., z_dim]``, w_m ``[..., w_dim]``; event ``[d_m]``.

        library ``[...]`` (total counts) applies to "nb" modalities; None uses the spec's library_target.
        """
        return self._feature_dist(self.index(name), z, w_m, library)

    def decode(
        self, z: torch.Tensor, w: dict[str, torch.Tensor], library: dict[str, torch.Tensor] | None = None
    ) -> dict[str, torch.Tensor]:
        """Means of p(x_m | z, w_m) in data space, ``{name: [n, d_m]}`` for each modality in ``w``.

        Counts for "nb" (at ``library[name]`` ``[n]`` or the library_target), betas for "beta", values otherwise.
        """
        library = library or {}
        return {
            name: likelihoods.mean(self.likelihood_dist(name, z, w_m, library.get(name))) for name, w_m in w.items()
        }

    @torch.no_grad()
    def sample_prior(self, n: int) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """n draws of (z ``[n, z_dim]``, {name: w ``[n, w_dim]``}) from the prior (Gaussian, or DDIM on the diffusion prior)."""
        cfg = self.config
        if cfg.prior == "diffusion":
            steps = cfg.diffusion_sampling_steps
            z = self.z_prior.sample(n, steps=steps)
            return z, {name: p.sample(n, steps=steps) for name, p in zip(self.names, self.w_priors)}
        device = self.prior_loc_z.device
        z = torch.randn(n, cfg.z_dim, device=device)
        return z, {name: torch.randn(n, cfg.w_dim, device=device) for name in self.names}

    # ----- data checks ----------------------------------------------------------------------------

    def validate_data(self, data: dict) -> None:
        """Check a dataset in the batch format once, before training; raises DataMismatchError/InputError."""
        if not isinstance(data, dict) or "x" not in data or "mask" not in data:
            raise InputError("training data must be a dict with keys 'x' and 'mask' (and 'target', 'library')")
        mask = data["mask"]
        if not torch.is_tensor(mask) or mask.dtype != torch.bool or mask.dim() != 2 or mask.shape[1] != self.n_modalities:
            raise DataMismatchError(
                f"'mask' must be a bool tensor [n, {self.n_modalities}] (modalities {self.names}); got "
                f"{getattr(mask, 'dtype', type(mask))} {tuple(getattr(mask, 'shape', ()))}"
            )
        n = mask.shape[0]
        if n < 2:
            raise InputError(f"training needs at least 2 samples; got {n}")
        if not bool(mask.any(1).all()):
            raise InputError("every sample must have at least one modality; 'mask' has rows with none")
        for m, spec in enumerate(self.specs):
            name = spec.name
            x = data["x"].get(name)
            if x is None:
                raise DataMismatchError(f"'x' has no modality {name!r}; expected {self.names}")
            if tuple(x.shape) != (n, spec.n_features):
                raise DataMismatchError(f"'x'[{name!r}] has shape {tuple(x.shape)}; expected ({n}, {spec.n_features})")
            present = mask[:, m]
            if not bool(torch.isfinite(x[present]).all()):
                raise InputError(f"'x'[{name!r}] has NaN or infinite values in present samples")
            target = data.get("target", {}).get(name, x)
            if tuple(target.shape) != (n, spec.n_features):
                raise DataMismatchError(f"'target'[{name!r}] has shape {tuple(target.shape)}; expected ({n}, {spec.n_features})")
            t = target[present]
            if not bool(torch.isfinite(t).all()):
                raise InputError(f"'target'[{name!r}] has NaN or infinite values in present samples")
            if spec.likelihood == "nb":
                if bool((t < 0).any()):
                    raise InputError(f"'target'[{name!r}] must hold counts >= 0 for the negative binomial")
                lib = data.get("library", {}).get(name)
                if lib is None or tuple(lib.shape) != (n,):
                    raise DataMismatchError(f"'library'[{name!r}] must be a tensor [{n}] of total counts")
                if not bool((lib[present] > 0).all()):
                    raise InputError(f"'library'[{name!r}] must be > 0 for every present sample")
            if spec.likelihood == "beta" and not bool(((t >= 0) & (t <= 1)).all()):
                raise InputError(f"'target'[{name!r}] must hold betas in [0, 1] for the Beta likelihood")


def _build_head(config: ModelConfig, n_modalities: int):
    """The supervised head of ``config.supervise`` (None when unsupervised)."""
    if config.supervise is None:
        return None
    from omicsdisent.models.supervision import SupervisedHead, split_supervise

    kind, target = split_supervise(config.supervise)
    if kind == "label" and len(config.supervise_classes) < 2:
        raise InputError(f"supervise {config.supervise}: supervise_classes must name 2 or more classes")
    return SupervisedHead(kind, config.z_dim, config.w_dim, n_modalities, config.supervise_inputs,
                          n_classes=len(config.supervise_classes))
