"""The autoregressive + flow-matching baseline's network: OneFlowNet with causal attention.

Same modules, sizes and inputs as ``training.model.OneFlowNet`` (so the same checkpoint layout and
the same FLOPs per shape); only the attention bias differs. Every position gets an order key:

  * a text token at index i: key i;
  * the image tokens of the image whose ``<image>`` marker sits at index p: key p.

A query attends to the keys whose order key is ≤ its own (padding keys masked). So text is causal,
an image's tokens and its marker form one bidirectional block (they see each other and everything
before the marker), and the text after the marker sees the whole image. The marker's output
predicts the token that follows the image, read once the image is complete (as the end-of-image
position does in a Transfusion-style model); the position before the marker predicts ``<image>``.

The outputs are OneFlowNet's; the baseline reads ``q_logprobs[b, i]`` as the next-token
distribution after position i (and ignores ``pi_logit`` / ``log_lambda``) and ``velocity`` as the
flow-matching velocity of each image.
"""
from __future__ import annotations

import torch

from training.model import ModelConfig, OneFlowNet
from training.model_io import torch_load


class ARFlowNet(OneFlowNet):
    def attention_bias(self, token_mask, image_mask, image_pos, B: int, M: int):
        """-> [B, 1, S, S] additive bias, S = L + M·T: 0 where query row may attend key column."""
        L = token_mask.shape[1]
        T = self.cfg.image_tokens
        text_key = torch.arange(L, device=token_mask.device)[None].expand(B, L)  # [B, L]
        image_key = image_pos[:, :, None].expand(B, M, T).reshape(B, M * T)  # [B, M*T]
        order = torch.cat([text_key, image_key], dim=1)  # [B, S]
        img_valid = image_mask[:, :, None].expand(B, M, T).reshape(B, M * T)
        valid = torch.cat([token_mask, img_valid], dim=1)  # [B, S]
        allowed = (order[:, None, :] <= order[:, :, None]) & valid[:, None, :]  # [B, S(query), S(key)]
        return ((~allowed).to(torch.float32) * -1e9)[:, None]  # [B, 1, S, S]


def network(mc: ModelConfig, objective: str) -> OneFlowNet:
    """The network a run of ``objective`` ("oneflow" or "ar") trains."""
    if objective == "ar":
        return ARFlowNet(mc)
    if objective == "oneflow":
        return OneFlowNet(mc)
    raise ValueError(f"unknown objective {objective!r}")


def load_run_model(ckpt: str):
    """(EMA network in eval mode, the run's training config dict) from a checkpoint of either kind."""
    state = torch_load(ckpt)
    cfg = state["config"]
    model = network(ModelConfig.from_dict(cfg["model"]), cfg.get("objective", "oneflow"))
    model.load_state_dict(state["ema"])
    return model.eval(), cfg
