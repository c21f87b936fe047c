"""LatentDiffusionPrior: schedule, per-sample loss, and DDIM sampling that finds both modes of a mixture."""

from __future__ import annotations

import pytest
import torch

from omicsdisent.models.diffusion import DiffusionPriorDistribution, LatentDiffusionPrior, alpha_bar_schedule


pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.mark.parametrize("schedule", ["sigmoid", "cosine", "linear"])
def test_schedule_runs_from_signal_to_noise(schedule):
    alpha_bar = alpha_bar_schedule(1000, schedule)
    assert alpha_bar.shape == (1000,)
    assert (alpha_bar[1:] <= alpha_bar[:-1]).all()
    assert alpha_bar[0] > 0.99 and alpha_bar[-1] < 0.01


def test_loss_is_per_sample_and_reaches_the_latents():
    torch.manual_seed(0)
    prior = LatentDiffusionPrior(4, hidden=32, n_steps=100)
    x0 = torch.randn(3, 5, 4, requires_grad=True)
    loss = prior.loss(x0)
    assert loss.shape == (3, 5) and (loss >= 0).all()
    loss.sum().backward()
    assert x0.grad.abs().sum() > 0


def test_prior_as_distribution_scores_minus_the_denoising_loss():
    torch.manual_seed(0)
    prior = LatentDiffusionPrior(2, hidden=16, n_steps=50)
    d = DiffusionPriorDistribution(prior, sampling_steps=5).expand(torch.Size([4]))
    value = torch.randn(4, 2)
    torch.manual_seed(1)
    log_p = d.log_prob(value)
    torch.manual_seed(1)
    assert torch.equal(log_p, -prior.loss(value))
    assert d.sample().shape == (4, 2)


def test_ddim_samples_both_modes_of_a_two_gaussian_mixture():
    torch.manual_seed(0)
    modes = torch.tensor([[2.0, 2.0], [-2.0, -2.0]])
    prior = LatentDiffusionPrior(2, hidden=128, n_steps=1000)
    optimizer = torch.optim.Adam(prior.parameters(), lr=3e-3)
    for _ in range(1200):
        x0 = modes[torch.randint(0, 2, (256,))] + 0.2 * torch.randn(256, 2)
        optimizer.zero_grad()
        prior.loss(x0).mean().backward()
        optimizer.step()
    samples = prior.sample(1000, steps=50)
    distance = torch.cdist(samples, modes)  # [1000, 2]
    nearest = distance.argmin(1)
    close = distance.min(1).values < 0.8
    assert close.float().mean() > 0.85
    share = (nearest[close] == 0).float().mean()
    assert 0.3 < share < 0.7


def test_prior_restricted_to_one_source_scores_only_that_slice():
    torch.manual_seed(0)
    prior = LatentDiffusionPrior(2, hidden=16, n_steps=50)
    value = torch.randn(3, 4, 5, 2)  # [K, M_source, n, dim]
    d = DiffusionPriorDistribution(prior, only_source=1).expand(torch.Size([3, 4, 5]))
    torch.manual_seed(1)
    log_p = d.log_prob(value)
    torch.manual_seed(1)
    expected = -prior.loss(value[:, 1])
    assert log_p.shape == (3, 4, 5)
    assert torch.equal(log_p[:, 1], expected)
    assert (log_p[:, [0, 2, 3]] == 0).all()
