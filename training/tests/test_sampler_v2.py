"""Contract version 2 on the reference sampler: a model spec with its own ids and a non-784 latent,
tokenizer prompts and decoding, float16 feeding."""
import numpy as np
import pytest

from training.contract import ModelSpec, decode_text, encode_prompt, spec_from_config
from training.sample import (ImageSlot, Outputs, RecordedDraws, SamplerParams, State, pack, prompt_state, step,
                             text_free, unconditional)

# deliberately not the toy ids, to show the step reads them from the spec
SPEC = ModelSpec(vocab_size=12, pad=0, bos=5, sep=6, image=7, never_insert=(0, 5, 6), latent_shape=(4, 4, 4))


def outputs(n, m, favourite, pi_logit=-30.0, log_lambda=6.0, velocity=0.5):
    q = np.full((n, SPEC.vocab_size), -30.0, np.float32)
    q[:, favourite] = 0.0
    return Outputs(np.full(n, pi_logit, np.float32), np.full(n, log_lambda, np.float32), q,
                   np.full((m,) + SPEC.latent_shape, velocity, np.float32))


def test_inserted_image_takes_latent_size_normals():
    s = prompt_state([8, 9], [], SPEC)
    assert s.tokens == [5, 8, 9, 6] and s.spec is SPEC
    normals = np.arange(64, dtype=np.float32)
    d = RecordedDraws([0.0, 0.0, 0.5], normals)  # one gap, both gates pass, the image is certain
    new = step(s, outputs(4, 0, favourite=SPEC.image), None, SamplerParams(steps=4), d)
    assert new.tokens == [5, 8, 9, 6, 7]
    assert new.images[0].latent.shape == (4, 4, 4) and new.images[0].t == 0.0
    assert np.array_equal(new.images[0].latent.reshape(-1), normals)
    assert d.n == [] and len(d.used_n) == 64  # C·H·W normals, not 784


def test_never_insert_comes_from_the_spec():
    s = prompt_state([8], [], SPEC)
    # <bos> of this spec (5) is the favourite but never inserted: the next best id wins
    o = outputs(3, 0, favourite=5)
    o.q_logprobs[:, 10] = -1.0
    new = step(s, o, None, SamplerParams(steps=4), RecordedDraws([0.0, 0.0, 0.5]))
    assert new.tokens == [5, 8, 6, 10]


def test_images_flow_in_their_latent_shape_and_twins_use_spec_ids():
    latent = np.zeros(SPEC.latent_shape, np.float32)
    s = State([5, 7, 6, 9, 7], 3, [ImageSlot(latent, 1.0), ImageSlot(latent.copy(), 0.5)], 1.0, False, SPEC)
    assert unconditional(s).tokens == [5, 6, 9, 7] and text_free(s).tokens == [5, 6, 7]
    assert unconditional(s).spec is SPEC
    inp = pack([s, text_free(s)])
    assert inp["images"].shape == (2, 2, 4, 4, 4) and inp["image_pos"][0].tolist() == [1, 4]
    new = step(s, outputs(5, 2, favourite=9), None, SamplerParams(steps=4), RecordedDraws())
    assert np.allclose(new.images[1].latent, 0.25 * 0.5) and new.images[1].t == 0.75
    assert np.array_equal(new.images[0].latent, latent)  # the prompt image is never updated


def test_prompt_state_checks_images():
    with pytest.raises(ValueError, match="1 image tokens but 0 images"):
        prompt_state([7], [], SPEC)
    with pytest.raises(ValueError, match=r"expected a prompt latent \[4, 4, 4\], got \[1, 28, 28\]"):
        prompt_state([7], [np.zeros((1, 28, 28), np.float32)], SPEC)


def test_states_of_different_models_do_not_share_a_batch():
    other = State([1, 2], 2, [], 0.0)
    with pytest.raises(ValueError, match="different models"):
        pack([prompt_state([8], [], SPEC), other])


@pytest.fixture(scope="module")
def tokenizer():
    from training.tiny_v2 import train_tokenizer
    texts = ["draw a seven", "count from two to four", "<image> what is this ?", "pack a shirt , a bag"] * 20
    return train_tokenizer(texts, 280)


def test_tokenizer_round_trip(tokenizer):
    assert [tokenizer.token_to_id(t) for t in ("<pad>", "<bos>", "<sep>", "<image>")] == [0, 1, 2, 3]
    for text in ["draw a seven", "Draw a RED seven, please!", "what colour is <image>? café ①"]:
        ids = encode_prompt(tokenizer, text)
        assert all(0 <= i < tokenizer.get_vocab_size() for i in ids)
        assert decode_text(tokenizer, ids) == __import__("unicodedata").normalize("NFKC", text)
    ids = encode_prompt(tokenizer, "<image> what is this ?")
    assert ids[0] == 3 and ids.count(3) == 1  # <image> is one special token
    assert decode_text(tokenizer, [1] + ids + [2]) == "<bos><image> what is this ?<sep>"  # specials kept


def test_spec_from_a_v2_config(tokenizer):
    cfg = {"contract_version": 2, "special_tokens": {"pad": "<pad>", "bos": "<bos>", "sep": "<sep>", "image": "<image>"},
           "never_insert": ["<pad>", "<bos>", "<sep>"], "vocab_size": tokenizer.get_vocab_size(),
           "latent_shape": [4, 7, 7]}
    spec = spec_from_config(cfg, tokenizer)
    assert (spec.pad, spec.bos, spec.sep, spec.image, spec.never_insert) == (0, 1, 2, 3, (0, 1, 2))
    assert spec.latent_shape == (4, 7, 7) and spec.latent_size == 196
    with pytest.raises(ValueError, match="no token '<mask>'"):
        spec_from_config({**cfg, "never_insert": ["<mask>"]}, tokenizer)
