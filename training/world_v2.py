"""The OneFlow toy world, version 2: colour images, free-text prompts from a grammar, a held-out split.

Images
  The grey digits and clothing of ``training.data`` (same train / test split), padded to 32×32 and
  coloured: an object gets one of ``PALETTE``'s named colours, its background one of ``BACKGROUNDS``
  (black unless a task names another). Pixels: float32 ``[3, 32, 32]`` in ``[-1, 1]``,
  ``2·(g·colour + (1 − g)·background) − 1`` with ``g`` the grey image in [0, 1].

Documents
  ``(prompt, target, meta)``; prompt and target are lists of items, an item being a text segment
  (``str``) or an ``ImgV2``. A prompt is tokenized as one string with ``<image>`` where its images go
  (as a user would type it); a target's segments are tokenized one by one, every segment after the
  first with a leading space, so the target decodes to ``"a red coat<image> a blue bag<image>"``.
  Prompts come from a grammar: templates per task with slots (objects, numbers, colours), synonyms,
  numerals as digits or words, politeness, casing and punctuation. Targets are canonical (lower
  case, number words, the class's canonical name).

Held-out split (``HELDOUT_PAIRS``, the templates marked held-out in ``TEMPLATES``)
  * language: whole phrasings (templates) that no training document uses; every word they use does
    occur in training text, in other combinations;
  * combinations: colour×class pairs no training image has (no green sandal).
  ``DocSamplerV2(..., phrasing="train" | "heldout", pairs="train" | "heldout")`` picks which the
  documents use; training uses ``"train"`` for both.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np

from training.data import CLASS_NAMES, DIGITS, FOOTWEAR, UPPER_BODY, ImageBank, Img, Item

IMAGE_SIZE = 32  # pixels [3, 32, 32]; the 28×28 sources are padded by 2 on every side
IMAGE_SHAPE = (3, IMAGE_SIZE, IMAGE_SIZE)

COLOURS = ["red", "orange", "yellow", "green", "cyan", "blue", "purple", "white"]
PALETTE = np.array([[0.95, 0.15, 0.15], [1.0, 0.55, 0.05], [0.95, 0.9, 0.1], [0.15, 0.8, 0.2],
                    [0.1, 0.85, 0.9], [0.15, 0.3, 1.0], [0.6, 0.2, 0.85], [0.95, 0.95, 0.95]], np.float32)
BACKGROUNDS = ["black", "grey", "navy", "brown"]
BACKGROUND_RGB = np.array([[0.0, 0.0, 0.0], [0.35, 0.35, 0.35], [0.03, 0.05, 0.3], [0.3, 0.17, 0.05]], np.float32)
BLACK = 0

# class name as answers give it (canonical) and the words prompts may use for it
CANONICAL = DIGITS + ["t-shirt", "trousers", "pullover", "dress", "coat", "sandal", "shirt", "sneaker", "bag",
                      "ankle boot"]
SYNONYMS: Dict[int, List[str]] = {
    10: ["t-shirt", "tee", "top"], 11: ["trousers", "pants"], 12: ["pullover", "sweater", "jumper"],
    13: ["dress"], 14: ["coat", "jacket"], 15: ["sandal"], 16: ["shirt"], 17: ["sneaker", "trainer", "running shoe"],
    18: ["bag", "handbag", "purse"], 19: ["ankle boot", "boot"]}
NAME_TO_CLASS = {name: c for c, name in enumerate(CANONICAL)}
PLURAL = {11}  # trousers: "a pair of red trousers"

# colour×class pairs no training image has: one per colour, four digits and four clothing classes
HELDOUT_PAIRS = frozenset({(3, 15), (0, 7), (5, 18), (2, 3), (6, 17), (7, 5), (1, 13), (4, 0)})  # (colour, class)

TASKS_V2 = ["draw", "caption", "colour", "parity", "describe", "count", "list", "arith", "reason", "mixed"]


@dataclass
class ImgV2(Img):
    """``pixels``: float32 [3, 32, 32] in [-1, 1] (the training stream swaps in the autoencoder latent)."""
    colour: int = 0  # index into COLOURS
    background: int = BLACK  # index into BACKGROUNDS


def colourise(grey_u8: np.ndarray, colour: int, background: int = BLACK) -> np.ndarray:
    """uint8 [..., 28, 28] -> float32 [..., 3, 32, 32] in [-1, 1]: the object in ``PALETTE[colour]``
    over ``BACKGROUND_RGB[background]``."""
    g = np.pad(grey_u8.astype(np.float32) / 255.0, [(0, 0)] * (grey_u8.ndim - 2) + [(2, 2), (2, 2)])
    g = g[..., None, :, :]  # [..., 1, 32, 32]
    fg = PALETTE[colour][:, None, None]  # [3, 1, 1]
    bg = BACKGROUND_RGB[background][:, None, None]
    return (2.0 * (g * fg + (1.0 - g) * bg) - 1.0).astype(np.float32)


# ----------------------------------------------------------------------------- words


def number_word(n: int) -> str:
    return DIGITS[n]


def spoken_article(next_word: str) -> str:
    """"an" before a vowel sound: an eight, an orange coat, an ankle boot; but a one."""
    return "an" if next_word[0] in "aeio8" and not next_word.startswith("one") and next_word != "1" else "a"


def canonical_np(cls: int, colour: Optional[int]) -> str:
    """The noun phrase answers use: "a red seven", "an ankle boot", "a pair of green trousers"."""
    words = ([COLOURS[colour]] if colour is not None else []) + [CANONICAL[cls]]
    head = " ".join(words)
    return f"a pair of {head}" if cls in PLURAL else f"{spoken_article(head)} {head}"


def prompt_noun(cls: int, rng: np.random.Generator, numerals: bool) -> str:
    """A word for the class as a prompt may say it: a synonym, or a digit written as a numeral."""
    if cls < 10:
        return str(cls) if numerals else DIGITS[cls]
    names = SYNONYMS[cls]
    return names[int(rng.integers(len(names)))]


def prompt_np(cls: int, colour: Optional[int], rng: np.random.Generator, numerals: bool) -> str:
    """A noun phrase for a prompt: colour before the noun or after it ("in red"), digits sometimes as
    "the digit 7" / "the number seven"."""
    noun = prompt_noun(cls, rng, numerals)
    form = int(rng.integers(4))
    if cls < 10 and form == 3:
        head = f"the {['digit', 'number'][int(rng.integers(2))]} {noun}"
        return head + (f" in {COLOURS[colour]}" if colour is not None else "")
    if colour is not None and form == 2:
        base = f"some {noun}" if cls in PLURAL and rng.random() < 0.5 else _with_article(cls, noun)
        return f"{base} in {COLOURS[colour]}"
    head = noun if colour is None else f"{COLOURS[colour]} {noun}"
    if cls in PLURAL:
        return f"{['a pair of', 'some'][int(rng.integers(2))]} {head}"
    return f"{spoken_article(head)} {head}"


def _with_article(cls: int, noun: str) -> str:
    return f"a pair of {noun}" if cls in PLURAL else f"{spoken_article(noun)} {noun}"


def number_text(n: int, numerals: bool) -> str:
    return str(n) if numerals else DIGITS[n]


# ----------------------------------------------------------------------------- grammar

# Templates per task; slot names in braces. (text, held_out). Slots: {np} noun phrase, {verb} a draw verb,
# {noun} the object's name, {parity} odd / even, {a} {b} numbers, {op} plus / minus (word or sign),
# {list} a list of noun phrases, {colour} a colour, {domain} "digit" / "clothing item" / "thing".
DRAW_VERBS = ["draw", "show me", "sketch", "paint", "make", "create", "generate", "render", "give me"]
TEMPLATES: Dict[str, List[Tuple[str, bool]]] = {
    "draw": [("{verb} {np}", False), ("{verb} a picture of {np}", False), ("{verb} an image of {np}", False),
             ("i want to see {np}", False), ("i would like to see {np}", False), ("let me see {np}", False),
             ("can you {verb} {np}?", False), ("could you {verb} {np}?", False), ("{np}", False),
             ("a picture of {np}", False),
             ("what i would like to see is {np}", True), ("{np}, {verb} it for me", True)],
    "caption": [("what is this?", False), ("what is this picture?", False), ("what do you see?", False),
                ("what's this?", False), ("what is shown here?", False), ("tell me what this is", False),
                ("name this", False), ("what is in the picture?", False), ("identify this", False),
                ("what digit is this?", False), ("which number is shown?", False), ("what number is this?", False),
                ("which clothing item is this?", False), ("what kind of clothing is this?", False),
                ("is it a shoe?", False), ("is this footwear?", False), ("is it worn on the feet?", False),
                ("what do you see in the picture?", True), ("tell me what is shown", True),
                ("which number do you see?", True), ("what kind of item is shown?", True),
                ("is what you see a shoe?", True)],
    "colour": [("what colour is it?", False), ("what colour is this?", False), ("what colour is the {noun}?", False),
               ("which colour is the {noun}?", False), ("what is the colour of the {noun}?", False),
               ("tell me its colour", False), ("what colour is this {noun}?", False),
               ("the {noun} is which colour?", True), ("what is the colour of this?", True)],
    "parity": [("is it {parity}?", False), ("is this number {parity}?", False), ("is this digit {parity}?", False),
               ("is the number {parity}?", False), ("is it odd or even?", False), ("odd or even?", False),
               ("is the digit shown {parity}?", True), ("is what you see odd or even?", True)],
    "describe": [("describe this image", False), ("describe this", False), ("tell me about this image", False),
                 ("describe the picture", False), ("what can you tell me about this?", False),
                 ("tell me about the picture", True)],
    "count": [("count from {a} to {b}", False), ("count {a} to {b}", False), ("count to {b}", False),
              ("draw the numbers from {a} to {b}", False), ("show me {a} to {b}", False),
              ("count from {a} up to {b}", False), ("list the numbers from {a} to {b}", False),
              ("from {a} to {b}, count", True), ("draw the numbers {a} up to {b}", True)],
    "list": [("{verb} {list}", False), ("i want to see {list}", False), ("{verb} a picture of {list}", False),
             ("can you {verb} {list}?", False), ("{list}", False), ("{verb} these: {list}", False),
             ("what i would like to see is {list}", True), ("{list}, {verb} these for me", True)],
    "arith": [("{a} {op} {b}", False), ("what is {a} {op} {b}?", False), ("{a} {op} {b} =", False),
              ("{a} {op} {b} equals", False), ("compute {a} {op} {b}", False),
              ("{a} {op} {b} is what?", True), ("tell me {a} {op} {b}", True)],
    "reason": [("is {a} {op} {b} {parity}?", False), ("is {a} {op} {b} odd or even?", False),
               ("{a} {op} {b}: odd or even?", False),
               ("odd or even: {a} {op} {b}?", True)],
    "mixed": [("draw any {domain} and name it", False), ("draw a {domain} and tell me what it is", False),
              ("show me any {domain} and name it", False), ("draw something {colour} and name it", False),
              ("any {domain}, draw it and name it", True)],
}
# which caption templates ask what (the answer's form follows)
CAPTION_KIND = {"what is this?": "class", "what is this picture?": "class", "what do you see?": "class",
                "what's this?": "class", "what is shown here?": "class", "tell me what this is": "class",
                "name this": "class", "what is in the picture?": "class", "identify this": "class",
                "what do you see in the picture?": "class", "tell me what is shown": "class",
                "what digit is this?": "digit", "which number is shown?": "digit", "what number is this?": "digit",
                "which number do you see?": "digit",
                "which clothing item is this?": "clothing", "what kind of clothing is this?": "clothing",
                "what kind of item is shown?": "clothing",
                "is it a shoe?": "shoe", "is this footwear?": "shoe", "is it worn on the feet?": "shoe",
                "is what you see a shoe?": "shoe"}
POLITE_PREFIX = ["", "", "", "please ", "hey, ", "ok, "]
POLITE_SUFFIX = ["", "", "", " please", ", please", " for me", " thanks", " thank you"]


def templates(task: str, held_out: bool) -> List[str]:
    return [text for text, h in TEMPLATES[task] if h == held_out]


_NUMBER = "(?:" + "|".join(DIGITS + [str(d) for d in range(10)]) + ")"
SLOT_PATTERNS = {"a": _NUMBER, "b": _NUMBER, "op": r"(?:plus|minus|\+|-)", "parity": "(?:odd|even)",
                 "verb": "(?:" + "|".join(DRAW_VERBS + ["pack"]) + ")", "colour": "(?:" + "|".join(COLOURS) + ")",
                 "domain": "(?:digit|clothing item|thing)", "noun": "[a-z0-9 -]+?", "np": ".+?", "list": ".+?"}


def template_regex(template: str) -> "re.Pattern":
    """A regex finding text rendered from ``template`` inside a prompt that is lower-cased and spelled
    "colour" (``normalise_prompt``); each slot matches what it can be filled with."""
    pieces = re.split(r"\{([a-z]+)\}", template.lower().rstrip("?"))
    pattern = "".join(SLOT_PATTERNS[p] if k % 2 else re.escape(p) for k, p in enumerate(pieces))
    return re.compile(pattern)


def normalise_prompt(text: str) -> str:
    return text.lower().replace("color", "colour")


def fill(template: str, slots: Dict[str, str]) -> str:
    return template.format(**slots)


def surface(text: str, rng: np.random.Generator, imperative: bool) -> str:
    """Politeness (imperatives), casing and punctuation; the words stay the template's."""
    question = text.endswith("?")
    core = text[:-1] if question else text
    if imperative and rng.random() < 0.4:
        core = POLITE_PREFIX[int(rng.integers(len(POLITE_PREFIX)))] + core
        if not core.endswith("="):
            core += POLITE_SUFFIX[int(rng.integers(len(POLITE_SUFFIX)))]
    r = rng.random()
    if r < 0.2:
        core = core[:1].upper() + core[1:]
    elif r < 0.27:
        core = core.upper()
    elif r < 0.32:
        core = " ".join(w[:1].upper() + w[1:] for w in core.split(" "))
    if "colour" in core.lower() and rng.random() < 0.4:
        core = core.replace("colour", "color").replace("COLOUR", "COLOR").replace("Colour", "Color")
    if question:
        end = ["?", "?", "?", "", " ?"][int(rng.integers(5))]
    else:
        end = ["", "", ".", "!"][int(rng.integers(4))] if not core.endswith("=") else ""
    return core + end


# ----------------------------------------------------------------------------- documents


def list_phrase(nps: Sequence[str]) -> str:
    if len(nps) == 1:
        return nps[0]
    return ", ".join(nps[:-1]) + " and " + nps[-1]


def parity_word(n: int) -> str:
    return "odd" if n % 2 else "even"


class DocSamplerV2:
    """Seeded generator of version-2 documents over ``split``'s images (train / test).

    ``phrasing``: "train" uses the training templates, "heldout" only the held-out ones (tasks with no
    held-out template fall back to the training ones). ``pairs``: "train" never draws a held-out
    colour×class pair, "heldout" draws only those (for the tasks with a named object)."""

    def __init__(self, bank: ImageBank, split: str = "train", phrasing: str = "train", pairs: str = "train"):
        if phrasing not in ("train", "heldout") or pairs not in ("train", "heldout"):
            raise ValueError(f"phrasing and pairs must be 'train' or 'heldout', got {phrasing!r}, {pairs!r}")
        self.split, self.phrasing, self.pairs = split, phrasing, pairs
        self.x = bank.train_x if split == "train" else bank.test_x
        self.idx = bank.by_class(split)

    # -- pieces
    def template(self, rng, task: str, choices: Optional[Sequence[str]] = None) -> str:
        pool = templates(task, self.phrasing == "heldout") or templates(task, False)
        if choices is not None:  # a task's sub-kind: never a training template under "heldout" or vice versa
            pool = [t for t in pool if t in choices] or [t for t in templates(task, False) if t in choices]
        return pool[int(rng.integers(len(pool)))]

    def colour_for(self, rng, cls: int, heldout: Optional[bool] = None) -> int:
        """A colour for class ``cls``: never a held-out pair in training; ``heldout`` True: the held-out one."""
        want = self.pairs == "heldout" if heldout is None else heldout
        allowed = [c for c in range(len(COLOURS)) if ((c, cls) in HELDOUT_PAIRS) == want]
        if not allowed:  # a class with no held-out pair, asked for one
            allowed = [c for c in range(len(COLOURS)) if (c, cls) not in HELDOUT_PAIRS]
        return allowed[int(rng.integers(len(allowed)))]

    def object_for(self, rng, cls: Optional[int] = None, digits_only: bool = False) -> Tuple[int, int]:
        """(class, colour): under pairs="heldout" one of the held-out pairs, else a training pair."""
        if self.pairs == "heldout" and cls is None:
            pairs = sorted(p for p in HELDOUT_PAIRS if p[1] < 10 or not digits_only)
            colour, cls = pairs[int(rng.integers(len(pairs)))]
            return cls, colour
        if cls is None:
            cls = int(rng.integers(10 if digits_only else 20))
        return cls, self.colour_for(rng, cls)

    def img(self, rng, cls: int, colour: int, background: int = BLACK) -> ImgV2:
        pool = self.idx[cls]
        grey = self.x[pool[rng.integers(len(pool))]]
        return ImgV2(cls, colourise(grey, colour, background), colour, background)

    def background(self, rng, p: float = 0.35) -> int:
        return int(rng.integers(1, len(BACKGROUNDS))) if rng.random() < p else BLACK

    # -- tasks: each returns (prompt items, target items, meta)
    def draw(self, rng, cls=None, colour=None):
        if cls is None or colour is None:
            cls, colour = self.object_for(rng, cls)
        bg = self.background(rng)
        numerals = rng.random() < 0.4
        noun_phrase = prompt_np(cls, colour, rng, numerals)
        if bg != BLACK:
            noun_phrase += [" on a {} background", " on {}", " against a {} background"][int(rng.integers(3))].format(
                BACKGROUNDS[bg] if BACKGROUNDS[bg] != "grey" or rng.random() < 0.5 else "gray")
        template = self.template(rng, "draw")
        verb = DRAW_VERBS[int(rng.integers(len(DRAW_VERBS)))]
        prompt = surface(fill(template, {"np": noun_phrase, "verb": verb}), rng, imperative=True)
        return [prompt], [self.img(rng, cls, colour, bg)], {"task": "draw", "cls": cls, "colour": colour,
                                                            "background": bg, "template": template}

    def image_prompt(self, rng, im: ImgV2, question: str) -> List[Item]:
        """The image before the question (or, one time in five, after it)."""
        return [question, im] if rng.random() < 0.2 else [im, question]

    def caption(self, rng, cls=None, colour=None, kind=None):
        """Closed questions on one image: what is it (class and colour), which digit / clothing item, is it a shoe."""
        if cls is None or colour is None:
            cls, colour = self.object_for(rng, cls)
        kinds = ["class", "digit"] if cls < 10 else ["class", "clothing", "shoe"]
        kind = kinds[int(rng.integers(len(kinds)))] if kind is None else kind
        template = self.template(rng, "caption", [t for t, k in CAPTION_KIND.items() if k == kind])
        im = self.img(rng, cls, colour, self.background(rng))
        if kind == "class":
            answer = canonical_np(cls, colour)
        elif kind == "digit" or kind == "clothing":
            answer = CANONICAL[cls]
        else:
            answer = ("yes" if cls in FOOTWEAR else "no") + ", it is " + canonical_np(cls, colour)
        prompt = self.image_prompt(rng, im, surface(template, rng, imperative=False))
        return prompt, [answer], {"task": "caption", "cls": cls, "colour": colour, "kind": kind, "template": template}

    def colour(self, rng, cls=None, colour=None):
        if cls is None or colour is None:
            cls, colour = self.object_for(rng, cls)
        template = self.template(rng, "colour")
        noun = prompt_noun(cls, rng, rng.random() < 0.5) if cls >= 10 else ["digit", "number"][int(rng.integers(2))]
        im = self.img(rng, cls, colour, self.background(rng))
        prompt = self.image_prompt(rng, im, surface(fill(template, {"noun": noun}), rng, imperative=False))
        return prompt, [COLOURS[colour]], {"task": "colour", "cls": cls, "colour": colour, "template": template}

    def parity(self, rng, cls=None, colour=None, asked=None):
        """Is the digit odd / even, answered with its chain: "seven is odd, so yes"."""
        if cls is None or colour is None:
            cls, colour = self.object_for(rng, cls, digits_only=True)
        template = self.template(rng, "parity")
        asked = ["odd", "even"][int(rng.integers(2))] if asked is None else asked
        chain = f"{DIGITS[cls]} is {parity_word(cls)}"
        answer = chain if "{parity}" not in template else chain + (", so yes" if asked == parity_word(cls) else ", so no")
        im = self.img(rng, cls, colour, self.background(rng))
        prompt = self.image_prompt(rng, im, surface(fill(template, {"parity": asked}), rng, imperative=False))
        return prompt, [answer], {"task": "parity", "cls": cls, "colour": colour, "template": template,
                                  "asked": asked if "{parity}" in template else None}

    def describe(self, rng, cls=None, colour=None):
        """Open-ended: half short, half long answers for the same prompt (the guidance knob)."""
        if cls is None or colour is None:
            cls, colour = self.object_for(rng, cls)
        bg = self.background(rng)
        im = self.img(rng, cls, colour, bg)
        template = self.template(rng, "describe")
        name, np_ = CANONICAL[cls], canonical_np(cls, colour)
        if cls < 10:
            longs = [f"{np_} on a {BACKGROUNDS[bg]} background. {name} is {parity_word(cls)}",
                     f"this is a handwritten {name} in {COLOURS[colour]}. it is an {parity_word(cls)} number",
                     f"a picture of the digit {name}, drawn in {COLOURS[colour]}"]
        else:
            where = ("it is worn on the feet" if cls in FOOTWEAR else "it is worn on the upper body"
                     if cls in UPPER_BODY else "it is a piece of clothing")
            longs = [f"{np_} on a {BACKGROUNDS[bg]} background. {where}",
                     f"this is a photo of {np_}. {where}",
                     f"a picture of {_with_article(cls, name)} in {COLOURS[colour]}"]
        answer = np_ if rng.random() < 0.5 else longs[int(rng.integers(len(longs)))]
        prompt = self.image_prompt(rng, im, surface(template, rng, imperative=True))
        return prompt, [answer], {"task": "describe", "cls": cls, "colour": colour, "template": template}

    def count(self, rng, start=None, n=None, colour=None):
        n = int(rng.integers(2, 6)) if n is None else n  # 2..5 images
        start = int(rng.integers(0, 11 - n)) if start is None else start
        end = start + n - 1
        template = self.template(rng, "count", None if start == 1 else
                                 [t for t in templates(task="count", held_out=self.phrasing == "heldout") if "{a}" in t])
        numerals = rng.random() < 0.5
        text = fill(template, {"a": number_text(start, numerals), "b": number_text(end, numerals)})
        if colour is None and rng.random() < 0.3:  # one colour for all, named in the prompt
            allowed = [c for c in range(len(COLOURS)) if all((c, d) not in HELDOUT_PAIRS for d in range(start, end + 1))]
            colour = allowed[int(rng.integers(len(allowed)))]
            text += f" in {COLOURS[colour]}"
        target: List[Item] = []
        colours = []
        for d in range(start, end + 1):
            c = colour if colour is not None else self.colour_for(rng, d, False)
            colours.append(c)
            target += [DIGITS[d], self.img(rng, d, c)]
        prompt = surface(text, rng, imperative=True)
        return [prompt], target, {"task": "count", "classes": list(range(start, end + 1)), "colours": colours,
                                  "template": template}

    def listing(self, rng, classes=None):
        """A list asked for in the words of a draw prompt; every item named and drawn, no repeats."""
        if classes is None:
            n = 2 + int(rng.random() < 0.45) + int(rng.random() < 0.15)  # 2..4 items
            classes = [int(c) for c in rng.choice(20, size=n, replace=False)]
        template = self.template(rng, "list")
        verb = DRAW_VERBS[int(rng.integers(len(DRAW_VERBS)))] if rng.random() < 0.8 else "pack"
        nps, target, colours = [], [], []
        for c in classes:
            named = rng.random() < 0.5
            colour = self.colour_for(rng, c, False)
            colours.append(colour)
            nps.append(prompt_np(c, colour if named else None, rng, rng.random() < 0.3))
            target += [canonical_np(c, colour if named else None), self.img(rng, c, colour)]
        prompt = surface(fill(template, {"list": list_phrase(nps), "verb": verb}), rng, imperative=True)
        return [prompt], target, {"task": "list", "classes": list(classes), "colours": colours, "template": template}

    def _operands(self, rng, a, b, op):
        op = ["plus", "minus"][int(rng.integers(2))] if op is None else op
        if a is None:
            a = int(rng.integers(0, 10))
            b = int(rng.integers(0, 10 - a)) if op == "plus" else int(rng.integers(0, a + 1))
        return a, b, op, a + b if op == "plus" else a - b

    def _arith_text(self, rng, template: str, a: int, b: int, op: str, extra: Dict[str, str]) -> str:
        numerals = rng.random() < 0.5
        sign = rng.random() < 0.5
        op_text = ("+" if op == "plus" else "-") if sign else op
        return fill(template, {"a": number_text(a, numerals), "b": number_text(b, numerals), "op": op_text, **extra})

    def arith(self, rng, a=None, b=None, op=None):
        a, b, op, r = self._operands(rng, a, b, op)
        template = self.template(rng, "arith")
        prompt = surface(self._arith_text(rng, template, a, b, op, {}), rng, imperative=False)
        return [prompt], [DIGITS[r], self.img(rng, r, self.colour_for(rng, r, False))], {
            "task": "arith", "classes": [r], "template": template}

    def reason(self, rng, a=None, b=None, op=None, asked=None):
        """Parity of a sum or difference, answered with its chain: "three plus four is seven, so it is odd"."""
        a, b, op, r = self._operands(rng, a, b, op)
        template = self.template(rng, "reason")
        asked = ["odd", "even"][int(rng.integers(2))] if asked is None else asked
        chain = f"{DIGITS[a]} {op} {DIGITS[b]} is {DIGITS[r]}"
        if "{parity}" in template:
            answer = f"{chain}, so {'yes' if asked == parity_word(r) else 'no'}"
        else:
            answer = f"{chain}, so it is {parity_word(r)}"
        prompt = surface(self._arith_text(rng, template, a, b, op, {"parity": asked}), rng, imperative=False)
        return [prompt], [answer], {"task": "reason", "result": r, "template": template,
                                    "asked": asked if "{parity}" in template else None}

    def mixed(self, rng, domain=None):
        """Concurrent image and name: the model picks the object, draws it and names it."""
        template = self.template(rng, "mixed")
        domain = int(rng.integers(3)) if domain is None else domain  # 0 digit, 1 clothing item, 2 anything
        if "{colour}" in template:
            cls = int(rng.integers(20))
            colour = self.colour_for(rng, cls, False)
            slots = {"colour": COLOURS[colour]}
        else:
            cls = int(rng.integers(10)) + 10 * domain if domain < 2 else int(rng.integers(20))
            colour = self.colour_for(rng, cls, False)
            slots = {"domain": ["digit", "clothing item", "thing"][domain]}
        prompt = surface(fill(template, slots), rng, imperative=True)
        return [prompt], [self.img(rng, cls, colour), "it is " + canonical_np(cls, colour)], {
            "task": "mixed", "cls": cls, "colour": colour, "template": template,
            "named_colour": COLOURS[colour] if "{colour}" in template else None}

    def sample(self, rng, mix: Sequence[float]):
        if len(mix) != len(TASKS_V2):
            raise ValueError(f"mix needs {len(TASKS_V2)} weights ({', '.join(TASKS_V2)}), got {len(mix)}")
        k = int(rng.choice(len(TASKS_V2), p=np.asarray(mix) / np.sum(mix)))
        return self.task(TASKS_V2[k])(rng)

    def task(self, name: str):
        return {"draw": self.draw, "caption": self.caption, "colour": self.colour, "parity": self.parity,
                "describe": self.describe, "count": self.count, "list": self.listing, "arith": self.arith,
                "reason": self.reason, "mixed": self.mixed}[name]


# ----------------------------------------------------------------------------- text and token ids


def prompt_text(prompt: Sequence[Item]) -> str:
    """Prompt items as the string a user types: ``<image>`` where each image goes."""
    return " ".join("<image>" if isinstance(it, Img) else it for it in prompt)


def target_text(target: Sequence[Item]) -> str:
    """Target items as the model's output decodes: segments after the first get a leading space."""
    out = ""
    for k, it in enumerate(target):
        out += "<image>" if isinstance(it, Img) else (" " if k > 0 else "") + it
    return out


def document_text(prompt: Sequence[Item], target: Sequence[Item]) -> str:
    return prompt_text(prompt) + " " + target_text(target)


def doc_ids(tokenizer, spec, prompt: Sequence[Item], target: Sequence[Item]):
    """-> (ids of ``<bos> prompt <sep> target``, per-token ImgV2 or None, prompt_len) with the BPE
    ``tokenizer``; ``prompt_len`` counts ``<bos>``..``<sep>``."""
    ids = [spec.bos] + tokenizer.encode(prompt_text(prompt), add_special_tokens=False).ids + [spec.sep]
    prompt_images = [it for it in prompt if isinstance(it, Img)]
    if sum(1 for x in ids if x == spec.image) != len(prompt_images):
        raise ValueError(f"prompt {prompt_text(prompt)!r} does not tokenize to one <image> per image")
    imgs: List[Optional[Img]] = [None] * len(ids)
    it = iter(prompt_images)
    for k, x in enumerate(ids):
        if x == spec.image:
            imgs[k] = next(it)
    plen = len(ids)
    for k, item in enumerate(target):
        if isinstance(item, Img):
            ids.append(spec.image)
            imgs.append(item)
        else:
            seg = tokenizer.encode((" " if k > 0 else "") + item, add_special_tokens=False).ids
            ids += seg
            imgs += [None] * len(seg)
    return ids, imgs, plen


def training_texts(n: int, seed: int, bank: ImageBank) -> List[str]:
    """The text of ``n`` training documents (every task equally often): what the tokenizer learns from."""
    docs = DocSamplerV2(bank, "train")
    rng = np.random.default_rng([seed, 5])
    return [document_text(*docs.sample(rng, [1.0] * len(TASKS_V2))[:2]) for _ in range(n)]
