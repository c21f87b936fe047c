"""The objective terms: MMVAE+ against an independent computation from METHOD.md, and the InfoNCE terms."""

from __future__ import annotations

import math

import pyro
import pyro.poutine as poutine
import pytest
import torch
import torch.nn.functional as F

from omicsdisent.models import objectives
from omicsdisent.models.config import ModalitySpec, ModelConfig
from omicsdisent.models.module import IDMVAEModule

pytestmark = pytest.mark.usefixtures("one_torch_thread")


BETA = 2.5


def _tiny_problem(missing: bool):
    """3 modalities (Normal, NB, Laplace), 5 samples, float64; optionally with absent modalities."""
    torch.manual_seed(3)
    specs = [
        ModalitySpec("rna", 6, likelihood="normal"),
        ModalitySpec("counts", 5, likelihood="nb", library_target=100.0),
        ModalitySpec("prot", 4, likelihood="laplace"),
    ]
    config = ModelConfig(z_dim=3, w_dim=2, hidden=(8,), beta=BETA, lambda_mi=0.0, lambda_genaug=0.0)
    n = 5
    counts = torch.poisson(torch.rand(n, 5) * 20).double()
    library = counts.sum(1).clamp(min=1)
    x = {
        "rna": torch.randn(n, 6, dtype=torch.float64),
        "counts": torch.log1p(counts / library[:, None] * 100.0),
        "prot": torch.randn(n, 4, dtype=torch.float64),
    }
    mask = torch.ones(n, 3, dtype=torch.bool)
    if missing:
        mask[1, 1] = mask[3, 0] = mask[4, 2] = mask[4, 1] = False
        for m, name in enumerate(x):
            x[name][~mask[:, m]] = 0.0
    batch = {"x": x, "mask": mask, "target": {"counts": counts}, "library": {"counts": library}}
    return specs, config, batch


def _normal_lp(v, loc, scale):
    return (-0.5 * ((v - loc) / scale) ** 2 - torch.log(scale) - 0.5 * math.log(2 * math.pi)).sum(-1)


def _direct_mmvae_plus(module: IDMVAEModule, batch: dict, guide_trace, dreg_power: int | None = None) -> torch.Tensor:
    """The MMVAE+ objective of METHOD.md written out with loops, from the guide's draws.

    dreg_power=p: instead of -log mean_K W, the surrogate -sum_k w~_k^p log W_k with w~ = softmax_K(log W)
    held fixed and log q evaluated at stopped encoder outputs (DReG: p = 2 gives the encoder gradient,
    p = 1 the decoder gradient).
    """
    mask, x = batch["mask"], batch["x"]
    names = module.names
    n_mod, n, k_draws = len(names), mask.shape[0], module.config.n_importance
    enc = [module.encoders[m](x[name]) for m, name in enumerate(names)]
    if dreg_power is not None:
        enc = [tuple(t.detach() for t in e) for e in enc]
    z_all = guide_trace.nodes["z"]["value"]
    w_all = [guide_trace.nodes[f"w/{name}"]["value"] for name in names]
    per_sample = []
    for i in range(n):
        present = [m for m in range(n_mod) if mask[i, m]]
        source_losses = []
        for m in present:
            log_w = []
            for k in range(k_draws):
                z = z_all[k, m, i]
                recon = 0.0
                for t in present:
                    w_t = w_all[t][k, m, i]
                    raw = module.decoders[t](z, w_t)
                    param = F.softplus(module.feature_params[t]) + 1e-4
                    target = batch["target"].get(names[t], x[names[t]])[i]
                    if module.specs[t].likelihood == "normal":
                        recon = recon + _normal_lp(target, raw, param)
                    elif module.specs[t].likelihood == "laplace":
                        recon = recon + (-(target - raw).abs() / param - torch.log(2 * param)).sum()
                    else:  # NB with mean library * softmax(raw) and inverse dispersion theta
                        mu = batch["library"][names[t]][i] * torch.softmax(raw, -1)
                        theta = param
                        recon = recon + (
                            torch.lgamma(target + theta) - torch.lgamma(theta) - torch.lgamma(target + 1)
                            + theta * torch.log(theta / (theta + mu)) + target * torch.log(mu / (theta + mu))
                        ).sum()
                log_pz = _normal_lp(z, torch.zeros_like(z), torch.ones_like(z))
                w_m = w_all[m][k, m, i]
                log_pw = _normal_lp(w_m, torch.zeros_like(w_m), torch.ones_like(w_m))
                log_q_experts = torch.stack([_normal_lp(z, enc[e][0][i], enc[e][1][i]) for e in present])
                log_q_mix = torch.logsumexp(log_q_experts, 0) - math.log(len(present))
                log_qw = _normal_lp(w_m, enc[m][2][i], enc[m][3][i])
                log_w.append(recon + BETA * (log_pz + log_pw - log_q_mix - log_qw))
            log_w = torch.stack(log_w)
            if dreg_power is None:
                source_losses.append(-(torch.logsumexp(log_w, 0) - math.log(k_draws)))
            else:
                weights = torch.softmax(log_w.detach(), 0) ** dreg_power
                source_losses.append(-(weights * log_w).sum())
        per_sample.append(torch.stack(source_losses).mean())
    return torch.stack(per_sample).mean()


@pytest.mark.parametrize("n_importance", [1, 3])
@pytest.mark.parametrize("missing", [False, True])
def test_lambda_zero_reduces_to_mmvae_plus(n_importance, missing):
    specs, config, batch = _tiny_problem(missing)
    config.n_importance = n_importance
    torch.manual_seed(0)
    module = IDMVAEModule(specs, config).double()
    pyro.set_rng_seed(11)
    total, terms = module.loss(batch)
    pyro.set_rng_seed(11)  # the loss traces the guide first, so the same seed gives the same draws
    guide_trace = poutine.trace(module.guide).get_trace(batch)
    with torch.no_grad():
        expected = _direct_mmvae_plus(module, batch, guide_trace)
    assert set(terms) == {"mmvae_plus"}
    assert torch.isfinite(total)
    assert abs(total.item() - expected.item()) < 1e-5
    assert abs(terms["mmvae_plus"].item() - expected.item()) < 1e-5


@pytest.mark.parametrize("missing", [False, True])
def test_dreg_gradients_match_the_doubly_reparameterised_estimator(missing):
    specs, config, batch = _tiny_problem(missing)
    config.n_importance = 4
    torch.manual_seed(0)
    module = IDMVAEModule(specs, config).double()

    def grads(loss_fn, part):
        module.zero_grad()
        pyro.set_rng_seed(5)
        loss_fn().backward()
        return torch.cat([p.grad.flatten() for p in part.parameters()])

    def direct(power):
        return lambda: _direct_mmvae_plus(module, batch, poutine.trace(module.guide).get_trace(batch), power)

    module_loss = lambda: module.loss(batch)[0]  # noqa: E731
    # Encoders: sum_k w~_k^2 through the draws only; decoders: sum_k w~_k grad log W_k.
    assert torch.allclose(grads(module_loss, module.encoders), grads(direct(2), module.encoders), atol=1e-8)
    assert torch.allclose(grads(module_loss, module.decoders), grads(direct(1), module.decoders), atol=1e-8)
    # It is not the plain IWAE gradient, whose value it keeps.
    assert not torch.allclose(grads(module_loss, module.encoders), grads(direct(None), module.encoders), atol=1e-6)
    pyro.set_rng_seed(5)
    value = module.loss(batch)[0].item()
    pyro.set_rng_seed(5)
    assert value == pytest.approx(direct(None)().item(), abs=1e-8)


def test_mixture_uses_only_the_present_experts():
    log_q = torch.tensor([[[-1.0, -2.0, -30.0]]])  # [K=1, n=1, M=3]
    mask = torch.tensor([[True, True, False]])
    expected = math.log((math.exp(-1.0) + math.exp(-2.0)) / 2)
    assert objectives.mixture_log_prob(log_q, mask).item() == pytest.approx(expected, abs=1e-6)


def test_infonce_is_lower_for_aligned_pairs_than_for_shuffled_ones():
    torch.manual_seed(0)
    z_a = torch.randn(64, 8)
    z_b = z_a + 0.1 * torch.randn(64, 8)
    mask = torch.ones(64, 2, dtype=torch.bool)
    aligned = objectives.cross_view_infonce([z_a, z_b], mask, tau=1.0)
    shuffled = objectives.cross_view_infonce([z_a, z_b[torch.randperm(64)]], mask, tau=1.0)
    assert aligned < shuffled
    # With tau = 1 the aligned loss is bounded below by log(2n - 1) - 2 (cosines lie in [-1, 1]).
    assert aligned.item() > math.log(127) - 2 - 1e-6


def test_infonce_ignores_samples_missing_a_view():
    torch.manual_seed(1)
    z_a, z_b = torch.randn(10, 4), torch.randn(10, 4)
    mask = torch.ones(10, 2, dtype=torch.bool)
    mask[7:, 1] = False
    full = objectives.cross_view_infonce([z_a, z_b], mask)
    garbage = z_b.clone()
    garbage[7:] = 1e3 * torch.randn(3, 4)
    assert objectives.cross_view_infonce([z_a, garbage], mask).item() == pytest.approx(full.item(), abs=1e-6)
    assert objectives.cross_view_infonce([z_a[:7], z_b[:7]], mask[:7]).item() == pytest.approx(full.item(), abs=1e-6)


def test_cross_view_infonce_averages_over_modality_pairs():
    torch.manual_seed(2)
    zs = [torch.randn(16, 4) for _ in range(3)]
    mask = torch.ones(16, 3, dtype=torch.bool)
    pair = lambda a, b: objectives.cross_view_infonce([zs[a], zs[b]], mask[:, [a, b]])  # noqa: E731
    expected = (pair(0, 1) + pair(0, 2) + pair(1, 2)) / 3
    assert objectives.cross_view_infonce(zs, mask).item() == pytest.approx(expected.item(), abs=1e-6)


def test_centred_infonce_sees_through_a_common_direction():
    """Codes = one large shared offset + a small aligned part: plain cosines are all ~1 (chance, tiny
    gradient); centring each view recovers the alignment and the gradient, and ignores absent rows."""
    torch.manual_seed(3)
    signal = torch.randn(64, 8)
    offset = 100.0 * torch.ones(1, 8)
    z_a = (offset + signal).requires_grad_()
    z_b = offset + signal + 0.1 * torch.randn(64, 8)
    mask = torch.ones(64, 2, dtype=torch.bool)
    chance = math.log(127)
    plain = objectives.cross_view_infonce([z_a, z_b], mask, tau=0.1)
    centred = objectives.cross_view_infonce([z_a, z_b], mask, tau=0.1, center=True)
    assert plain.item() == pytest.approx(chance, abs=0.05)
    assert centred.item() < chance - 1.0
    (plain_grad,) = torch.autograd.grad(plain, z_a)
    (centred_grad,) = torch.autograd.grad(centred, z_a)
    assert centred_grad.norm() > 100 * plain_grad.norm()
    # Centring is invariant to a per-view shift, and to what absent rows hold.
    shifted = objectives.cross_view_infonce([z_a - offset, z_b + 3.0], mask, tau=0.1, center=True)
    assert shifted.item() == pytest.approx(centred.item(), abs=1e-4)
    mask[50:, 1] = False
    garbage = z_b.clone()
    garbage[50:] = 1e4 * torch.randn(14, 8)
    part = objectives.cross_view_infonce([z_a, z_b], mask, tau=0.1, center=True)
    assert objectives.cross_view_infonce([z_a, garbage], mask, tau=0.1, center=True).item() == pytest.approx(part.item(), abs=1e-4)


@pytest.mark.parametrize("mode", ["contrastive", "l2"])
def test_generative_augmentation_is_small_when_the_cycle_is_consistent(mode):
    """An identity 'decoder/encoder' pair reproduces (z, w') exactly, so the loss beats a scrambling one."""
    torch.manual_seed(0)
    z = [torch.randn(32, 3)]
    w = [torch.randn(32, 2)]
    mask = torch.ones(32, 1, dtype=torch.bool)
    decode = lambda m, z_m, w_m: torch.cat([z_m, w_m], -1)  # noqa: E731
    tiny = 1e-6

    def encode_identity(m, x):
        return x[:, :3], torch.full_like(x[:, :3], tiny), x[:, 3:], torch.full_like(x[:, 3:], tiny)

    def encode_scrambled(m, x):
        x = x[torch.randperm(32)]
        return encode_identity(m, x)

    good = objectives.generative_augmentation_loss(z, w, mask, decode, encode_identity, mode=mode)
    bad = objectives.generative_augmentation_loss(z, w, mask, decode, encode_scrambled, mode=mode)
    assert good < bad
    if mode == "l2":
        assert good.item() == pytest.approx(0.0, abs=1e-8)


def test_cross_correlation_penalty_sees_a_private_code_that_repeats_the_shared_one():
    """w = a linear map of z gives a penalty near the number of shared directions it repeats; an
    independent w gives the small-sample floor; the gradient reaches w only; absent rows do not count."""
    torch.manual_seed(0)
    n = 4000
    z = torch.randn(n, 3)
    independent = torch.randn(n, 2)
    copying = torch.stack([z[:, 0] * 5.0 + 1.0, -z[:, 1]], dim=1)  # two z directions repeated, any scale
    mask = torch.ones(n, 1, dtype=torch.bool)
    high = objectives.cross_correlation_penalty([z], [copying], mask)
    low = objectives.cross_correlation_penalty([z], [independent], mask)
    assert high.item() == pytest.approx(2.0, abs=5e-3)  # 2 repeated directions + the sampling floor
    assert low.item() < 0.01
    # scale-free: shrinking the private code does not lower the term
    assert objectives.cross_correlation_penalty([z], [copying * 1e-2], mask).item() == pytest.approx(high.item(), rel=1e-4)

    z_leaf, w_leaf = z.clone().requires_grad_(), copying.clone().requires_grad_()
    objectives.cross_correlation_penalty([z_leaf], [w_leaf], mask).backward()
    assert z_leaf.grad is None and w_leaf.grad.abs().sum() > 0

    # rows without the modality carry garbage that would correlate perfectly; they are left out
    two = torch.ones(n, 2, dtype=torch.bool)
    two[: n // 2, 1] = False
    garbage = torch.where(two[:, 1:2], independent, z[:, :2] * 3.0)
    ignored = objectives.cross_correlation_penalty([z, z], [independent, garbage], two)
    assert ignored.item() < 0.02


def test_lambda_xcov_adds_its_term_to_the_loss():
    specs, config, batch = _tiny_problem(missing=True)
    config.lambda_xcov = 2.0
    torch.manual_seed(0)
    module = IDMVAEModule(specs, config).double()
    total, terms = module.loss(batch)
    assert module.term_names() == list(terms) == ["mmvae_plus", "xcov"]
    assert terms["xcov"].item() > 0
    assert total.item() == pytest.approx((terms["mmvae_plus"] + terms["xcov"]).item(), rel=1e-9)
