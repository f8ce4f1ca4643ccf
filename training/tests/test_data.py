"""Toy world: deterministic from the seed, vocabulary layout, every task fits the model's limits."""
import numpy as np

from training.data import (BOS, IMAGE, PAD, SEP, STOI, TASKS, VOCAB, DocSampler, Img, doc_to_ids, load_images)
from training.data import article, name_words
from training.train import Stream, TrainConfig, batches


def test_specials_have_fixed_ids():
    assert [STOI[PAD], STOI[BOS], STOI[SEP], STOI[IMAGE]] == [0, 1, 2, 3]
    assert len(VOCAB) == len(set(VOCAB))


def test_split_is_disjoint_and_deterministic():
    b = load_images(0)
    assert len(b.train_x) == 28500 and len(b.test_x) == 11500
    assert set(np.unique(b.train_y)) == set(range(20)) == set(np.unique(b.test_y))
    # held-out digits never appear in train (compare raw bytes of the digit images)
    tr = {x.tobytes() for x in b.train_x[b.train_y < 10]}
    assert not any(x.tobytes() in tr for x in b.test_x[b.test_y < 10][:300])


def test_stream_is_a_function_of_seed_and_step():
    cfg = TrainConfig.from_json(None, batch_size=8)
    s1, s2 = Stream(cfg, DocSampler(load_images(0))), Stream(cfg, DocSampler(load_images(0)))
    a, b = s1.batch(13), s2.batch(13)
    for k in a:
        assert np.array_equal(a[k].numpy(), b[k].numpy()), k


def test_every_task_fits_limits():
    ds = DocSampler(load_images(0))
    rng = np.random.default_rng(0)
    mix = [1.0] * len(TASKS)
    for _ in range(400):
        p, t, meta = ds.sample(rng, mix)
        ids, imgs, plen = doc_to_ids(p, t)
        assert len(ids) <= 40 and sum(i is not None for i in imgs) <= 6
        assert ids[plen - 1] == STOI[SEP]
    p, t, _ = ds.count(rng, start=2, n=4)
    assert [x if isinstance(x, str) else "<image>" for x in t] == \
        ["two", "<image>", "three", "<image>", "four", "<image>", "five", "<image>"]
    assert [x.cls for x in t if isinstance(x, Img)] == [2, 3, 4, 5]
    p, t, _ = ds.arith(rng, a=3, b=4, op="plus")
    assert p == ["three", "plus", "four"] and t[0] == "seven" and t[1].cls == 7


def test_articles_follow_the_sound():
    words = {" ".join([article(c)] + name_words(c)) for c in range(20)}
    assert {"a one", "an eight", "an ankle boot", "a t-shirt", "a zero"} <= words
    assert "an one" not in words


def test_prefetch_workers_do_not_change_batches():
    cfg = TrainConfig.from_json(None, batch_size=4, bucket_chunks=2)
    st = Stream(cfg, DocSampler(load_images(0)))
    plain = list(batches(st, 3, 8, workers=0))
    pref = list(batches(st, 3, 8, workers=2))
    assert len(plain) == len(pref) == 5
    for a, b in zip(plain, pref):
        for k in a:
            assert np.array_equal(a[k].numpy(), b[k].numpy()), k


def _caption_words(ds, seed, n):
    rng = np.random.default_rng(seed)
    docs = [ds.caption(rng) for _ in range(n)]
    return [" ".join(w for w in p[1:] + ["|"] + t if isinstance(w, str)) for p, t, _ in docs], docs


def test_default_caption_stream_is_unchanged_by_the_parity_knob():
    # the captions of seed 42 as drawn before DocSampler had parity_share (shipped models' stream)
    words, _ = _caption_words(DocSampler(load_images(0)), 42, 12)
    assert words == ["is it odd ? | yes , it is a one", "is it even ? | yes , it is an eight", "what is this ? | a one",
                     "is it even ? | no , it is a one", "is it a shoe ? | no , it is a coat", "what is this ? | a sandal",
                     "is it a shoe ? | no , it is a shirt", "is it even ? | no , it is a seven",
                     "what is this ? | a sandal", "what is this ? | a shirt", "what is this ? | a nine",
                     "what is this ? | a trouser"]


def test_parity_share_sets_how_many_digit_captions_are_parity_questions():
    bank = load_images(0)
    for share, lo, hi in ((1.0, 1.0, 1.0), (0.0, 0.0, 0.0), (0.8, 0.7, 0.9)):
        words, docs = _caption_words(DocSampler(bank, parity_share=share), 5, 400)
        digit = [(w, d[2]["cls"]) for w, d in zip(words, docs) if d[2]["cls"] < 10]
        parity = [(w, c) for w, c in digit if w.startswith(("is it odd", "is it even"))]
        # the metadata names the question the prompt asks
        assert all(w.startswith(d[2]["question"]) for w, d in zip(words, docs))
        assert lo <= len(parity) / len(digit) <= hi, share
        for w, c in parity:  # yes exactly when the question's parity is the digit's
            asks_odd = w.startswith("is it odd")
            assert w.split("| ")[1].startswith("yes" if asks_odd == (c % 2 == 1) else "no"), w
        # clothing questions keep their four kinds
        assert any(w.startswith("is it a shoe") for w, d in zip(words, docs) if d[2]["cls"] >= 10)


def test_odd_share_sets_which_parity_question_is_asked():
    bank = load_images(0)
    for odd, want in ((1.0, {"odd"}), (0.0, {"even"})):
        words, docs = _caption_words(DocSampler(bank, parity_share=1.0, odd_share=odd), 6, 100)
        assert {w.split()[2] for w, d in zip(words, docs) if d[2]["cls"] < 10} == want
    words, docs = _caption_words(DocSampler(bank, odd_share=0.75), 6, 600)  # parity stays half of digit captions
    asked = [w.split()[2] for w, d in zip(words, docs) if d[2]["cls"] < 10 and w.startswith("is it")]
    n_digit = sum(d[2]["cls"] < 10 for d in docs)
    assert 0.4 <= len(asked) / n_digit <= 0.6 and 0.65 <= asked.count("odd") / len(asked) <= 0.85


def test_parity_share_outside_unit_interval_is_refused():
    import pytest
    for bad in (-0.1, 1.5):
        with pytest.raises(ValueError, match="parity_share"):
            DocSampler(load_images(0), parity_share=bad)
        with pytest.raises(ValueError, match="odd_share"):
            DocSampler(load_images(0), odd_share=bad)
