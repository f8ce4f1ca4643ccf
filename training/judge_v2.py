"""Judges of version-2 images (``training.world_v2``): a class judge (a small CNN) and a colour judge.

The class judge is trained here on *train*-split images only, coloured with every palette colour and
background (held-out colour×class pairs included: it judges the model, it is not part of it);
deterministic for a seed; cached in training/.cache. The colour judge needs no training: the object's
pixels are those farthest from the background (the median of the image border), and its colour is the
palette entry whose background-to-colour line fits their mean best (an object pixel is a blend
``g·colour + (1 − g)·background``, so the fit is along that line, not to the colour itself).
"""
from __future__ import annotations

from pathlib import Path
from typing import Sequence, Tuple

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from training.data import ImageBank, load_images
from training.world_v2 import BACKGROUND_RGB, BLACK, COLOURS, HELDOUT_PAIRS, PALETTE, colourise

CACHE = Path(__file__).resolve().parent / ".cache"


class Judge(nn.Module):
    def __init__(self):
        super().__init__()
        self.c1 = nn.Conv2d(3, 32, 3, padding=1)
        self.b1 = nn.BatchNorm2d(32)
        self.c2 = nn.Conv2d(32, 64, 3, padding=1)
        self.b2 = nn.BatchNorm2d(64)
        self.c3 = nn.Conv2d(64, 128, 3, padding=1)
        self.b3 = nn.BatchNorm2d(128)
        self.fc = nn.Linear(128 * 4 * 4, 256)
        self.drop = nn.Dropout(0.3)
        self.out = nn.Linear(256, 20)

    def forward(self, x):  # x [N, 3, 32, 32] in [-1, 1]
        x = F.max_pool2d(F.relu(self.b1(self.c1(x))), 2)  # [N, 32, 16, 16]
        x = F.max_pool2d(F.relu(self.b2(self.c2(x))), 2)  # [N, 64, 8, 8]
        x = F.max_pool2d(F.relu(self.b3(self.c3(x))), 2)  # [N, 128, 4, 4]
        return self.out(self.drop(F.relu(self.fc(x.flatten(1)))))


def random_colouring(rng: np.random.Generator, n: int, p_background: float = 0.35) -> Tuple[np.ndarray, np.ndarray]:
    """(colour [n], background [n]) drawn uniformly; a background other than black with ``p_background``."""
    colours = rng.integers(len(COLOURS), size=n)
    backgrounds = np.where(rng.random(n) < p_background, rng.integers(1, len(BACKGROUND_RGB), size=n), BLACK)
    return colours, backgrounds


def colourise_many(grey: np.ndarray, colours: np.ndarray, backgrounds: np.ndarray) -> np.ndarray:
    """uint8 [N, 28, 28] -> float32 [N, 3, 32, 32] with per-image colour and background."""
    return np.stack([colourise(g, int(c), int(b)) for g, c, b in zip(grey, colours, backgrounds)])


def get_judge(seed: int = 0, epochs: int = 2) -> Judge:
    """Trained on the train split only; deterministic for a seed; cached."""
    path = CACHE / f"judge-v2-s{seed}-e{epochs}.pt"
    judge = Judge()
    if path.exists():
        judge.load_state_dict(torch.load(path))
        return judge.eval()
    bank = load_images(seed)
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed + 13)
    y = torch.from_numpy(bank.train_y)
    opt = torch.optim.Adam(judge.parameters(), 1e-3)
    n_steps = epochs * ((len(y) + 127) // 128)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, 2e-3, total_steps=n_steps)
    judge.train()
    for _ in range(epochs):
        perm = rng.permutation(len(y))
        for i in range(0, len(y), 128):
            b = perm[i:i + 128]
            colours, backgrounds = random_colouring(rng, len(b))
            xb = torch.from_numpy(colourise_many(bank.train_x[b], colours, backgrounds))
            dx, dy = rng.integers(-1, 2, size=2)  # shifts by up to 1 px, so it judges imperfect samples sensibly
            xb = torch.roll(xb, shifts=(int(dy), int(dx)), dims=(2, 3))
            loss = F.cross_entropy(judge(xb), y[torch.from_numpy(b)])
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
    CACHE.mkdir(exist_ok=True)
    torch.save(judge.state_dict(), path)
    return judge.eval()


def classify(judge: Judge, pixels: Sequence[np.ndarray]) -> np.ndarray:
    """pixels: float32 [N, 3, 32, 32] (or a list of [3, 32, 32]) -> class ids [N]."""
    if len(pixels) == 0:
        return np.zeros(0, np.int64)
    x = torch.from_numpy(np.clip(np.stack(pixels), -1, 1).astype(np.float32))
    with torch.no_grad():
        return np.concatenate([judge(x[k:k + 512]).argmax(-1).numpy() for k in range(0, len(x), 512)])


def background_rgb(rgb: np.ndarray) -> np.ndarray:
    """rgb [3, H, W] in [0, 1] -> the median colour of its 2-pixel border [3]."""
    border = np.concatenate([rgb[:, :2].reshape(3, -1), rgb[:, -2:].reshape(3, -1),
                             rgb[:, :, :2].reshape(3, -1), rgb[:, :, -2:].reshape(3, -1)], axis=1)
    return np.median(border, axis=1)


def colour_of_one(pixels: np.ndarray) -> int:
    """pixels [3, H, W] in [-1, 1] -> the palette index of the object's colour."""
    rgb = (np.clip(pixels, -1, 1) + 1) / 2
    bg = background_rgb(rgb)
    flat = rgb.reshape(3, -1).T  # [H*W, 3]
    dist = np.linalg.norm(flat - bg, axis=1)
    core = flat[dist >= 0.6 * dist.max()] if dist.max() > 1e-6 else flat
    m = core.mean(0) - bg  # [3]
    lines = PALETTE - bg  # [K, 3]
    a = np.clip((lines @ m) / np.maximum((lines ** 2).sum(1), 1e-9), 0, 1)  # [K]
    resid = np.linalg.norm(m[None] - a[:, None] * lines, axis=1)
    return int(np.argmin(resid))


def colour_of(pixels: Sequence[np.ndarray]) -> np.ndarray:
    """pixels [N, 3, H, W] in [-1, 1] -> palette indices [N]."""
    return np.array([colour_of_one(p) for p in pixels], np.int64)


def background_of(pixels: np.ndarray) -> int:
    """pixels [3, H, W] in [-1, 1] -> the nearest ``BACKGROUND_RGB`` index of the border."""
    bg = background_rgb((np.clip(pixels, -1, 1) + 1) / 2)
    return int(np.argmin(np.linalg.norm(BACKGROUND_RGB - bg, axis=1)))


def test_images(bank: ImageBank, n: int, seed: int, heldout_pairs: bool = False):
    """``n`` test-split images coloured at random with training colour×class pairs (or only held-out
    pairs): (pixels [n, 3, 32, 32], classes [n], colours [n])."""
    rng = np.random.default_rng([seed, 31, int(heldout_pairs)])
    if heldout_pairs:
        pairs = sorted(HELDOUT_PAIRS)
        chosen = [pairs[k] for k in rng.integers(len(pairs), size=n)]
        classes = np.array([c for _, c in chosen])
        colours = np.array([k for k, _ in chosen])
    else:
        classes = rng.integers(20, size=n)
        colours = np.array([rng.choice([k for k in range(len(COLOURS)) if (k, c) not in HELDOUT_PAIRS])
                            for c in classes])
    _, backgrounds = random_colouring(rng, n)
    pools = bank.by_class("test")
    grey = np.stack([bank.test_x[pools[c][rng.integers(len(pools[c]))]] for c in classes])
    return colourise_many(grey, colours, backgrounds), classes, colours
