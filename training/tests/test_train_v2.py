"""training.train_v2: the BPE tokenizer on the world's text, token ids of documents, noising, batches."""
import unicodedata

import numpy as np
import pytest
import torch

from training.data import Img, doc_to_ids, load_images
from training.data import DocSampler as DocSamplerV1
from training.model import ModelConfig, OneFlowNet
from training.autoencoder import Encoder
from training.tiny_v2 import train_tokenizer
from training.train import TrainConfig, model_inputs, noise_document, oneflow_loss
from training.train_v2 import StreamV2, collate_v2, noise_ids, spec_of
from training.world_v2 import DocSamplerV2, doc_ids, target_text, training_texts


@pytest.fixture(scope="module")
def bank():
    return load_images(0)


@pytest.fixture(scope="module")
def tokenizer(bank):
    return train_tokenizer(training_texts(1500, 0, bank), 1024, lowercase=True)


def test_special_tokens_named_first(tokenizer):
    assert [tokenizer.token_to_id(t) for t in ("<pad>", "<bos>", "<sep>", "<image>")] == [0, 1, 2, 3]
    added = {t.content for t in tokenizer.get_added_tokens_decoder().values() if t.special}
    assert added == {"<pad>", "<bos>", "<sep>", "<image>"}


def test_unseen_words_tokenize_and_round_trip(tokenizer):
    for text in ["draw a zebra-striped café on a moonlit beach", "what is 7 × 8? ①", "naïve résumé, über-cool! 🙂",
                 "<image> what colour is the gecko?"]:
        enc = tokenizer.encode(text, add_special_tokens=False)
        assert enc.ids and None not in enc.ids
        assert tokenizer.decode(enc.ids, skip_special_tokens=False) == unicodedata.normalize("NFKC", text).lower()
    assert tokenizer.encode("<image> what is this?", add_special_tokens=False).ids[0] == 3
    # whole training words are single tokens; casing never changes the tokens
    assert len(tokenizer.encode(" sneaker", add_special_tokens=False).ids) == 1
    assert tokenizer.encode("Draw A RED Coat!", add_special_tokens=False).ids == \
        tokenizer.encode("draw a red coat!", add_special_tokens=False).ids


def test_document_ids_decode_to_the_target_text(tokenizer, bank):
    spec = spec_of(tokenizer, (4, 8, 8))
    docs = DocSamplerV2(bank, "train")
    rng = np.random.default_rng(2)
    for task in ("list", "count", "caption", "reason"):
        prompt, target, _ = docs.task(task)(rng)
        ids, imgs, plen = doc_ids(tokenizer, spec, prompt, target)
        assert ids[0] == spec.bos and ids[plen - 1] == spec.sep
        assert tokenizer.decode(ids[plen:], skip_special_tokens=False) == target_text(target)
        assert [isinstance(im, Img) for im in imgs] == [x == spec.image for x in ids]
    assert target_text(["a red coat", Img(0, None), "a bag", Img(0, None)]) == "a red coat<image> a bag<image>"


def test_noise_ids_matches_the_v1_noising():
    """The same draws in the same order as training.train.noise_document, on a toy-vocabulary document."""
    bank = load_images(0)
    rng = np.random.default_rng(0)
    prompt, target, _ = DocSamplerV1(bank, "train").count(rng, start=2, n=3)
    ids, imgs, plen = doc_to_ids(prompt, target)
    for seed in range(5):
        a = noise_document(prompt, target, np.random.default_rng(seed))
        b = noise_ids(ids, imgs, plen, 3, np.random.default_rng(seed))
        assert (a.tokens, a.prompt_len, a.bags, a.t_text) == (b.tokens, b.prompt_len, b.bags, b.t_text)
        assert [(p, t, h) for p, _, t, _, h in a.images] == [(p, t, h) for p, _, t, _, h in b.images]
    full = noise_ids(ids, imgs, plen, 3, np.random.default_rng(1), tau=2.0)
    assert full.tokens == ids and full.bags == []


def test_collate_v2_shapes():
    latent = np.ones((4, 8, 8), np.float32)
    ex = noise_ids([1, 5, 2, 6, 3], [None, None, None, None, Img(0, latent)], 3, 3, np.random.default_rng(0), tau=1.5)
    batch = collate_v2([ex, ex], (4, 8, 8), pad=0)
    assert tuple(batch["images"].shape) == (2, 1, 4, 8, 8) and tuple(batch["img_target"].shape) == (2, 1, 4, 8, 8)
    assert batch["tokens"].tolist()[0][:2] == [1, 5]


def test_stream_v2_batches_are_deterministic_and_train(tokenizer, bank):
    cfg = TrainConfig(batch_size=6, bucket_chunks=2, mix=(1.0,) * 10,
                      model=ModelConfig(vocab_size=tokenizer.get_vocab_size(), d_model=32, n_layers=1, n_heads=2, d_ff=64,
                                        max_tokens=64, chans=(8, 8), rope=True, latent_shape=(4, 8, 8), latent_patch=2))
    torch.manual_seed(0)
    encoder = Encoder(4).eval()

    def batch(step):
        return StreamV2(cfg, DocSamplerV2(bank, "train"), tokenizer, encoder).batch(step)
    a, b = batch(3), batch(3)
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert a["images"].shape[2:] == (4, 8, 8) and a["tokens"].max() < tokenizer.get_vocab_size()
    model = OneFlowNet(cfg.model)
    loss, text, image = oneflow_loss(model(*model_inputs(a), vel_index=a["vel_index"]), a, 3.0)
    assert torch.isfinite(loss) and float(text) > 0
