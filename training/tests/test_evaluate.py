"""Evaluator helpers: how generated words are mapped to classes, and the PNG writer."""
import zlib

import numpy as np
import torch

from training.data import STOI, VOCAB
from training.evaluate import checks_of, class_before, score, words_to_class
from training.model_io import write_grid
from training.model import ModelConfig, OneFlowNet
from training.sample import Draws, SamplerParams, TorchRunner, initial_state, run_many


def test_words_to_class():
    assert words_to_class("it is a seven".split()) == 7
    assert words_to_class("it is an ankle boot".split()) == 19
    assert words_to_class("a t-shirt , a piece of clothing".split()) == 10
    assert words_to_class("it is a".split()) is None


def test_class_before_image():
    w = "a coat <image> an ankle boot <image> two <image> <image>".split()
    assert class_before(w, 2) == 14 and class_before(w, 6) == 19 and class_before(w, 8) == 2
    assert class_before(w, 9) is None


def test_png_grid(tmp_path):
    p = tmp_path / "g.png"
    write_grid(p, [[np.zeros((1, 28, 28), np.float32)], [np.ones((1, 28, 28), np.float32)] * 2], scale=1)
    b = p.read_bytes()
    assert b[:8] == b"\x89PNG\r\n\x1a\n"
    w, h = int.from_bytes(b[16:20], "big"), int.from_bytes(b[20:24], "big")
    assert (w, h) == (62, 62)
    idat = b[b.index(b"IDAT") + 4:b.index(b"IEND") - 8]
    assert len(zlib.decompress(idat)) == h * (w + 1)


def test_guided_sampling_end_to_end_with_tiny_model():
    torch.manual_seed(0)
    m = OneFlowNet(ModelConfig(vocab_size=len(VOCAB), d_model=32, n_layers=1, n_heads=2, d_ff=64, chans=(8, 16)))
    prm = SamplerParams(steps=4, w=2.0, temperature=0.7)
    states = [initial_state("draw a seven".split()), initial_state("count from two to four".split())]
    out = run_many(states, TorchRunner(m), prm, [Draws(1), Draws(2)])
    for s in out:
        assert s.done and s.t_text == 1.0 and all(im.t == 1.0 for im in s.images)
        assert sum(t == STOI["<image>"] for t in s.tokens) == len(s.images)
        assert len(s.tokens) <= prm.max_len
    again = run_many([initial_state("draw a seven".split())], TorchRunner(m), prm, [Draws(1)])
    assert again[0].tokens == out[0].tokens  # same draws -> same generation


def test_checks_thresholds_and_the_ceiling_rule():
    res = {"draw": {"accuracy": 0.86}, "caption": {"exact_match": 0.95},
           "interleaved": {"image_count_accuracy": 0.899, "consistency": 0.85}, "mixed": {"agreement": 0.84}}
    c = checks_of(res, ceiling=0.90)
    assert c["text_to_image"] == {"value": 0.86, "ceiling": 0.90, "pass": True}  # 0.86 ≥ 0.95 × 0.90
    assert not checks_of(res, ceiling=0.95)["text_to_image"]["pass"]
    assert [c[k]["pass"] for k in ("caption_vqa", "interleaved_count", "interleaved_consistency", "concurrent_agreement")] \
        == [True, False, True, False]


def test_caption_scores_per_question_and_yes_no_answers():
    from training.data import DocSampler, load_images
    bank = load_images(0)
    odd, even = DocSampler(bank, parity_share=1.0, odd_share=1.0), DocSampler(bank, parity_share=1.0, odd_share=0.0)
    rng = np.random.default_rng(3)
    docs = [odd.caption(rng, cls=3), odd.caption(rng, cls=4), even.caption(rng, cls=4),
            ([odd.img(rng, 15), "is", "it", "a", "shoe", "?"], ["yes", ",", "it", "is", "a", "sandal"],
             {"task": "caption", "cls": 15, "question": "is it a shoe"})]
    assert [d[2]["question"] for d in docs[:3]] == ["is it odd", "is it odd", "is it even"]
    answers = [list(d[1]) for d in docs]
    answers[1][0] = "no" if answers[1][0] == "yes" else "yes"  # right digit, wrong yes/no
    states = []
    for d, a in zip(docs, answers):
        st = initial_state(d[0])
        st.tokens += [STOI[w] for w in a]
        states.append(st)
    r = score("caption", docs, states, clf=None)
    assert r["exact_match"] == 3 / 4 and r["names_right_class"] == 1.0
    assert r["exact_match_digits"] == 2 / 3 and r["exact_match_fashion"] == 1.0
    assert r["exact_match_by_question"] == {"is it a shoe": 1.0, "is it even": 1.0, "is it odd": 0.5}
    assert r["yes_no_right_by_question"] == {"is it odd": 0.5, "is it even": 1.0, "is it a shoe": 1.0}
