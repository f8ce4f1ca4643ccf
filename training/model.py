"""OneFlow toy network: shared bidirectional Transformer + conv blocks around images.

forward(tokens, token_mask, images, image_t, image_pos, image_mask) ->
    pi_logit  [B, L]        logit of π_i = P(nothing missing right of token i)
    log_lambda[B, L]        log of the Poisson rate λ_i
    q_logprobs[B, L, V]     log Q_i(·), log-softmax over the vocabulary
    velocity  [B, M, C, H, W]  flow-matching velocity per image, [C, H, W] = cfg.latent_shape
The text heads get no time input (docs/algorithm.md §2); only the image path sees each image's own t.
Everything is export-friendly (plain matmuls, no fused attention) so ONNX gets dynamic B, L, M.

Two image paths, chosen by the latent shape:
  * 1×28×28 (contract version 1, pixel space): a U-Net, space-to-depth 28 -> 14, then 7, then a 4×4
    grid of 16 image tokens; the up path mirrors it with skips.
  * any other [C, H, W] (small autoencoder latents such as 4×4×4 or 4×7×7): one FiLM conv block at
    full resolution, then non-overlapping p×p patches (p = cfg.latent_patch) as (H/p)·(W/p) image
    tokens; the up path is a transposed patch conv, the skip and one FiLM block.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F

PIXEL_LATENT = (1, 28, 28)  # contract version 1: pixel space


@dataclass
class ModelConfig:
    vocab_size: int = 128
    d_model: int = 128
    n_layers: int = 4
    n_heads: int = 4
    d_ff: int = 384
    max_tokens: int = 40  # text positions (incl. <bos>, prompt, <sep>)
    chans: tuple = (16, 32)  # conv widths; 1×28×28: at 14x14 (after space-to-depth) and 7x7; else chans[0]
    img_size: int = 28  # recorded by version-1 checkpoints; the image path follows latent_shape
    rope: bool = False  # rotary positions in attention (image tokens sit at their <image> marker)
    latent_shape: tuple = PIXEL_LATENT  # [C, H, W] the network sees and predicts a velocity for
    latent_patch: int = 1  # patch side of the latent path (latent shapes other than 1×28×28)

    @property
    def pixel_path(self) -> bool:
        """The version-1 U-Net on 1×28×28 pixels (else the patch path)."""
        return tuple(self.latent_shape) == PIXEL_LATENT

    @property
    def image_tokens(self) -> int:
        """Transformer tokens per image."""
        if self.pixel_path:
            return 16
        _, height, width = self.latent_shape
        return (height // self.latent_patch) * (width // self.latent_patch)

    def to_dict(self):
        d = asdict(self)
        d["chans"] = list(self.chans)
        d["latent_shape"] = list(self.latent_shape)
        return d

    @staticmethod
    def from_dict(d: dict) -> "ModelConfig":
        """From ``to_dict`` output or a checkpoint's config (lists back to tuples; older checkpoints
        lack the later fields and get their defaults)."""
        cfg = ModelConfig(**d)
        cfg.chans = tuple(cfg.chans)
        cfg.latent_shape = tuple(cfg.latent_shape)
        return cfg


def time_embed(t: torch.Tensor, dim: int) -> torch.Tensor:
    """t [N] in [0,1] -> [N, dim] sinusoidal features."""
    half = dim // 2
    freqs = torch.exp(torch.arange(half, dtype=torch.float32, device=t.device) * (math.log(1000.0) / (half - 1)))
    a = t[:, None] * freqs[None, :]  # [N, half], frequencies 1..1000
    return torch.cat([torch.sin(a), torch.cos(a)], dim=-1)


class FiLMRes(nn.Module):
    """Residual conv block, FiLM-modulated (scale, shift) by a conditioning vector."""

    def __init__(self, c: int, cond: int):
        super().__init__()
        self.n1 = nn.GroupNorm(8, c)
        self.c1 = nn.Conv2d(c, c, 3, padding=1)
        self.n2 = nn.GroupNorm(8, c)
        self.c2 = nn.Conv2d(c, c, 3, padding=1)
        self.film = nn.Linear(cond, 2 * c)

    def forward(self, x, cond):  # x [N, C, H, W], cond [N, cond]
        s, b = self.film(cond)[:, :, None, None].chunk(2, dim=1)
        h = self.c1(F.silu(self.n1(x)))
        h = self.n2(h) * (1 + s) + b
        h = self.c2(F.silu(h))
        return x + h


def rotary(pos: torch.Tensor, dim: int, base: float = 10000.0):
    """pos [B, S] (float) -> (cos, sin) [B, 1, S, dim] for rotate-half rotary embeddings."""
    half = dim // 2
    inv = torch.exp(torch.arange(half, dtype=torch.float32, device=pos.device) * (-math.log(base) / half))
    a = pos[:, None, :, None] * inv  # [B, 1, S, half]
    c, s = a.cos(), a.sin()
    return torch.cat([c, c], -1), torch.cat([s, s], -1)


def apply_rotary(x, cos, sin):  # x [B, H, S, dim]
    half = x.shape[-1] // 2
    return x * cos + torch.cat([-x[..., half:], x[..., :half]], -1) * sin


class Block(nn.Module):
    def __init__(self, d, h, ff):
        super().__init__()
        self.h = h
        self.ln1 = nn.LayerNorm(d)
        self.qkv = nn.Linear(d, 3 * d)
        self.proj = nn.Linear(d, d)
        self.ln2 = nn.LayerNorm(d)
        self.ff = nn.Sequential(nn.Linear(d, ff), nn.GELU(), nn.Linear(ff, d))

    def forward(self, x, bias, rot=None):  # x [B, S, D], bias [B, 1, 1 or S, S] additive (key mask, causal)
        B, S, D = x.shape
        q, k, v = self.qkv(self.ln1(x)).reshape(B, S, 3, self.h, D // self.h).permute(2, 0, 3, 1, 4)
        if rot is not None:  # rot = (cos, sin) [B, 1, S, D/h]
            q, k = apply_rotary(q, *rot), apply_rotary(k, *rot)
        att = torch.matmul(q, k.transpose(-1, -2)) * (1.0 / math.sqrt(D // self.h)) + bias  # [B,H,S,S]
        y = torch.matmul(att.softmax(-1), v).transpose(1, 2).reshape(B, S, D)
        x = x + self.proj(y)
        return x + self.ff(self.ln2(x))


class OneFlowNet(nn.Module):
    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.cfg = cfg
        d, (c0, c1) = cfg.d_model, cfg.chans
        channels, height, width = cfg.latent_shape
        if not cfg.pixel_path and (height % cfg.latent_patch or width % cfg.latent_patch):
            raise ValueError(f"latent_patch {cfg.latent_patch} must divide the latent grid {height}x{width}")
        self.tok = nn.Embedding(cfg.vocab_size, d)
        self.pos = nn.Embedding(cfg.max_tokens, d)
        self.img_pos = nn.Parameter(torch.randn(cfg.image_tokens, d) * 0.02)  # image-token grid positions
        self.img_type = nn.Parameter(torch.zeros(d))
        tdim = 64
        self.t_mlp = nn.Sequential(nn.Linear(tdim, 128), nn.SiLU(), nn.Linear(128, 128))
        self.t_tok = nn.Linear(128, d)
        self.pool_proj = nn.Linear(d, d)
        # the modules are created in the same order as before the latent path existed, so a seeded
        # 1×28×28 network gets the same initial weights (and exports to the same ONNX bytes)
        if cfg.pixel_path:
            # down: 28 -> (space-to-depth) 14 -> 7 -> 4
            self.inc = nn.Conv2d(4, c0, 3, padding=1)
            self.d0 = FiLMRes(c0, 128)  # 14x14
            self.down0 = nn.Conv2d(c0, c1, 3, stride=2, padding=1)  # 14 -> 7
            self.d1 = FiLMRes(c1, 128)  # 7x7
            self.down1 = nn.Conv2d(c1, d, 3, stride=2, padding=1)  # 7 -> 4
        else:
            # down: [C, H, W] -> c0 channels at full resolution -> (H/p)x(W/p) patches of width D
            self.latent_in = nn.Conv2d(channels, c0, 3, padding=1)
            self.latent_block_down = FiLMRes(c0, 128)
            self.to_tokens = nn.Conv2d(c0, d, cfg.latent_patch, stride=cfg.latent_patch)
        # transformer
        self.blocks = nn.ModuleList([Block(d, cfg.n_heads, cfg.d_ff) for _ in range(cfg.n_layers)])
        self.ln_f = nn.LayerNorm(d)
        # text heads (no time input)
        self.head_pi = nn.Linear(d, 1)
        self.head_lam = nn.Linear(d, 1)
        self.head_q = nn.Linear(d, cfg.vocab_size)
        # up path, conditioned on t_img and the marker's hidden state
        self.cond_up = nn.Linear(128 + d, 128)
        if cfg.pixel_path:
            # up: 4 -> 7 -> 14 -> (depth-to-space) 28
            self.up1 = nn.Conv2d(d, c1, 3, padding=1)  # after nearest resize 4 -> 7
            self.u1 = FiLMRes(c1, 128)
            self.up0 = nn.Conv2d(c1, c0, 3, padding=1)  # after nearest resize 7 -> 14
            self.u0 = FiLMRes(c0, 128)
            self.outc = nn.Conv2d(c0, 4, 3, padding=1)
            output = self.outc
        else:
            self.from_tokens = nn.ConvTranspose2d(d, c0, cfg.latent_patch, stride=cfg.latent_patch)
            self.latent_block_up = FiLMRes(c0, 128)
            self.latent_out = nn.Conv2d(c0, channels, 3, padding=1)
            output = self.latent_out
        nn.init.zeros_(output.weight)
        nn.init.zeros_(output.bias)

    def forward(self, tokens, token_mask, images, image_t, image_pos, image_mask, vel_index=None):
        """``vel_index`` (training only): flat indices into the B*M images whose velocity is needed;
        the up path then runs on those alone and ``velocity`` is returned as [K, C, H, W]."""
        B, L = tokens.shape
        M = images.shape[1]
        d = self.cfg.d_model
        T = self.cfg.image_tokens
        # 1. text embeddings [B, L, D]
        pos_ids = torch.arange(L, device=tokens.device)
        h_txt = self.tok(tokens) + self.pos(pos_ids)[None]
        # 2. image down path on N = B*M images
        if self.cfg.pixel_path:
            z, temb, skips = self.pixel_down(images, image_t, B, M)
        else:
            z, temb, skips = self.latent_down(images, image_t, B, M)
        z = z.flatten(2).transpose(1, 2)  # [N, T, D]
        marker_pos = self.pos(image_pos.reshape(B * M))  # [N, D] ties the image to its <image> token
        z = z + self.img_pos[None] + (self.t_tok(temb) + marker_pos + self.img_type)[:, None, :]
        h_img = z.reshape(B, M * T, d)  # [B, M*T, D]
        # the <image> marker token also gets a pooled summary of its image (a direct read path
        # for captions / consistency); one-hot matmul keeps ONNX export simple
        pooled = self.pool_proj(z.mean(1)).reshape(B, M, d) * image_mask[:, :, None].to(z.dtype)  # [B, M, D]
        onehot = (image_pos[:, :, None] == pos_ids[None, None, :]).to(z.dtype)  # [B, M, L]
        h_txt = h_txt + torch.matmul(onehot.transpose(1, 2), pooled)  # [B, L, D]
        # 3. shared transformer over [text ; image tokens]
        h = torch.cat([h_txt, h_img], dim=1)  # [B, L + T*M, D]
        bias = self.attention_bias(token_mask, image_mask, image_pos, B, M)
        rot = None
        if self.cfg.rope:  # image tokens share their marker's position (relative to the text)
            img_p = image_pos[:, :, None].expand(B, M, T).reshape(B, M * T)
            p = torch.cat([pos_ids[None].expand(B, L), img_p], dim=1).to(torch.float32)
            rot = rotary(p, d // self.cfg.n_heads)
        for blk in self.blocks:
            h = blk(h, bias, rot)
        h = self.ln_f(h)
        ht, hi = h[:, :L], h[:, L:]  # [B, L, D], [B, T*M, D]
        # 4. text heads
        pi_logit = self.head_pi(ht).squeeze(-1)  # [B, L]
        log_lambda = self.head_lam(ht).squeeze(-1).clamp(-12.0, 6.0)  # [B, L]
        q_logprobs = torch.log_softmax(self.head_q(ht), dim=-1)  # [B, L, V]
        # 5. image up path
        idx = image_pos.reshape(B, M, 1).expand(B, M, d)
        marker_h = torch.gather(ht, 1, idx).reshape(B * M, d)  # [N, D]
        hi = hi.reshape(B * M, T, d)
        if vel_index is not None:  # only the images that are scored (training)
            temb, marker_h, hi = temb[vel_index], marker_h[vel_index], hi[vel_index]
            skips = [skip[vel_index] for skip in skips]
        N = hi.shape[0]
        cu = F.silu(self.cond_up(torch.cat([temb, marker_h], dim=-1)))  # [N, 128]
        if self.cfg.pixel_path:
            v = self.pixel_up(hi, cu, skips, N)
        else:
            v = self.latent_up(hi, cu, skips, N)
        shape = tuple(self.cfg.latent_shape)
        vel = v.reshape((N,) + shape) if vel_index is not None else v.reshape((B, M) + shape)
        return pi_logit, log_lambda, q_logprobs, vel

    def attention_bias(self, token_mask, image_mask, image_pos, B: int, M: int):
        """Additive attention bias over the sequence [text ; image tokens] of S = L + M·T keys:
        bidirectional, padding keys masked. -> [B, 1, 1, S] (one row for every query). A causal
        variant (training/baseline/model.py) returns [B, 1, S, S]."""
        T = self.cfg.image_tokens
        img_keys = image_mask[:, :, None].expand(B, M, T).reshape(B, M * T)
        keys = torch.cat([token_mask, img_keys], dim=1)  # [B, S]
        bias = (1.0 - keys.to(torch.float32)) * -1e9
        return bias[:, None, None, :]  # [B, 1, 1, S]

    def pixel_down(self, images, image_t, B, M):
        """images [B, M, 1, 28, 28] -> (z [N, D, 4, 4], temb [N, 128], skips [[N, c0, 14, 14], [N, c1, 7, 7]])."""
        x = images.reshape(B * M, 1, 14, 2, 14, 2).permute(0, 3, 5, 1, 2, 4)  # [N, 2, 2, 1, 14, 14]
        x = x.reshape(B * M, 4, 14, 14)  # space-to-depth: channel = 2*dy + dx
        temb = self.t_mlp(time_embed(image_t.reshape(B * M), 64))  # [N, 128]
        s0 = self.d0(self.inc(x), temb)  # [N, c0, 14, 14]
        s1 = self.d1(self.down0(s0), temb)  # [N, c1, 7, 7]
        z = self.down1(s1)  # [N, D, 4, 4]
        return z, temb, [s0, s1]

    def pixel_up(self, hi, cu, skips, N):
        """hi [N, 16, D], cu [N, 128] -> velocity [N, 14, 2, 14, 2] (depth-to-space order; the caller's
        reshape to [.., 1, 28, 28] finishes it)."""
        s0, s1 = skips
        d = self.cfg.d_model
        u = hi.transpose(1, 2).reshape(N, d, 4, 4)  # [N, D, 4, 4]
        u = F.interpolate(u, size=(7, 7), mode="nearest")  # [N, D, 7, 7]
        u = self.u1(self.up1(u) + s1, cu)  # [N, c1, 7, 7]
        u = F.interpolate(u, size=(14, 14), mode="nearest")  # [N, c1, 14, 14]
        u = self.u0(self.up0(u) + s0, cu)  # [N, c0, 14, 14]
        v = self.outc(F.silu(u))  # [N, 4, 14, 14], channel = 2*dy + dx
        return v.reshape(N, 2, 2, 14, 14).permute(0, 3, 1, 4, 2)  # [N, 14, dy, 14, dx]

    def latent_down(self, images, image_t, B, M):
        """images [B, M, C, H, W] -> (z [N, D, H/p, W/p], temb [N, 128], skips [[N, c0, H, W]])."""
        x = images.reshape((B * M,) + tuple(self.cfg.latent_shape))  # [N, C, H, W]
        temb = self.t_mlp(time_embed(image_t.reshape(B * M), 64))  # [N, 128]
        s0 = self.latent_block_down(self.latent_in(x), temb)  # [N, c0, H, W]
        z = self.to_tokens(s0)  # [N, D, H/p, W/p]
        return z, temb, [s0]

    def latent_up(self, hi, cu, skips, N):
        """hi [N, T, D], cu [N, 128] -> velocity [N, C, H, W]."""
        (s0,) = skips
        _, height, width = self.cfg.latent_shape
        patch = self.cfg.latent_patch
        u = hi.transpose(1, 2).reshape(N, self.cfg.d_model, height // patch, width // patch)  # [N, D, H/p, W/p]
        u = self.latent_block_up(self.from_tokens(u) + s0, cu)  # [N, c0, H, W]
        return self.latent_out(F.silu(u))  # [N, C, H, W]


def count_params(m: nn.Module) -> int:
    return sum(p.numel() for p in m.parameters())
