"""FLOPs of OneFlowNet / ARFlowNet from the shapes a forward pass actually runs on.

Convention (the same for both models, which share every module and shape rule):
  * a multiply-add is 2 FLOPs; counted are the matrix products and convolutions (every Linear,
    Conv2d and ConvTranspose2d, the attention products QKᵀ and AV, the marker one-hot product);
    norms, activations, softmax, rotary and embedding look-ups are not (a few % at these widths);
  * padding counts: tokens [B, L] and image slots [B, M] as padded, the attention over all S = L + M·T
    positions (the causal model computes the full S×S matrix too, then masks it);
  * one training step = forward + backward = 3 × forward (the backward pass computes a gradient for
    the activations and one for the weights, each about the forward's cost).

``forward_flops`` is checked against torch's profiler in training/tests/test_baseline_flops.py.
"""
from __future__ import annotations

from training.model import ModelConfig

TIME_FEATURES, TIME_WIDTH = 64, 128  # OneFlowNet's sinusoidal time features and time-MLP width


def linear(rows: int, n_in: int, n_out: int) -> float:
    return 2.0 * rows * n_in * n_out


def conv(images: int, c_in: int, c_out: int, kernel: int, out_h: int, out_w: int) -> float:
    return 2.0 * images * c_in * c_out * kernel * kernel * out_h * out_w


def film_res(images: int, c: int, h: int, w: int) -> float:
    """FiLMRes: two 3×3 convs at h×w and the FiLM linear (scale and shift)."""
    return 2 * conv(images, c, c, 3, h, w) + linear(images, TIME_WIDTH, 2 * c)


def down_path(mc: ModelConfig, n: int) -> float:
    """Image → tokens for n image slots, with the time MLP and t_tok."""
    d, (c0, c1) = mc.d_model, mc.chans
    f = linear(n, TIME_FEATURES, TIME_WIDTH) + linear(n, TIME_WIDTH, TIME_WIDTH) + linear(n, TIME_WIDTH, d)
    if mc.pixel_path:
        f += conv(n, 4, c0, 3, 14, 14) + film_res(n, c0, 14, 14)  # after space-to-depth 28 -> 14
        f += conv(n, c0, c1, 3, 7, 7) + film_res(n, c1, 7, 7)  # stride 2: 14 -> 7
        f += conv(n, c1, d, 3, 4, 4)  # stride 2: 7 -> 4
    else:
        channels, height, width = mc.latent_shape
        p = mc.latent_patch
        f += conv(n, channels, c0, 3, height, width) + film_res(n, c0, height, width)
        f += conv(n, c0, d, p, height // p, width // p)
    return f


def up_path(mc: ModelConfig, k: int) -> float:
    """Tokens → velocity for k images (cond_up included)."""
    d, (c0, c1) = mc.d_model, mc.chans
    f = linear(k, TIME_WIDTH + d, TIME_WIDTH)
    if mc.pixel_path:
        f += conv(k, d, c1, 3, 7, 7) + film_res(k, c1, 7, 7)
        f += conv(k, c1, c0, 3, 14, 14) + film_res(k, c0, 14, 14)
        f += conv(k, c0, 4, 3, 14, 14)
    else:
        channels, height, width = mc.latent_shape
        p = mc.latent_patch
        # transposed patch conv: every input pixel of the (H/p)×(W/p) grid feeds c0·p² outputs
        f += 2.0 * k * d * c0 * p * p * (height // p) * (width // p)
        f += film_res(k, c0, height, width) + conv(k, c0, channels, 3, height, width)
    return f


def forward_flops(mc: ModelConfig, B: int, L: int, M: int, K: int) -> float:
    """One forward pass on tokens [B, L] and image slots [B, M], the up path on K images
    (K = B·M when every velocity is returned; training passes only the scored ones)."""
    d, T = mc.d_model, mc.image_tokens
    n = B * M
    S = L + M * T
    f = down_path(mc, n)
    f += linear(n, d, d)  # pool_proj
    f += 2.0 * B * L * M * d  # marker one-hot [B, L, M] × pooled [B, M, D]
    per_layer = (linear(B * S, d, 3 * d) + linear(B * S, d, d)  # qkv, proj
                 + 2 * 2.0 * B * S * S * d  # QKᵀ and AV over all heads
                 + linear(B * S, d, mc.d_ff) + linear(B * S, mc.d_ff, d))
    f += mc.n_layers * per_layer
    f += linear(B * L, d, 1) * 2 + linear(B * L, d, mc.vocab_size)  # π, λ and Q heads
    f += up_path(mc, K)
    return f


def training_step_flops(mc: ModelConfig, batch) -> float:
    """Forward + backward FLOPs of one training batch (``train_batch_inputs`` output)."""
    B, L = batch["tokens"].shape
    M = batch["images"].shape[1]
    return 3.0 * forward_flops(mc, B, L, M, len(batch["vel_index"]))
