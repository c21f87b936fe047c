"""The terms of the IDMVAE objective (METHOD.md): L = L_MMVAE+ + lambda1 L_CrossMI + lambda2 L_GenAug.

Shapes use n samples, M modalities (in ``specs`` order), K importance samples. Every loss here is a
scalar to minimise. Missing modalities enter as a boolean ``mask`` ``[n, M]``; no function indexes
with a data-dependent mask (that would sync with the device), so absent entries are filtered with
``torch.where``. Nothing here calls ``.item()``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import torch
import torch.nn.functional as F

# Masked logits: far below any cosine / tau, yet finite, so a fully masked row has finite gradients.
MASKED_LOGIT = -1e9


def masked_log_mean_exp(values: torch.Tensor, present: torch.Tensor, dim: int) -> torch.Tensor:
    """log( mean over present entries of exp(values) ) along ``dim``; ``present`` broadcasts to ``values``.

    Where no entry is present the result is ``MASKED_LOGIT`` (finite), never NaN.
    """
    present = present.expand_as(values)
    filled = torch.where(present, values, torch.full_like(values, MASKED_LOGIT))
    count = present.sum(dim).clamp(min=1)
    return torch.logsumexp(filled, dim=dim) - torch.log(count.to(values.dtype))


def mixture_log_prob(log_q_experts: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """log q_mix(z | X) = log (1/|P_i|) sum_{k in P_i} q(z | x_k), P_i the modalities present for sample i.

    log_q_experts: ``[..., n, M]`` = log q(z | x_k) of each expert k at the same z. Returns ``[..., n]``.
    """
    return masked_log_mean_exp(log_q_experts, mask, dim=-1)


def mmvae_plus_log_weights(
    log_lik: torch.Tensor,
    log_prior_z: torch.Tensor,
    log_prior_w: torch.Tensor,
    log_q_mix: torch.Tensor,
    log_q_w: torch.Tensor,
    mask: torch.Tensor,
    beta: float,
) -> torch.Tensor:
    """The MMVAE+ log importance weight for every draw and source modality, ``[K, M, n]``.

    log W = sum_{n present} log p(x_n | z, w_n) + beta [log p(z) + log p(w_m) - log q_mix(z | X) - log q(w_m | x_m)]

    for source m with z ~ q(z | x_m), w_m ~ q(w_m | x_m) and w_n ~ r_n for n != m.
    log_lik: ``[K, M_source, n, M_target]``, summed over features; absent targets are dropped via ``mask``.
    log_prior_z, log_prior_w, log_q_mix, log_q_w: ``[K, M_source, n]`` (p(w_m), q(w_m | x_m) of the source's
    own private latent). In the paper's diffusion formulation the priors are minus denoising losses.
    """
    target_present = mask.unsqueeze(0).unsqueeze(0)  # [1, 1, n, M_target]
    recon = torch.where(target_present, log_lik, torch.zeros_like(log_lik)).sum(-1)
    return recon + beta * (log_prior_z + log_prior_w - log_q_mix - log_q_w)


def mmvae_plus_elbo(log_weights: torch.Tensor, mask: torch.Tensor, dreg: bool = False) -> torch.Tensor:
    """L_MMVAE+ = mean_i [ mean_{m present for i} -log mean_K exp(log W_{k,m,i}) ]  (scalar).

    log_weights: ``[K, M, n]`` from :func:`mmvae_plus_log_weights`; mask: ``[n, M]``.
    Averaged over the present source modalities of each sample, then over the batch (MMVAE+ sums over
    the batch; the IDMVAE code averages, as here). With K = 1 this is the negative ELBO.

    dreg=True (K > 1): the value is unchanged, but the gradient is the DReG surrogate
    sum_k w~_k grad log W_k, w~ = softmax_K(log W) held fixed. The caller must compute log q with
    detached variational parameters and scale the gradients reaching the latent draws by w~
    (:func:`importance_weights`), which makes the encoder's path gradient
    sum_k w~_k^2 d log W_k / d z_k * d z_k / d phi (Tucker et al. 2019).
    """
    k = log_weights.shape[0]
    per_source = -(torch.logsumexp(log_weights, dim=0) - math.log(k))  # [M, n]
    if dreg:
        surrogate = -(importance_weights(log_weights) * log_weights).sum(0)
        per_source = per_source.detach() + (surrogate - surrogate.detach())
    source_present = mask.t()
    per_sample = torch.where(source_present, per_source, torch.zeros_like(per_source)).sum(0)
    per_sample = per_sample / source_present.sum(0).clamp(min=1).to(per_sample.dtype)
    return per_sample.mean()


def importance_weights(log_weights: torch.Tensor) -> torch.Tensor:
    """Normalised importance weights softmax_K(log W), detached, same shape ``[K, ...]``."""
    return torch.softmax(log_weights.detach(), dim=0)


def contrast(a: torch.Tensor, b: torch.Tensor, valid: torch.Tensor, tau: float, center: bool = False) -> torch.Tensor:
    """Contrast(a, b): symmetric NT-Xent (SimCLR) mean log-probability of the aligned pair (scalar, <= 0).

    a, b: ``[n, d]`` views of the same n samples; valid: ``[n]`` bool, the samples that have both.
    With s(u, v) = cos(u, v) / tau over the 2n vectors [a; b], each valid anchor scores its partner against
    every other valid vector (2(n_valid) - 2 negatives, both views):
    Contrast = mean_anchors log( exp s(anchor, partner) / sum_{v != anchor} exp s(anchor, v) ).
    Higher means better aligned; returns 0 when no sample is valid.

    center: subtract each view's mean over the valid samples before the cosine (a batch-centred cosine,
    i.e. a correlation). When every code shares one large common direction (as the image encoders'
    posterior means do early in training: pairwise cosines about 0.999), plain cosines are all about 1,
    the term sits at chance and its gradient is tiny; centring removes that direction. Off by default
    (the authors' form).
    """
    n = a.shape[0]
    if center:
        a, b = _centered(a, valid), _centered(b, valid)
    feats = F.normalize(torch.cat([a, b], dim=0), dim=-1)
    logits = feats @ feats.t() / tau
    valid2 = torch.cat([valid, valid])
    exclude = torch.eye(2 * n, dtype=torch.bool, device=a.device) | ~valid2.unsqueeze(0)
    logits = logits.masked_fill(exclude, MASKED_LOGIT)
    idx = torch.arange(2 * n, device=a.device)
    partner = (idx + n) % (2 * n)
    log_prob = logits[idx, partner] - torch.logsumexp(logits, dim=1)
    log_prob = torch.where(valid2, log_prob, torch.zeros_like(log_prob))
    return log_prob.sum() / valid2.sum().clamp(min=1).to(log_prob.dtype)


def _centered(x: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
    """x minus its mean over the valid rows (no indexing by the mask: no device sync)."""
    weights = valid.to(x.dtype).unsqueeze(-1)
    mean = (x * weights).sum(0, keepdim=True) / weights.sum().clamp(min=1)
    return x - mean


def cross_view_infonce(z_by_modality: Sequence[torch.Tensor], mask: torch.Tensor, tau: float = 1.0,
                       center: bool = False) -> torch.Tensor:
    """L_CrossMI = -2 / (M (M - 1)) sum_{m < n} Contrast(z_m, z_n)  (scalar).

    z_by_modality: M tensors ``[n, z_dim]``, the posterior means of q(z | x_m); mask: ``[n, M]``.
    Each pair uses only the samples that have both modalities. Zero when M < 2. center: see :func:`contrast`.
    """
    n_mod = len(z_by_modality)
    if n_mod < 2:
        return z_by_modality[0].new_zeros(())
    total = z_by_modality[0].new_zeros(())
    for m in range(n_mod):
        for k in range(m + 1, n_mod):
            total = total + contrast(z_by_modality[m], z_by_modality[k], mask[:, m] & mask[:, k], tau, center)
    return -2.0 / (n_mod * (n_mod - 1)) * total


def generative_augmentation_loss(
    z_by_modality: Sequence[torch.Tensor],
    w_by_modality: Sequence[torch.Tensor],
    mask: torch.Tensor,
    decode: Callable[[int, torch.Tensor, torch.Tensor], torch.Tensor],
    encode: Callable[[int, torch.Tensor], tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]],
    tau: float = 1.0,
    mode: str = "contrastive",
    center: bool = False,
) -> torch.Tensor:
    """L_GenAug = 1 / (2M) sum_m (L_GenAug,z_m + L_GenAug,w_m)  (scalar).

    For modality m: z_m (sample i) and w'_m (sample i - 1, the batch rolled by one) are the posterior
    means of the first encoder pass, held fixed; x+ = decode(m, z_m, w'_m) is the likelihood mean mapped
    to the encoder's input space; (z'', w'') ~ q(z, w_m | x+) from a second encoder pass. Then
    contrastive: L_z = -Contrast(z'', z_m), L_w = -Contrast(w'', w'_m);
    l2: L_z = mean_i ||E q(z | x+) - z_m||^2, L_w likewise with w'_m.
    Gradients flow through the decoder and the second encoder pass. Only samples i where both i and
    i - 1 have modality m count.
    z_by_modality / w_by_modality: M tensors ``[n, z_dim]`` / ``[n, w_dim]``; mask ``[n, M]``;
    decode(m, z, w) -> ``[n, d_m]``; encode(m, x) -> (z_loc, z_scale, w_loc, w_scale).
    center: batch-centred cosines in the contrastive mode (see :func:`contrast`).
    """
    n_mod = len(z_by_modality)
    total = z_by_modality[0].new_zeros(())
    for m in range(n_mod):
        z_m = z_by_modality[m].detach()
        w_prime = torch.roll(w_by_modality[m].detach(), 1, dims=0)
        valid = mask[:, m] & torch.roll(mask[:, m], 1, dims=0)
        z_loc, z_scale, w_loc, w_scale = encode(m, decode(m, z_m, w_prime))
        if mode == "contrastive":
            z_pp = z_loc + z_scale * torch.randn_like(z_loc)
            w_pp = w_loc + w_scale * torch.randn_like(w_loc)
            total = total - contrast(z_pp, z_m, valid, tau, center) - contrast(w_pp, w_prime, valid, tau, center)
        elif mode == "l2":
            sq = (z_loc - z_m).pow(2).sum(-1) + (w_loc - w_prime).pow(2).sum(-1)
            sq = torch.where(valid, sq, torch.zeros_like(sq))
            total = total + sq.sum() / valid.sum().clamp(min=1).to(sq.dtype)
        else:
            raise ValueError(f"unknown genaug mode {mode!r}; expected 'contrastive' or 'l2'")
    return total / (2 * n_mod)


def cross_correlation_penalty(z_by_modality: Sequence[torch.Tensor], w_by_modality: Sequence[torch.Tensor],
                              mask: torch.Tensor, eps: float = 1e-8) -> torch.Tensor:
    """L_XCov = 1/M sum_m sum_{j,k} corr(zbar_j, w_m,k)^2 over the batch  (scalar).

    zbar is the mean of the present experts' posterior means E q(z | x_k), held fixed; w_m the posterior
    means of q(w_m | x_m). Pearson correlations over the samples that have modality m (batch-centred,
    unit-scaled columns, so shrinking w cannot lower the term). The cross-covariance penalty of XCov
    (Cheung et al., ICLR 2015 workshop, "Discovering hidden factors of variation in deep networks") in
    its scale-free form: it removes from w_m what a linear map of the shared code predicts, the signal
    the private code should not repeat. Gradients reach the private encoders only.
    z_by_modality / w_by_modality: M tensors ``[n, z_dim]`` / ``[n, w_dim]``; mask ``[n, M]``.
    """
    weights = mask.to(z_by_modality[0].dtype)  # [n, M]
    stacked = torch.stack([z.detach() for z in z_by_modality], dim=1)  # [n, M, z_dim]
    z_bar = (stacked * weights.unsqueeze(-1)).sum(1) / weights.sum(1, keepdim=True).clamp(min=1)
    total = z_bar.new_zeros(())
    for m, w in enumerate(w_by_modality):
        valid = mask[:, m]
        count = valid.sum().clamp(min=1).to(w.dtype)
        zc, wc = _centered(z_bar, valid), _centered(w, valid)
        keep = valid.to(w.dtype).unsqueeze(-1)
        zc, wc = zc * keep, wc * keep
        zs = zc / (zc.pow(2).sum(0, keepdim=True) / count + eps).sqrt()
        ws = wc / (wc.pow(2).sum(0, keepdim=True) / count + eps).sqrt()
        corr = zs.t() @ ws / count  # [z_dim, w_dim]
        total = total + corr.pow(2).sum()
    return total / len(w_by_modality)


def diffusion_regulariser(
    priors_and_latents: Sequence[tuple[Callable[[torch.Tensor], torch.Tensor], torch.Tensor, torch.Tensor]],
) -> torch.Tensor:
    """The authors' diffusion term: sum over latents of the masked mean denoising loss (scalar).

    priors_and_latents: (loss_fn, latents ``[n, d]``, present ``[n]`` bool) triples, e.g. the z prior on the
    posterior means of every modality's q(z | x_m) and each w_m prior on q(w_m | x_m)'s mean; loss_fn maps
    ``[n, d]`` -> per-sample loss ``[n]``. Gradients reach the encoder and the denoisers; the caller
    multiplies by ``diffusion_weight``.
    """
    total = None
    for loss_fn, latents, present in priors_and_latents:
        per_sample = loss_fn(latents)
        per_sample = torch.where(present, per_sample, torch.zeros_like(per_sample))
        term = per_sample.sum() / present.sum().clamp(min=1).to(per_sample.dtype)
        total = term if total is None else total + term
    return total


def cox_partial_likelihood_loss(risk: torch.Tensor, time: torch.Tensor, event: torch.Tensor,
                                known: torch.Tensor) -> torch.Tensor:
    """Negative Cox log partial likelihood of one minibatch, Breslow's form for tied times (scalar).

    L_Cox = -(1 / D) sum_{i in B: known_i, delta_i = 1} [ eta_i - log sum_{j in B: known_j, t_j >= t_i} exp(eta_j) ]

    with eta = ``risk`` ``[n]`` (the head's log hazard), t = ``time`` ``[n]``, delta = ``event`` ``[n]``
    (1 event, 0 censored), B the minibatch and D the number of events in it with a known outcome.
    The risk set of an event is the batch's patients still at risk at its time; tied events share the
    same risk set (Breslow). ``known`` (bool ``[n]``) drops patients without the outcome from both the
    events and the risk sets, so they train only the unsupervised terms. A batch without an event
    gives 0 (and no gradient).
    """
    at_risk = (time.unsqueeze(0) >= time.unsqueeze(1)) & known.unsqueeze(0)  # [i, j]: j at risk at t_i
    logits = torch.where(at_risk, risk.unsqueeze(0).expand_as(at_risk), torch.full_like(at_risk, MASKED_LOGIT,
                                                                                       dtype=risk.dtype))
    log_risk_set = torch.logsumexp(logits, dim=1)  # [n]
    dead = known & (event > 0.5)
    per_event = torch.where(dead, risk - log_risk_set, torch.zeros_like(risk))
    return -per_event.sum() / dead.sum().clamp(min=1).to(risk.dtype)


def masked_cross_entropy(logits: torch.Tensor, label: torch.Tensor, known: torch.Tensor) -> torch.Tensor:
    """L_CE = -(1 / |K|) sum_{i in K} log softmax(logits_i)[y_i], K the batch's patients with a known label.

    logits ``[n, C]``, label (long ``[n]``, any value where unknown), known (bool ``[n]``); 0 when no
    patient of the batch has a label.
    """
    safe = torch.where(known, label, torch.zeros_like(label))
    nll = F.cross_entropy(logits, safe, reduction="none")
    return torch.where(known, nll, torch.zeros_like(nll)).sum() / known.sum().clamp(min=1).to(logits.dtype)
