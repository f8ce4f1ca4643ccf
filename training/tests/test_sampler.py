"""Reference sampler step (docs/algorithm.md §4): gates, guidance, ≤1 insertion per gap, clocks, stop, cap."""
import math

import numpy as np
import pytest

from training.data import BOS, IMAGE, SEP, STOI, VOCAB
from training.sample import (ImageSlot, Outputs, RecordedDraws, SamplerParams, State, pick, step,
                             needs_text_free, text_free, token_distribution, unconditional)

V = len(VOCAB)


def outputs(n, m=0, pi_logit=0.0, log_lam=0.0, favourite=None, vel=0.0):
    q = np.full((n, V), -20.0, np.float32)
    q[:, favourite if favourite is not None else STOI["seven"]] = 0.0
    return Outputs(np.full(n, pi_logit, np.float32), np.full(n, log_lam, np.float32), q,
                   np.full((m, 1, 28, 28), vel, np.float32))


def prompt_state(t_text=0.0):
    toks = [STOI[BOS], STOI["draw"], STOI["a"], STOI["seven"], STOI[SEP]]
    return State(toks, 5, [], t_text)


@pytest.mark.parametrize("u_pi,u_rate,inserted", [(0.49, 0.24, True), (0.51, 0.0, False), (0.0, 0.26, False)])
def test_two_gates(u_pi, u_rate, inserted):
    # π = σ(0) = 0.5 -> gate 1 passes iff u_pi < 0.5; t_text = 0.5, Δt = 1/8, λ = 1:
    # rate gate p = min(1, h/(1−t)·λ) = 0.125/0.5 = 0.25
    s = prompt_state(0.5)
    d = RecordedDraws([u_pi, u_rate, 0.3])
    new = step(s, outputs(5), None, SamplerParams(steps=8), d)
    assert (len(new.tokens) == 6) == inserted
    if inserted:
        assert new.tokens[-1] == STOI["seven"]
    assert new.t_text == 0.625
    assert d.used_u == [u_pi, u_rate, 0.3]  # exactly three uniforms for the one open gap


def test_rate_gate_saturates_and_guidance_on_lambda():
    s = prompt_state(0.5)
    s.tokens += [STOI["two"]]
    oc = outputs(6, log_lam=math.log(3.0))
    ou = outputs(2 + 1, log_lam=math.log(1.5))  # unconditional state: <bos> <sep> two
    # w = 2: λ̃ = 3²·1.5^(−1) = 6 -> p = min(1, 0.25·6) = 1; w = 1: p = 0.75
    for w, u_rate, expect in [(2.0, 0.999, 2), (1.0, 0.76, 0), (1.0, 0.74, 2)]:
        d = RecordedDraws([0.0, u_rate, 0.5, 0.0, u_rate, 0.5])
        new = step(s, oc, ou, SamplerParams(steps=8, w=w), d)
        assert len(new.tokens) - len(s.tokens) == expect, (w, u_rate)


def test_at_most_one_insertion_per_gap_and_all_at_once():
    s = prompt_state(0.0)
    s.tokens += [STOI["one"], STOI["two"]]
    oc = outputs(7, pi_logit=-30.0, log_lam=10.0)  # every gate opens
    d = RecordedDraws([0.0, 0.0, 0.5] * 3)
    new = step(s, oc, None, SamplerParams(steps=4), d)
    words = [VOCAB[t] for t in new.tokens[5:]]
    # gaps right of <sep>, "one", "two" each get exactly one token, computed from the old state
    assert words == ["seven", "one", "seven", "two", "seven"]


def test_image_insertion_noise_and_per_image_clocks():
    s = prompt_state(0.25)
    s.tokens += [STOI[IMAGE]]
    s.images = [ImageSlot(np.zeros((1, 28, 28), np.float32), 0.75)]
    oc = outputs(6, m=1, pi_logit=-30.0, log_lam=10.0, favourite=STOI[IMAGE], vel=2.0)
    oc.pi_logit[5] = 30.0  # π ≈ 1 right of the existing image: that gap stays closed
    normals = list(np.linspace(-1, 1, 784))
    d = RecordedDraws([0.0, 0.0, 0.5, 0.5, 0.0, 0.5], normals)
    new = step(s, oc, None, SamplerParams(steps=2), d)
    # Δt = 0.5: the old image moves h = min(0.5, 1 − 0.75) = 0.25 -> latent 0.25·2, t -> 1
    assert [VOCAB[t] for t in new.tokens[5:]] == ["<image>", "<image>"]
    born, old = new.images
    assert old.t == 1.0 and np.allclose(old.latent, 0.5)
    # the new slot sits right of <sep>, at t = 0, with the 784 normals as its latent (row-major)
    assert born.t == 0.0 and np.array_equal(born.latent.reshape(-1), np.asarray(normals, np.float32))
    assert new.t_text == 0.75 and not new.done
    assert len(d.used_u) == 6 and len(d.used_n) == 784


def test_guided_velocity_and_stop_rule():
    s = prompt_state(1.0)
    s.tokens += [STOI[IMAGE]]
    s.images = [ImageSlot(np.zeros((1, 28, 28), np.float32), 0.5)]
    oc = outputs(6, m=1, vel=3.0)
    ou = outputs(3, m=1, vel=-5.0)  # text guidance's twin: not used for images
    of = outputs(3, m=1, vel=1.0)  # text-free twin <bos> <sep> <image>
    assert needs_text_free(s, SamplerParams(w_image=3.0)) and not needs_text_free(s, SamplerParams(w=3.0))
    d = RecordedDraws([])
    prm = SamplerParams(steps=4, w=2.0, w_image=3.0)
    new = step(s, oc, ou, prm, d, of)
    # ṽ = vf + w_image(vc − vf) = 1 + 3·2 = 7; h = 0.25
    assert np.allclose(new.images[0].latent, 1.75) and new.images[0].t == 0.75
    assert d.used_u == []  # text is closed: no draws
    assert not new.done
    # text guidance alone leaves the velocity as the conditional one
    alone = step(s, oc, ou, SamplerParams(steps=4, w=3.0), d)
    assert np.allclose(alone.images[0].latent, 0.75)
    new = step(new, oc, ou, prm, d, of)
    assert new.images[0].t == 1.0 and new.done
    assert not needs_text_free(new, prm)  # no image left to denoise: no third forward pass
    with pytest.raises(ValueError, match="text-free"):
        step(s, oc, ou, prm, d)


def test_length_cap():
    s = prompt_state(0.0)
    oc = outputs(5, pi_logit=-30.0, log_lam=10.0)
    new = step(s, oc, None, SamplerParams(steps=8, max_len=6), RecordedDraws([0.0, 0.0, 0.5]))
    assert len(new.tokens) == 6 and new.capped and new.t_text == 1.0
    # capped: no draws, no insertions
    d = RecordedDraws([])
    again = step(new, outputs(6), None, SamplerParams(steps=8, max_len=6), d)
    assert again.tokens == new.tokens and again.done


def test_token_distribution_guidance_temperature_topk():
    lc = np.log(np.full(V, 1e-9)); lu = lc.copy()
    a, b = STOI["one"], STOI["two"]
    lc[a], lc[b] = np.log(0.6), np.log(0.4)
    lu[a], lu[b] = np.log(0.8), np.log(0.2)
    lc[STOI[SEP]] = 5.0  # never inserted
    p = token_distribution(lc, lu, 2.0, 1.0, 0)
    # Q̃ ∝ Qc²/Qu: one: 0.36/0.8 = 0.45, two: 0.16/0.2 = 0.8
    assert abs(p[a] - 0.45 / 1.25) < 1e-6 and abs(p[b] - 0.8 / 1.25) < 1e-6 and p[STOI[SEP]] == 0
    p = token_distribution(lc, None, 1.0, 0.5, 1)
    assert p[a] == 1.0
    p = token_distribution(lc, None, 1.0, 0.5, 0)
    assert abs(p[a] - 0.36 / 0.52) < 1e-6  # temperature 0.5 squares the probabilities
    # inverse CDF
    q = np.zeros(V); q[a] = 0.25; q[b] = 0.75
    assert pick(q, 0.2) == a and pick(q, 0.25) == b and pick(q, 0.9999999) == b


def test_unconditional_view():
    s = State([STOI[BOS], STOI[IMAGE], STOI["describe"], STOI[SEP], STOI["a"], STOI[IMAGE]], 4,
              [ImageSlot(np.zeros((1, 28, 28), np.float32), 1.0), ImageSlot(np.ones((1, 28, 28), np.float32), 0.5)], 0.5)
    u = unconditional(s)
    assert u.tokens == [STOI[BOS], STOI[SEP], STOI["a"], STOI[IMAGE]] and u.prompt_len == 2
    assert len(u.images) == 1 and u.images[0].t == 0.5


def test_text_free_view():
    s = State([STOI[BOS], STOI[IMAGE], STOI["describe"], STOI[SEP], STOI["a"], STOI[IMAGE], STOI["seven"], STOI[IMAGE]], 4,
              [ImageSlot(np.zeros((1, 28, 28), np.float32), 1.0), ImageSlot(np.ones((1, 28, 28), np.float32), 0.5),
               ImageSlot(np.full((1, 28, 28), 2.0, np.float32), 0.0)], 0.5)
    f = text_free(s)
    assert f.tokens == [STOI[BOS], STOI[SEP], STOI[IMAGE], STOI[IMAGE]] and f.prompt_len == 2
    assert [im.t for im in f.images] == [0.5, 0.0] and f.images[1].latent[0, 0, 0] == 2.0
