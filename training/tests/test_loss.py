"""The training loss (docs/algorithm.md §3 step 4) on hand-computed cases."""
import math

import numpy as np
import pytest
import torch

from training.train import oneflow_loss


def _batch(counts, gap, bags, img_target, img_mask):
    return {
        "gap_mask": torch.tensor(gap), "counts": torch.tensor(counts, dtype=torch.float32),
        "bag_b": torch.tensor([b for b, _, _ in bags], dtype=torch.int64),
        "bag_pos": torch.tensor([p for _, p, _ in bags], dtype=torch.int64),
        "bag_tok": torch.tensor([t for _, _, t in bags], dtype=torch.int64),
        "img_target": torch.tensor(img_target, dtype=torch.float32),
        "img_loss_mask": torch.tensor(img_mask), "text_weight": torch.ones(len(counts)),
    }


def test_text_loss_hand_computed():
    # one example, tokens [<bos>, <sep>, x]: prompt_len 2 -> gaps at positions 1 and 2 (n = 2)
    # gap 1 has bag {3, 5} (k=2), gap 2 is empty. Position 0 is inside the prompt: ignored.
    V = 6
    pi_logit = torch.tensor([[9.0, 0.5, -1.0]])
    log_lam = torch.tensor([[3.0, math.log(1.5), math.log(0.2)]])
    q = torch.full((1, 3, V), math.log(1.0 / V))
    q[0, 1] = torch.log(torch.tensor([0.05, 0.05, 0.1, 0.4, 0.1, 0.3]))
    vel = torch.zeros(1, 1, 1, 2, 2)
    b = _batch([[0, 2, 0]], [[False, True, True]], [(0, 1, 3), (0, 1, 5)], np.zeros((1, 1, 1, 2, 2)), [[False]])
    total, lt, li = oneflow_loss((pi_logit, log_lam, q, vel), b, image_loss_weight=3.0)
    sig = lambda x: 1 / (1 + math.exp(-x))
    # gap 1: −log Q(3) − log Q(5) + (λ − k log λ) + BCE(π, 0) = −log 0.4 − log 0.3 + (1.5 − 2 log 1.5) − log(1 − σ(0.5))
    g1 = -math.log(0.4) - math.log(0.3) + (1.5 - 2 * math.log(1.5)) - math.log(1 - sig(0.5))
    # gap 2: no bag: only BCE(π, 1) = −log σ(−1)
    g2 = -math.log(sig(-1.0))
    expect = (g1 + g2) / 2
    assert abs(lt.item() - expect) < 1e-5, (lt.item(), expect)
    assert li.item() == 0.0  # no image with t < 1
    assert abs(total.item() - expect) < 1e-5


def test_text_loss_averages_examples_and_image_loss_masks_clean_images():
    V = 4
    pi_logit = torch.zeros(2, 2)
    log_lam = torch.zeros(2, 2)  # λ = 1
    q = torch.full((2, 2, V), math.log(0.25))
    # example 0: gaps 0,1, bag of 1 at gap 0; example 1: gap 1 only (gap 0 is prompt), empty
    b = _batch([[1, 0], [0, 0]], [[True, True], [False, True]], [(0, 0, 2)],
               np.stack([np.full((2, 1, 2, 2), 1.0), np.full((2, 1, 2, 2), 2.0)]),
               [[True, False], [False, True]])
    vel = torch.zeros(2, 2, 1, 2, 2)
    total, lt, li = oneflow_loss((pi_logit, log_lam, q, vel), b, image_loss_weight=2.0)
    ln2 = math.log(2.0)
    ex0 = ((-math.log(0.25) + (1 - 0) + ln2) + ln2) / 2  # λ − 1·log λ = 1; BCE at logit 0 = log 2
    ex1 = ln2 / 1
    assert abs(lt.item() - (ex0 + ex1) / 2) < 1e-5
    # images: (0,0) target 1 -> se 1; (1,1) target 2 -> se 4; (0,1), (1,0) masked out (t_img = 1 / padding)
    assert abs(li.item() - 2.5) < 1e-6
    assert abs(total.item() - ((ex0 + ex1) / 2 + 2.0 * 2.5)) < 1e-5


def test_text_weight_zero_removes_an_example_from_the_text_loss():
    V = 4
    outs = (torch.zeros(2, 2), torch.zeros(2, 2), torch.full((2, 2, V), math.log(0.25)), torch.zeros(2, 2, 1, 2, 2))
    b = _batch([[1, 0], [0, 0]], [[True, True], [False, True]], [(0, 0, 2)],
               np.zeros((2, 2, 1, 2, 2)), [[False, False], [False, False]])
    _, both, _ = oneflow_loss(outs, b)
    ln2 = math.log(2.0)
    ex0 = ((-math.log(0.25) + 1 + ln2) + ln2) / 2
    b["text_weight"] = torch.tensor([0.0, 1.0])
    _, only1, _ = oneflow_loss(outs, b)
    assert abs(both.item() - (ex0 + ln2) / 2) < 1e-5 and abs(only1.item() - ln2 / 2) < 1e-5


def test_gradient_reaches_all_heads():
    from training.model import ModelConfig, OneFlowNet
    from training.train import collate, noise_document
    from training.data import DocSampler, load_images
    torch.manual_seed(0)
    m = OneFlowNet(ModelConfig(vocab_size=95, d_model=32, n_layers=1, n_heads=2, d_ff=64, chans=(8, 16)))
    rng = np.random.default_rng(0)
    ds = DocSampler(load_images(0), "train")
    ex = [noise_document(*ds.count(rng)[:2], rng, tau=0.6) for _ in range(3)]
    b = collate(ex)
    out = m(b["tokens"], b["token_mask"], b["images"], b["image_t"], b["image_pos"], b["image_mask"])
    loss, _, _ = oneflow_loss(out, b, 3.0)
    loss.backward()
    for name in ["head_pi.weight", "head_lam.weight", "head_q.weight", "outc.weight", "inc.weight"]:
        g = dict(m.named_parameters())[name].grad
        assert g is not None and float(g.abs().sum()) > 0, name


@pytest.mark.parametrize("rope", [False, True])
def test_packed_velocity_matches_full(rope):
    """Training runs the up path only on scored images (vel_index); loss and gradients must equal
    the full forward's."""
    from training.model import ModelConfig, OneFlowNet
    from training.train import collate, noise_document, train_batch_inputs
    from training.data import DocSampler, load_images
    torch.manual_seed(0)
    m = OneFlowNet(ModelConfig(vocab_size=95, d_model=32, n_layers=1, n_heads=2, d_ff=64, chans=(8, 16), rope=rope))
    torch.nn.init.normal_(m.outc.weight, std=0.1)
    rng = np.random.default_rng(1)
    ds = DocSampler(load_images(0), "train")
    b = collate([noise_document(*ds.count(rng)[:2], rng, tau=t) for t in (0.4, 0.9, 1.3, 1.8)])
    assert 0 < int(b["img_loss_mask"].sum()) < int(b["image_mask"].sum())  # some images unscored
    inputs = (b["tokens"], b["token_mask"], b["images"], b["image_t"], b["image_pos"], b["image_mask"])
    full = oneflow_loss(m(*inputs), b, 3.0)
    full[0].backward()
    g_full = {n: p.grad.clone() for n, p in m.named_parameters() if p.grad is not None}
    m.zero_grad()
    b = train_batch_inputs(b, int(b["img_loss_mask"].sum()))
    packed = oneflow_loss(m(*inputs, vel_index=b["vel_index"]), b, 3.0)
    packed[0].backward()
    for a, c in zip(full, packed):
        assert abs(a.item() - c.item()) < 1e-5
    for n, p in m.named_parameters():
        if n in g_full:
            assert torch.allclose(p.grad, g_full[n], atol=1e-6), n
