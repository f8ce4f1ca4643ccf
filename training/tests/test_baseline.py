"""The autoregressive baseline: its loss on hand-computed cases, causal masking, the training
documents, and its sampler (image then text, caps, determinism)."""
import math

import numpy as np
import pytest
import torch

from training.baseline.model import ARFlowNet
from training.baseline.sample import (ARParams, ARState, ar_initial_state, ar_step, ar_text_free, run_ar_many,
                                      sequential_step)
from training.baseline.train import END, ARStream, ar_document, collate_ar, next_token_loss
from training.data import IMAGE, SEP, STOI, VOCAB, DocSampler, Img, doc_to_ids, load_images
from training.model import ModelConfig, OneFlowNet
from training.sample import Draws, ImageSlot, Outputs, SamplerParams, State, TorchRunner
from training.train import TrainConfig, model_inputs, noise_document

TINY = ModelConfig(vocab_size=len(VOCAB), d_model=32, n_layers=2, n_heads=2, d_ff=64, chans=(8, 16), rope=True)
V = len(VOCAB)


def _inputs(tokens, image_pos, seed=0):
    """One sequence: tokens [1, L], one image slot per entry of image_pos (t = 0.5)."""
    g = torch.Generator().manual_seed(seed)
    M = max(1, len(image_pos))
    return [torch.tensor([tokens]), torch.ones(1, len(tokens), dtype=torch.bool),
            torch.randn(1, M, 1, 28, 28, generator=g), torch.full((1, M), 0.5),
            torch.tensor([image_pos or [0]]), torch.tensor([[bool(image_pos)] * M])]


# ----------------------------------------------------------------------------- loss


def test_next_token_loss_hand_computed():
    # two documents: doc 0 scores positions 1 and 2 (tokens 3 then 5), doc 1 scores position 0 only
    q = torch.full((2, 3, 6), math.log(1 / 6))
    q[0, 1] = torch.log(torch.tensor([0.05, 0.05, 0.1, 0.4, 0.1, 0.3]))
    q[0, 2] = torch.log(torch.tensor([0.1, 0.1, 0.1, 0.1, 0.1, 0.5]))
    nxt = torch.tensor([[-1, 3, 5], [2, -1, -1]])
    doc0 = (-math.log(0.4) - math.log(0.5)) / 2
    doc1 = math.log(6)
    assert next_token_loss(q, nxt).item() == pytest.approx((doc0 + doc1) / 2, abs=1e-6)


def test_collate_aligns_next_tokens_and_closes_with_sep():
    im = Img(3, np.zeros((1, 28, 28), np.float32))
    ex = ar_document(["draw", "a", "three"], [im, "it", "is"], np.random.default_rng(0))
    b = collate_ar([ex])
    toks = [VOCAB[t] for t in b["tokens"][0].tolist()]
    assert toks == ["<bos>", "draw", "a", "three", "<sep>", "<image>", "it", "is"]
    nxt = [VOCAB[t] if t >= 0 else None for t in b["next_token"][0].tolist()]
    # the prompt is not scored; <sep> predicts <image>; the marker predicts the word after the image
    assert nxt == [None, None, None, None, "<image>", "it", "is", "<sep>"]
    assert END == STOI[SEP]
    assert b["image_pos"][0].tolist() == [5]


def test_clean_share_matches_oneflows_share_of_clean_born_images():
    rng = np.random.default_rng(1)
    im = Img(3, np.zeros((1, 28, 28), np.float32))
    ts = [ar_document([], [im], rng).images[0][2] for _ in range(6000)]
    of = [noise_document([], [im], rng).images for _ in range(6000)]
    of_t = [e[0][2] for e in of if e]  # born images only
    clean_ar = np.mean([t == 1.0 for t in ts])
    clean_of = np.mean([t == 1.0 for t in of_t])
    assert clean_ar == pytest.approx(1 / 3, abs=0.02) and clean_of == pytest.approx(1 / 3, abs=0.02)
    noisy = [t for t in ts if t < 1.0]
    assert np.mean(noisy) == pytest.approx(0.5, abs=0.02)  # t ~ U(0, 1) for the scored ones


def test_ar_stream_uses_oneflows_documents():
    cfg = TrainConfig.from_json(None, batch_size=8, objective="ar")
    from training.train import Stream
    sampler = DocSampler(load_images(0))
    of_docs = Stream(cfg, sampler).docs(3)
    ar = ARStream(cfg, sampler)
    ids = lambda docs: [doc_to_ids(p, t)[0] for p, t, _ in docs]
    assert ids(ar.docs(3)) == ids(of_docs) and [m for *_, m in ar.docs(3)] == [m for *_, m in of_docs]
    b = ar.batch(3)
    assert b["tokens"].shape[0] == 8 and int((b["next_token"] == END).sum()) == 8  # each document closed once


# ----------------------------------------------------------------------------- masking


def _net():
    """A seeded tiny ARFlowNet whose velocity output layer is not zero (as it starts in training)."""
    torch.manual_seed(0)
    net = ARFlowNet(TINY).eval()
    torch.nn.init.normal_(net.outc.weight, std=0.1)
    return net


def test_changing_a_later_text_token_leaves_earlier_predictions_unchanged():
    net = _net()
    toks = [STOI[w] for w in ["<bos>", "count", "to", "three", "<sep>", "one", "<image>", "two", "<image>", "three"]]
    a = _inputs(toks, [6, 8])
    j = 7  # "two", between the images
    b = [x.clone() for x in a]
    b[0][0, j] = STOI["five"]
    with torch.no_grad():
        qa, va = net(*a)[2:]
        qb, vb = net(*b)[2:]
    assert torch.equal(qa[0, :j], qb[0, :j])  # every earlier next-token distribution, bit for bit
    assert torch.equal(va[0, 0], vb[0, 0])  # the image before it
    assert (qa[0, j:] - qb[0, j:]).abs().max() > 1e-4  # the change is seen from j on
    assert (va[0, 1] - vb[0, 1]).abs().max() > 1e-6  # by the later image too


def test_an_image_is_seen_by_its_marker_and_later_text_only():
    net = _net()
    toks = [STOI[w] for w in ["<bos>", "draw", "any", "digit", "<sep>", "<image>", "it", "is", "a"]]
    a = _inputs(toks, [5])
    b = [x.clone() for x in a]
    b[2] = torch.randn(b[2].shape, generator=torch.Generator().manual_seed(5))  # another latent
    with torch.no_grad():
        qa = net(*a)[2]
        qb = net(*b)[2]
    assert torch.equal(qa[0, :5], qb[0, :5])  # the text before the marker cannot see the image
    assert (qa[0, 5] - qb[0, 5]).abs().max() > 1e-4  # the marker predicts the word after the image
    assert (qa[0, 8] - qb[0, 8]).abs().max() > 1e-4


def test_image_tokens_are_bidirectional_and_see_only_the_past():
    net = ARFlowNet(TINY)
    # tokens: 0 <bos>, 1 w, 2 <image> (image 0), 3 w, 4 <image> (image 1), 5 w
    tmask = torch.ones(1, 6, dtype=torch.bool)
    bias = net.attention_bias(tmask, torch.tensor([[True, True]]), torch.tensor([[2, 4]]), 1, 2)
    allowed = bias[0, 0] == 0  # [S, S], S = 6 + 2·16
    T = TINY.image_tokens
    img0 = list(range(6, 6 + T))
    img1 = list(range(6 + T, 6 + 2 * T))
    assert allowed[img0[0], img0[-1]] and allowed[img0[-1], img0[0]]  # within an image: both ways
    assert allowed[img0[0], 2] and allowed[2, img0[3]]  # the marker and its image: one block
    assert not allowed[img0[0], 3] and not allowed[img0[0], img1[0]]  # nothing after the image
    assert allowed[3, img0[5]] and not allowed[3, img1[0]] and not allowed[3, 4]
    assert allowed[5, img1[0]] and allowed[5, img0[0]] and not allowed[1, 2]
    # text is causal: lower triangle among the text positions
    assert torch.equal(allowed[:6, :6], torch.tril(torch.ones(6, 6, dtype=torch.bool)))


def test_oneflow_attention_is_unchanged_bidirectional():
    net = OneFlowNet(TINY)
    bias = net.attention_bias(torch.tensor([[True, True, False]]), torch.tensor([[True]]), torch.tensor([[1]]), 1, 1)
    assert bias.shape == (1, 1, 1, 3 + 16)
    assert bias[0, 0, 0, 2] < -1e8 and float(bias[0, 0, 0, :2].abs().sum()) == 0.0


# ----------------------------------------------------------------------------- sampler


def _outputs(n, next_logits, m=0, velocity=0.0):
    q = np.full((n, V), -50.0, np.float32)
    q[-1] = next_logits
    return Outputs(np.zeros(n, np.float32), np.zeros(n, np.float32), q,
                   np.full((m, 1, 28, 28), velocity, np.float32))


def _one_hot_logits(word):
    z = np.full(V, -50.0, np.float32)
    z[STOI[word]] = 0.0
    return z


def test_sampler_emits_an_image_completes_it_then_resumes_text():
    prm = ARParams(steps=4, temperature=1.0)
    s = ar_initial_state(["draw", "a", "three"])
    s = ar_step(s, _outputs(len(s.tokens), _one_hot_logits(IMAGE)), None, prm, Draws(0))
    assert VOCAB[s.tokens[-1]] == IMAGE and len(s.images) == 1 and s.images[0].t == 0.0 and s.denoising
    start = s.images[0].latent.copy()
    for k in range(4):  # four Euler steps of velocity 1; the text does not move meanwhile
        s = ar_step(s, _outputs(len(s.tokens), _one_hot_logits("it"), 1, 1.0), None, prm, Draws(0))
        assert len(s.tokens) == 6
    assert s.images[0].t == 1.0 and not s.denoising
    np.testing.assert_allclose(s.images[0].latent, start + 1.0, atol=1e-6)
    s = ar_step(s, _outputs(len(s.tokens), _one_hot_logits("it"), 1), None, prm, Draws(0))
    assert VOCAB[s.tokens[-1]] == "it"
    s = ar_step(s, _outputs(len(s.tokens), _one_hot_logits(SEP), 1), None, prm, Draws(0))
    assert s.done and len(s.tokens) == 7


def test_image_guidance_mixes_against_the_text_free_twin():
    prm = ARParams(steps=2, w_image=3.0)
    s = ARState([1, 25, 2, 3], 3, [ImageSlot(np.zeros((1, 28, 28), np.float32), 0.0)])
    twin = ar_text_free(s)
    assert twin.tokens == [1, 2, 3] and twin.images[0] is s.images[0]
    with pytest.raises(ValueError, match="text-free"):
        ar_step(s, _outputs(4, _one_hot_logits("it"), 1, 1.0), None, prm, Draws(0))
    new = ar_step(s, _outputs(4, _one_hot_logits("it"), 1, 1.0), _outputs(3, _one_hot_logits("it"), 1, 0.5), prm, Draws(0))
    # ṽ = vf + 3 (vc − vf) = 0.5 + 3·0.5 = 2, times h = 1/2
    np.testing.assert_allclose(new.images[0].latent, 1.0, atol=1e-6)
    assert new.images[0].t == 0.5


def test_sampler_respects_max_len_and_max_images():
    prm = ARParams(steps=1, max_len=6, max_images=1)
    s = ar_initial_state(["count", "to", "two"])  # 5 tokens
    s = ar_step(s, _outputs(5, _one_hot_logits("one")), None, prm, Draws(0))
    assert s.ended and len(s.tokens) == 6  # the cap ends the text
    s = ARState([1, 25, 2, 3], 3, [ImageSlot(np.zeros((1, 28, 28), np.float32), 1.0)])
    z = _one_hot_logits(IMAGE)
    z[STOI["it"]] = -1.0  # <image> is far more likely, but one slot already exists
    s = ar_step(s, _outputs(4, z), None, ARParams(max_images=1), Draws(0))
    assert VOCAB[s.tokens[-1]] == "it" and len(s.images) == 1


def test_run_ar_many_is_deterministic_for_a_seed_and_batch_independent():
    torch.manual_seed(0)
    runner = TorchRunner(ARFlowNet(TINY))
    sampler = DocSampler(load_images(0), "test")
    rng = np.random.default_rng(0)
    prompts = [sampler.draw(rng)[0], sampler.caption(rng)[0], sampler.count(rng)[0]]
    prm = ARParams(steps=3, temperature=1.0, max_len=16)
    first = run_ar_many([ar_initial_state(p) for p in prompts], runner, prm, [Draws(i) for i in range(3)])
    again = run_ar_many([ar_initial_state(p) for p in prompts], runner, prm, [Draws(i) for i in range(3)])
    alone = run_ar_many([ar_initial_state(prompts[2])], runner, prm, [Draws(2)])
    assert all(s.done for s in first)
    assert [s.tokens for s in first] == [s.tokens for s in again]
    assert first[2].tokens == alone[0].tokens
    for a, b in zip(first, again):
        assert all(np.array_equal(x.latent, y.latent) for x, y in zip(a.images, b.images))
    other = run_ar_many([ar_initial_state(p) for p in prompts], runner, prm, [Draws(10 + i) for i in range(3)])
    assert [s.tokens for s in other] != [s.tokens for s in first]


# ----------------------------------------------------------------------------- sequential ablation


def test_sequential_noising_starts_image_clocks_when_the_text_is_complete():
    im = Img(3, np.ones((1, 28, 28), np.float32))
    early = noise_document(["draw"], [im], np.random.default_rng(0), tau=0.9, sequential=True)
    for _, _, t, _, scored in early.images:
        assert t == 0.0 and not scored  # τ < 1: born images are pure noise, not scored
    late = noise_document(["draw"], [im], np.random.default_rng(0), tau=1.25, sequential=True)
    (_, _, t, _, scored), = late.images
    assert t == pytest.approx(0.25) and scored
    conc = noise_document(["draw"], [im], np.random.default_rng(0), tau=1.25)
    assert conc.tokens == late.tokens and conc.images[0][2] != t  # same draws, other clock


def test_sequential_step_holds_images_until_the_text_clock_ends():
    prm = SamplerParams(steps=2)
    noise = np.full((1, 28, 28), 0.25, np.float32)
    s = State([1, 25, 2, 3], 3, [ImageSlot(noise.copy(), 0.0)], t_text=0.0)
    n = len(s.tokens)
    out = Outputs(np.full(n, 20.0, np.float32), np.zeros(n, np.float32), np.zeros((n, V), np.float32),
                  np.ones((1, 1, 28, 28), np.float32))  # π ≈ 1: nothing inserted
    s1 = sequential_step(s, out, None, prm, Draws(0))
    assert s1.t_text == 0.5 and s1.images[0].t == 0.0 and np.array_equal(s1.images[0].latent, noise)
    s2 = sequential_step(s1, out, None, prm, Draws(0))
    assert s2.t_text == 1.0 and s2.images[0].t == 0.0
    s3 = sequential_step(s2, out, None, prm, Draws(0))  # now the image flows
    assert s3.images[0].t == 0.5
    np.testing.assert_allclose(s3.images[0].latent, 0.75, atol=1e-6)
