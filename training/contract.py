"""The model contract on the Python side (docs/model-contract.md): what a sampler must know of a
model (``ModelSpec``), the ONNX input and output names, a version-2 model directory's tokenizer,
and the load-time checks of a version-2 directory (``check_model_dir``).
"""
from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import List, Optional, Sequence, Tuple

from training.data import BOS, IMAGE, PAD, SEP, STOI, VOCAB
from training.model_io import sha256

INPUT_NAMES = ["tokens", "token_mask", "images", "image_t", "image_pos", "image_mask"]
OUTPUT_NAMES = ["pi_logit", "log_lambda", "q_logprobs", "velocity"]
FLOAT_INPUTS = ("images", "image_t")  # fed in the model's dtype (float16 models: converted at the boundary)
SPECIAL_NAMES = ("pad", "bos", "sep", "image")
SAMPLER_DEFAULT_KEYS = ("steps", "w", "w_image", "temperature", "top_k")  # config.json sampler_defaults


@dataclass(frozen=True)
class ModelSpec:
    """Token ids and shapes the sampler needs: special ids, the ids never inserted, the vocabulary
    size (q_logprobs' last axis) and the latent shape [C, H, W] of every image slot."""
    vocab_size: int
    pad: int
    bos: int
    sep: int
    image: int
    never_insert: Tuple[int, ...]
    latent_shape: Tuple[int, int, int]

    @property
    def latent_size(self) -> int:
        """Standard normals an inserted image takes (C·H·W)."""
        return math.prod(self.latent_shape)


V1_SPEC = ModelSpec(len(VOCAB), STOI[PAD], STOI[BOS], STOI[SEP], STOI[IMAGE],
                    (STOI[PAD], STOI[BOS], STOI[SEP]), (1, 28, 28))


def load_tokenizer(path):
    """A Hugging Face ``tokenizer.json``."""
    from tokenizers import Tokenizer
    return Tokenizer.from_file(str(path))


def spec_from_config(cfg: dict, tokenizer=None) -> ModelSpec:
    """The spec of a model's config.json: version 1 names ids directly, version 2 names special
    tokens by their text, resolved with the model's tokenizer."""
    if cfg.get("contract_version", 1) == 1:
        special = cfg["special_tokens"]
        return ModelSpec(len(cfg["vocab"]), special["pad"], special["bos"], special["sep"], special["image"],
                         tuple(cfg["never_insert"]), tuple(cfg["latent_shape"]))
    if tokenizer is None:
        raise ValueError("a contract-version-2 model needs its tokenizer to resolve special tokens")

    def token_id(text: str) -> int:
        found = tokenizer.token_to_id(text)
        if found is None:
            raise ValueError(f"tokenizer has no token {text!r}")
        return found
    special = {name: token_id(cfg["special_tokens"][name]) for name in SPECIAL_NAMES}
    return ModelSpec(cfg["vocab_size"], special["pad"], special["bos"], special["sep"], special["image"],
                     tuple(token_id(text) for text in cfg["never_insert"]), tuple(cfg["latent_shape"]))


def encode_prompt(tokenizer, text: str) -> List[int]:
    """Prompt text -> token ids, no added special tokens; the text ``<image>`` is the image token."""
    return tokenizer.encode(text, add_special_tokens=False).ids


def decode_text(tokenizer, ids: Sequence[int]) -> str:
    """Generated ids -> text, special tokens kept (the tokenizer's decoder decides spacing)."""
    return tokenizer.decode(list(ids), skip_special_tokens=False)


# ----------------------------------------------------------------------------- checks (version 2)


ONNX_TYPES = {"float32": 1, "float16": 10, "int64": 7, "bool": 9}  # onnx.TensorProto element types


def graph_signature(path) -> dict:
    """name -> (element type, dims with dynamic axes as their names) of an ONNX file's inputs and outputs."""
    import onnx
    graph = onnx.load(str(path), load_external_data=False).graph

    def dims(value):
        return [d.dim_param or d.dim_value for d in value.type.tensor_type.shape.dim]
    return {v.name: (v.type.tensor_type.elem_type, dims(v)) for v in list(graph.input) + list(graph.output)}


def expected_signature(cfg: dict) -> dict:
    """The inputs and outputs model.onnx must have, as (element type, dims) with None for dynamic axes."""
    float_type = ONNX_TYPES[cfg["dtype"]]
    latent = list(cfg["latent_shape"])
    return {
        "tokens": (ONNX_TYPES["int64"], [None, None]),
        "token_mask": (ONNX_TYPES["bool"], [None, None]),
        "images": (float_type, [None, None] + latent),
        "image_t": (float_type, [None, None]),
        "image_pos": (ONNX_TYPES["int64"], [None, None]),
        "image_mask": (ONNX_TYPES["bool"], [None, None]),
        "pi_logit": (float_type, [None, None]),
        "log_lambda": (float_type, [None, None]),
        "q_logprobs": (float_type, [None, None, cfg["vocab_size"]]),
        "velocity": (float_type, [None, None] + latent),
    }


def check_signature(path, expected: dict, file: str):
    """Raise naming the file and the tensor when a graph's inputs/outputs disagree with ``expected``."""
    actual = graph_signature(path)
    for name, (elem_type, dims) in expected.items():
        if name not in actual:
            raise ValueError(f"{file}: no graph input or output named {name!r} (has {sorted(actual)})")
        got_type, got_dims = actual[name]
        if got_type != elem_type:
            raise ValueError(f"{file}: {name} has element type {got_type}, expected {elem_type}")
        fixed = [(want, got) for want, got in zip(dims, got_dims) if want is not None]
        if len(got_dims) != len(dims) or any(want != got for want, got in fixed):
            raise ValueError(f"{file}: {name} has dims {got_dims}, expected {dims} (None = dynamic)")


def check_hashed(model_dir: Path, entry: Optional[dict], field: str) -> None:
    if entry is None:
        return
    path = model_dir / entry["file"]
    if not path.exists():
        raise ValueError(f"config.json {field}: {path} is missing")
    if sha256(path) != entry["sha256"]:
        raise ValueError(f"config.json {field}: sha256 of {path} is not {entry['sha256']}")


def check_model_dir(model_dir) -> dict:
    """Load-time checks of a contract-version-2 directory; returns its config.json or raises
    ValueError naming the file and the field."""
    model_dir = Path(model_dir)
    cfg = json.loads((model_dir / "config.json").read_text())
    if cfg.get("contract_version") != 2:
        raise ValueError(f"config.json contract_version: {cfg.get('contract_version')}, expected 2")
    if cfg.get("dtype") not in ("float32", "float16"):
        raise ValueError(f"config.json dtype: {cfg.get('dtype')!r}, expected 'float32' or 'float16'")
    check_hashed(model_dir, {"file": cfg["onnx_file"], "sha256": cfg["onnx_sha256"]}, "onnx_sha256")
    for k, entry in enumerate(cfg.get("onnx_external_data", [])):
        check_hashed(model_dir, entry, f"onnx_external_data[{k}]")
    check_hashed(model_dir, cfg["tokenizer"], "tokenizer")
    tokenizer = load_tokenizer(model_dir / cfg["tokenizer"]["file"])
    added = {token.content for token in tokenizer.get_added_tokens_decoder().values() if token.special}
    for name in SPECIAL_NAMES:
        text = cfg["special_tokens"][name]
        if text not in added:
            raise ValueError(f"config.json special_tokens.{name}: {text!r} is not a special token of the tokenizer")
    for text in cfg["never_insert"]:
        if text not in added:
            raise ValueError(f"config.json never_insert: {text!r} is not a special token of the tokenizer")
    if cfg["special_tokens"]["image"] in cfg["never_insert"]:
        raise ValueError("config.json never_insert: must not name the image token")
    if cfg["vocab_size"] != tokenizer.get_vocab_size(with_added_tokens=True):
        raise ValueError(f"config.json vocab_size: {cfg['vocab_size']}, the tokenizer has "
                         f"{tokenizer.get_vocab_size(with_added_tokens=True)}")
    has_codec = [cfg.get("encoder") is not None, cfg.get("decoder") is not None]
    if any(has_codec) and not all(has_codec):
        raise ValueError("config.json encoder/decoder: both or neither")
    if not any(has_codec) and list(cfg["image_shape"]) != list(cfg["latent_shape"]):
        raise ValueError(f"config.json image_shape: {cfg['image_shape']} must equal latent_shape "
                         f"{cfg['latent_shape']} without an encoder and decoder")
    check_signature(model_dir / cfg["onnx_file"], expected_signature(cfg), cfg["onnx_file"])
    if all(has_codec):
        check_hashed(model_dir, cfg["encoder"], "encoder")
        check_hashed(model_dir, cfg["decoder"], "decoder")
        pixels = [None] + list(cfg["image_shape"])
        latent = [None] + list(cfg["latent_shape"])
        float32 = ONNX_TYPES["float32"]
        check_signature(model_dir / cfg["encoder"]["file"], {"pixels": (float32, pixels), "latent": (float32, latent)},
                        cfg["encoder"]["file"])
        check_signature(model_dir / cfg["decoder"]["file"], {"latent": (float32, latent), "pixels": (float32, pixels)},
                        cfg["decoder"]["file"])
    defaults = cfg["sampler_defaults"]
    missing = set(SAMPLER_DEFAULT_KEYS) - set(defaults)
    if missing:
        raise ValueError(f"config.json sampler_defaults: missing {sorted(missing)}")
    return cfg
