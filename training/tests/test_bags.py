"""Interleaved schedule: kept / deleted tokens, bags, unborn images (docs/algorithm.md §3 steps 1–3)."""
import numpy as np

from training.data import IMAGE, SEP, STOI, Img, VOCAB
from training.train import collate, noise_document


class StubRng:
    """Feeds noise_document fixed draws: .random() from a list, normals are zeros."""

    def __init__(self, randoms):
        self.r = list(randoms)

    def random(self):
        return self.r.pop(0)

    def uniform(self, a, b):
        raise AssertionError("tau is fixed in these tests")

    def standard_normal(self, shape):
        return np.zeros(shape)


def img(cls, v=0.5):
    return Img(cls, np.full((1, 28, 28), v, np.float32))


def test_unborn_image_goes_to_bag_of_its_gap():
    prompt = ["count", "from", "two", "to", "three"]
    target = ["two", img(2), "three", img(3)]
    # τ = 0.5: "two" draw 0.9 ≥ 0.5 -> deleted; image 1: u = 0.7 -> τ_img = −0.2 unborn;
    # "three" draw 0.1 -> kept; image 2: u = 0.2 -> τ_img = 0.3, kept with t = 0.3
    n = noise_document(prompt, target, StubRng([0.9, 0.7, 0.1, 0.2]), tau=0.5)
    words = [VOCAB[t] for t in n.tokens]
    assert words == ["<bos>", "count", "from", "two", "to", "three", "<sep>", "three", "<image>"]
    assert n.prompt_len == 7 and n.t_text == 0.5
    sep = 6
    assert n.bags == [(sep, STOI["two"]), (sep, STOI[IMAGE])]
    assert len(n.images) == 1
    pos, y1, t, eps, has_loss = n.images[0]
    assert pos == 8 and abs(t - 0.3) < 1e-12 and has_loss


def test_unborn_image_after_kept_word_and_clipped_image():
    target = ["a", "coat", img(14), "a", "bag", img(18)]
    # τ = 1.2 -> t_text = 1: all words kept (draws < 1); image 1: u = 0.1 -> τ_img = 1.1 -> t = 1 (clean, no loss)
    # image 2: u = 0.9 -> τ_img = 0.3
    n = noise_document(["pack"], target, StubRng([0.0, 0.0, 0.1, 0.0, 0.0, 0.9]), tau=1.2)
    assert n.bags == [] and n.t_text == 1.0
    assert [(p, h) for p, _, _, _, h in n.images] == [(5, False), (8, True)]
    assert n.images[0][2] == 1.0
    assert abs(n.images[1][2] - 0.3) < 1e-12
    # τ = 0.2: image 1 u = 0.5 -> unborn; goes into the bag of the kept "coat" (position 4)
    n = noise_document(["pack"], target, StubRng([0.1, 0.1, 0.5, 0.9, 0.9, 0.9]), tau=0.2)
    words = [VOCAB[t] for t in n.tokens]
    assert words == ["<bos>", "pack", "<sep>", "a", "coat"]
    assert n.bags == [(4, STOI[IMAGE]), (4, STOI["a"]), (4, STOI["bag"]), (4, STOI[IMAGE])]


def test_prompt_is_kept_and_prompt_images_are_clean():
    n = noise_document([img(7), "what", "is", "this", "?"], ["a", "seven"], StubRng([0.9, 0.9]), tau=0.1)
    assert [VOCAB[t] for t in n.tokens] == ["<bos>", "<image>", "what", "is", "this", "?", "<sep>"]
    assert n.bags == [(6, STOI["a"]), (6, STOI["seven"])]
    assert [(p, t, h) for p, _, t, _, h in n.images] == [(1, 1.0, False)]


def test_drop_prompt_and_collate_counts():
    n1 = noise_document(["draw", "a", "seven"], [img(7)], StubRng([0.8]), tau=0.5, drop_prompt=True)
    assert [VOCAB[t] for t in n1.tokens] == ["<bos>", "<sep>"] and n1.bags == [(1, STOI[IMAGE])]
    n2 = noise_document(["three", "plus", "four"], ["seven", img(7, 1.0)], StubRng([0.1, 0.25]), tau=0.75)
    b = collate([n1, n2])
    assert b["tokens"].shape == (2, 7)
    assert b["gap_mask"][0].tolist() == [False, True, False, False, False, False, False]
    assert b["gap_mask"][1].tolist() == [False, False, False, False, True, True, True]
    assert b["counts"][0, 1] == 1 and float(b["counts"][1].sum()) == 0
    # the kept image: Y_t = t·Y1 + (1−t)·ε with ε = 0 here, target Y1 − ε
    assert abs(float(b["image_t"][1, 0]) - 0.5) < 1e-6 and int(b["image_pos"][1, 0]) == 6
    assert np.allclose(b["images"][1, 0].numpy(), 0.5) and np.allclose(b["img_target"][1, 0].numpy(), 1.0)
    assert b["image_mask"].tolist() == [[False], [True]]
    assert SEP in VOCAB


def test_text_free_keeps_only_the_images_and_turns_the_text_loss_off():
    # "count from two to three" -> "two <image> three <image>": prompt and words go, images keep their
    # schedule (τ = 0.5: u = 0.2 -> born at t_img 0.3; u = 0.9 -> unborn, <image> in the bag of its gap)
    n = noise_document(["count", "from", "two", "to", "three"], ["two", img(2), "three", img(3)],
                       StubRng([0.2, 0.9]), tau=0.5, text_free=True)
    assert [VOCAB[t] for t in n.tokens] == ["<bos>", "<sep>", "<image>"] and n.prompt_len == 2
    assert n.bags == [(2, STOI[IMAGE])]
    assert [(p, round(t, 6), has) for p, _, t, _, has in n.images] == [(2, 0.3, True)]
    assert n.text_weight == 0.0
    b = collate([n, noise_document(["draw", "a", "two"], [img(2)], StubRng([0.0]), tau=1.0)])
    assert b["text_weight"].tolist() == [0.0, 1.0]
