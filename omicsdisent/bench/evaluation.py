"""Evaluation of a trained image model on PolyMNIST-Quadrant: linear probes and generation coherence.

- :func:`linear_probes`: logistic regression on the encoder means of each modality (z_m = the mean of
  q(z | x_m), w_m = the mean of q(w_m | x_m)), fitted on one split and scored on another, then averaged
  over modalities: z->digit, z->quadrant, w->quadrant, w->digit (accuracies in [0, 1]); on the raw means
  (the field's convention) or on standardised ones.
- :class:`ImageClassifier` / :func:`train_classifier`: a small CNN with a digit head and a quadrant head,
  trained on the real images (all modalities pooled), that scores generated images.
- :func:`coherence`: self, cross and unconditional coherence of the digit (and of the quadrant where it
  is defined), measured with that classifier on the decoder means.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from omicsdisent.datasets.polymnist import PolyMNISTSplit

PROBES = ("z->digit", "z->quad", "w->quad", "w->digit")


def image_rows(split: PolyMNISTSplit, m: int, rows: np.ndarray | slice | None = None,
               device: torch.device | str = "cpu", dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """Images of modality m as flat rows ``[n, 3*H*W]``, intensities in [0, 1]."""
    images = split.images[:, m] if rows is None else split.images[rows, m]
    x = torch.from_numpy(np.ascontiguousarray(images)).to(device)
    return (x.reshape(x.shape[0], -1).to(dtype) / 255.0)


@torch.no_grad()
def encoder_means(module, split: PolyMNISTSplit, batch_size: int = 512) -> tuple[np.ndarray, np.ndarray]:
    """Posterior means per modality: z ``[M, n, z_dim]`` (each modality's own q(z | x_m)) and w ``[M, n, w_dim]``."""
    module.eval()
    device = next(module.parameters()).device
    zs, ws = [], []
    for m, name in enumerate(split.modality_names):
        z_parts, w_parts = [], []
        for start in range(0, split.n, batch_size):
            x = image_rows(split, m, slice(start, start + batch_size), device)
            qz, qw = module.encode_modality(name, x)
            z_parts.append(qz.mean.float().cpu())
            w_parts.append(qw.mean.float().cpu())
        zs.append(torch.cat(z_parts).numpy())
        ws.append(torch.cat(w_parts).numpy())
    return np.stack(zs), np.stack(ws)


def _probe_accuracy(train_x, train_y, test_x, test_y, seed: int, standardize: bool) -> float:
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    probe = LogisticRegression(max_iter=2000, random_state=seed)
    if standardize:
        probe = make_pipeline(StandardScaler(), probe)
    probe.fit(train_x, train_y)
    return float(probe.score(test_x, test_y))


def linear_probes(module, fit_split: PolyMNISTSplit, test_split: PolyMNISTSplit, seed: int = 0,
                  standardize: bool = False) -> dict[str, float]:
    """Probe accuracies averaged over modalities: ``{"z->digit", "z->quad", "w->quad", "w->digit"}``.

    Each probe is scikit-learn's logistic regression at its defaults (L2 penalty, C = 1) fitted on
    ``fit_split``'s encoder means and scored on ``test_split``'s, per modality; the digit is the tuple's
    label, the quadrant that modality's own. Chance is 0.1 for the digit and 0.25 for the quadrant.

    standardize=False (the default) fits the raw means, as the MMVAE+ line of code fits its latent
    classifiers (an unscaled ``LogisticRegression``); the penalty then weighs each latent dimension at
    the scale the model gives it. True puts a ``StandardScaler`` first, which lifts the dimensions a
    posterior has collapsed onto the prior (means near 0 that still carry a faint trace of the image) to
    the scale of the used ones.
    """
    fit_z, fit_w = encoder_means(module, fit_split)
    test_z, test_w = encoder_means(module, test_split)
    scores = {name: [] for name in PROBES}
    for m in range(fit_split.n_modalities):
        labels = {"digit": (fit_split.digits, test_split.digits),
                  "quad": (fit_split.quadrants[:, m], test_split.quadrants[:, m])}
        codes = {"z": (fit_z[m], test_z[m]), "w": (fit_w[m], test_w[m])}
        for name in PROBES:
            code, label = name.split("->")
            (fx, tx), (fy, ty) = codes[code], labels[label]
            scores[name].append(_probe_accuracy(fx, fy, tx, ty, seed, standardize))
    return {name: float(np.mean(values)) for name, values in scores.items()}


class ImageClassifier(nn.Module):
    """A small CNN for images ``[n, 3*H*W]`` in [0, 1] -> (digit logits ``[n, 10]``, quadrant logits ``[n, 4]``).

    Three stride-2 convolutions and a flatten (no global pooling: the quadrant is a position).
    """

    def __init__(self, image_shape: tuple[int, int, int], width: int = 32):
        super().__init__()
        self.shape = tuple(image_shape)
        channels, height, width_px = self.shape
        self.features = nn.Sequential(
            nn.Conv2d(channels, width, 4, stride=2, padding=1), nn.SiLU(),
            nn.Conv2d(width, 2 * width, 4, stride=2, padding=1), nn.SiLU(),
            nn.Conv2d(2 * width, 2 * width, 3, stride=2, padding=1), nn.SiLU(),
            nn.Flatten(),
        )
        with torch.no_grad():
            n_flat = self.features(torch.zeros(1, *self.shape)).shape[1]
        self.digit = nn.Linear(n_flat, 10)
        self.quadrant = nn.Linear(n_flat, 4)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        h = self.features(x.reshape(-1, *self.shape).float())
        return self.digit(h), self.quadrant(h)

    @torch.no_grad()
    def predict(self, x: torch.Tensor, batch_size: int = 1024) -> tuple[torch.Tensor, torch.Tensor]:
        """Predicted digit and quadrant ``[n]`` (int64) for images ``[n, 3*H*W]``."""
        self.eval()
        digits, quads = [], []
        for start in range(0, x.shape[0], batch_size):
            d, q = self(x[start:start + batch_size])
            digits.append(d.argmax(1))
            quads.append(q.argmax(1))
        return torch.cat(digits), torch.cat(quads)


@dataclass
class ClassifierResult:
    """The trained classifier and its accuracy on the real test images (digit and quadrant, in [0, 1])."""

    classifier: ImageClassifier
    digit_accuracy: float
    quadrant_accuracy: float


def train_classifier(train: PolyMNISTSplit, test: PolyMNISTSplit, epochs: int = 3, batch_size: int = 128,
                     lr: float = 1e-3, seed: int = 0, device: torch.device | str = "cpu") -> ClassifierResult:
    """Fit :class:`ImageClassifier` on every modality's real images of ``train`` (cross-entropy on both
    heads, Adam) and measure its accuracy on all images of ``test``."""
    torch.manual_seed(seed)
    device = torch.device(device)
    classifier = ImageClassifier(train.image_shape).to(device)
    x = torch.cat([image_rows(train, m, device=device) for m in range(train.n_modalities)])
    digits = torch.from_numpy(np.tile(train.digits, train.n_modalities)).to(device)
    quads = torch.from_numpy(train.quadrants.T.reshape(-1).copy()).to(device)
    has_quadrant = bool((quads >= 0).all())
    optimizer = torch.optim.Adam(classifier.parameters(), lr=lr)
    generator = torch.Generator().manual_seed(seed)
    classifier.train()
    for _ in range(epochs):
        for index in torch.randperm(x.shape[0], generator=generator).to(device).split(batch_size):
            d_logits, q_logits = classifier(x[index])
            loss = F.cross_entropy(d_logits, digits[index])
            if has_quadrant:
                loss = loss + F.cross_entropy(q_logits, quads[index])
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
    test_x = torch.cat([image_rows(test, m, device=device) for m in range(test.n_modalities)])
    pred_d, pred_q = classifier.predict(test_x)
    test_d = torch.from_numpy(np.tile(test.digits, test.n_modalities)).to(device)
    test_q = torch.from_numpy(test.quadrants.T.reshape(-1).copy()).to(device)
    quad_acc = float((pred_q == test_q).float().mean()) if has_quadrant else float("nan")
    return ClassifierResult(classifier, float((pred_d == test_d).float().mean()), quad_acc)


@torch.no_grad()
def coherence(module, split: PolyMNISTSplit, classifier: ImageClassifier, n_unconditional: int = 1000,
              seed: int = 0) -> dict[str, float]:
    """Coherence of generations, as fractions in [0, 1], judged by ``classifier``:

    - "digit self": decode x_m from the means of q(z | x_m), q(w_m | x_m); the digit is the tuple's.
    - "digit cross": decode x_n (n != m) from the mean of q(z | x_m) and w_n from the prior; the digit is
      the tuple's (averaged over all ordered pairs).
    - "digit unconditional": z and every w_m from the prior; all M generated digits agree.
    - "quad self": the self reconstruction keeps x_m's quadrant.
    - "quad cross": x_n decoded from the mean of q(z | x_m) and the mean of q(w_n | x_n) has x_n's quadrant.
    Quadrant scores are NaN for classic PolyMNIST (no quadrant).
    """
    module.eval()
    classifier.eval()
    device = next(module.parameters()).device
    classifier.to(device)
    names, M = split.modality_names, split.n_modalities
    torch.manual_seed(seed)
    x = [image_rows(split, m, device=device) for m in range(M)]
    means = [module.encode_modality(name, x[m]) for m, name in enumerate(names)]
    z = [qz.mean for qz, _ in means]
    w = [qw.mean for _, qw in means]
    digits = torch.from_numpy(split.digits).to(device)
    quads = torch.from_numpy(split.quadrants).to(device)
    has_quadrant = bool((quads >= 0).all())
    _, w_prior = module.sample_prior(split.n)

    self_d, self_q, cross_d, cross_q = [], [], [], []
    for m, name in enumerate(names):
        recon = module.decode(z[m], {name: w[m]})[name]
        pred_d, pred_q = classifier.predict(recon)
        self_d.append((pred_d == digits).float().mean())
        self_q.append((pred_q == quads[:, m]).float().mean())
        for n, other in enumerate(names):
            if n == m:
                continue
            pred_d, _ = classifier.predict(module.decode(z[m], {other: w_prior[other]})[other])
            cross_d.append((pred_d == digits).float().mean())
            _, pred_q = classifier.predict(module.decode(z[m], {other: w[n]})[other])
            cross_q.append((pred_q == quads[:, n]).float().mean())
    z_prior, w_uncond = module.sample_prior(n_unconditional)
    generated = module.decode(z_prior, w_uncond)
    predictions = torch.stack([classifier.predict(generated[name])[0] for name in names])  # [M, n]
    unconditional = (predictions == predictions[:1]).all(0).float().mean()
    nan = float("nan")
    return {
        "digit self": float(torch.stack(self_d).mean()),
        "digit cross": float(torch.stack(cross_d).mean()) if cross_d else nan,
        "digit unconditional": float(unconditional),
        "quad self": float(torch.stack(self_q).mean()) if has_quadrant else nan,
        "quad cross": float(torch.stack(cross_q).mean()) if has_quadrant and cross_q else nan,
    }
