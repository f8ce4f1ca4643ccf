"""Files in and out, shared by training, export, sampling, evaluation and the golden generators:
checkpoints, hashes, JSON beside a model, PNG grids. Imports only the network definition, so any
module may use it without forming an import cycle.
"""
from __future__ import annotations

import hashlib
import json
import struct
import zlib
from pathlib import Path
from typing import List, Optional

import numpy as np
import torch

from training.model import ModelConfig, OneFlowNet


def torch_load(path):
    try:
        return torch.load(path, map_location="cpu", weights_only=False)
    except TypeError:  # torch < 1.13.1 has no weights_only
        return torch.load(path, map_location="cpu")


def load_model(ckpt: str, use_ema: bool = True) -> OneFlowNet:
    """A checkpoint written by training.train (its EMA weights by default), in eval mode."""
    state = torch_load(ckpt)
    model = OneFlowNet(ModelConfig.from_dict(state["config"]["model"]))
    model.load_state_dict(state["ema" if use_ema else "model"])
    return model.eval()


def sha256(path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def write_json(path, value, indent: Optional[int] = 1):
    """JSON as the model directories hold it (``indent=1``; ``None`` for compact golden files)."""
    Path(path).write_text(json.dumps(value, indent=indent))


# ----------------------------------------------------------------------------- PNG


def write_png(path, img: np.ndarray):
    """img: uint8 [H, W] grey or [H, W, 3] RGB."""
    rgb = img.ndim == 3
    h, w = img.shape[:2]
    raw = b"".join(b"\x00" + img[r].tobytes() for r in range(h))

    def chunk(kind, data):
        c = struct.pack(">I", len(data)) + kind + data
        return c + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
    colour_type = 2 if rgb else 0
    data = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, colour_type, 0, 0, 0))
    data += chunk(b"IDAT", zlib.compress(raw, 9)) + chunk(b"IEND", b"")
    Path(path).write_bytes(data)


def write_grid(path, rows: List[List[np.ndarray]], cols: Optional[int] = None, scale: int = 2):
    """rows of images [1, H, W] (grey) or [3, H, W] (RGB) in [-1, 1] -> one PNG, one row per
    sample, 2 px gaps."""
    first = next((im for row in rows for im in row), np.zeros((1, 28, 28), np.float32))
    channels, height, width = first.shape
    cols = cols or max(1, max((len(r) for r in rows), default=1))
    grid_h = len(rows) * (height + 2) + 2
    grid_w = cols * (width + 2) + 2
    grid = np.full((grid_h, grid_w, channels), 64, np.uint8)
    for i, row in enumerate(rows):
        for j, image in enumerate(row[:cols]):
            px = ((np.clip(image, -1, 1) + 1) * 127.5).astype(np.uint8).transpose(1, 2, 0)  # [H, W, C]
            top, left = 2 + (height + 2) * i, 2 + (width + 2) * j
            grid[top:top + height, left:left + width] = px
    grid = np.kron(grid, np.ones((scale, scale, 1), np.uint8))
    write_png(path, grid[:, :, 0] if channels == 1 else grid)
