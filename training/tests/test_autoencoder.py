"""training.autoencoder: shapes, standardisation, training, ONNX export, PSNR; training.judge_v2's colour judge."""
import numpy as np
import pytest
import torch

from training.autoencoder import Decoder, Encoder, export_pair, fit, psnr, standardise
from training.judge_v2 import background_of, colour_of
from training.sample import ort_session
from training.world_v2 import BACKGROUND_RGB, COLOURS, colourise


def blobs(n: int, seed: int = 0) -> np.ndarray:
    """Coloured squares on backgrounds: uint8 grey [n, 28, 28] -> pixels [n, 3, 32, 32]."""
    rng = np.random.default_rng(seed)
    grey = np.zeros((n, 28, 28), np.uint8)
    for k in range(n):
        top, left = rng.integers(2, 14, size=2)
        grey[k, top:top + 10, left:left + 10] = 255
    return np.stack([colourise(g, k % len(COLOURS), k % len(BACKGROUND_RGB)) for k, g in enumerate(grey)])


def test_shapes_and_tiny_layout():
    enc, dec = Encoder(4, (32, 64), 1), Decoder(4, (32, 64), 1)
    x = torch.zeros(2, 3, 32, 32)
    z = enc(x)
    assert tuple(z.shape) == (2, 4, 8, 8)
    assert tuple(dec(z).shape) == (2, 3, 32, 32)
    # the default widths keep the layout (parameter names) of the tiny fixtures' codec
    assert [k for k in Encoder(4).state_dict()] == ["shift", "scale", "net.0.weight", "net.0.bias", "net.2.weight",
                                                     "net.2.bias", "net.4.weight", "net.4.bias"]
    assert Encoder(4).net[2].out_channels == 32


def test_fit_lowers_the_loss_and_standardise_normalises():
    torch.manual_seed(0)
    data = torch.from_numpy(blobs(24))
    enc, dec = Encoder(4), Decoder(4)
    before = float(torch.nn.functional.mse_loss(dec(enc(data)), data))
    after = fit(enc, dec, lambda step: data, 40, 3e-3)
    assert after < 0.6 * before
    standardise(enc, dec, data)
    with torch.no_grad():
        z = enc(data)
        assert torch.allclose(z.mean(dim=(0, 2, 3)), torch.zeros(4), atol=1e-4)
        assert torch.allclose(z.std(dim=(0, 2, 3)), torch.ones(4), atol=1e-4)
        # standardising changes the latent, never the reconstruction
        assert float(torch.nn.functional.mse_loss(dec(z), data)) == pytest.approx(after, rel=0.2)


def test_onnx_pair_matches_torch(tmp_path):
    torch.manual_seed(1)
    enc, dec = Encoder(4).eval(), Decoder(4).eval()
    x = torch.from_numpy(blobs(3))
    export_pair(enc, dec, x[:2], tmp_path)
    z = ort_session(tmp_path / "encoder.onnx", 1).run(["latent"], {"pixels": x.numpy()})[0]
    y = ort_session(tmp_path / "decoder.onnx", 1).run(["pixels"], {"latent": z})[0]
    with torch.no_grad():
        assert np.allclose(z, enc(x).numpy(), atol=1e-5)
        assert np.allclose(y, dec(enc(x)).numpy(), atol=1e-5)


def test_psnr():
    a = np.zeros((2, 3, 4, 4), np.float32)
    b = a + 0.2  # MSE 0.04, peak-to-peak 2: 10·log10(4 / 0.04) = 20 dB
    assert psnr(a, b) == pytest.approx(20.0, abs=1e-4)


def test_colour_judge_reads_named_colours_over_backgrounds():
    px = blobs(32, seed=3)
    assert list(colour_of(px)) == [k % len(COLOURS) for k in range(32)]
    assert [background_of(p) for p in px] == [k % len(BACKGROUND_RGB) for k in range(32)]
    # a dim object (grey level 0.4) still reads as its colour
    dim = colourise((np.pad(np.full((10, 10), 102, np.uint8), 9)), COLOURS.index("orange"), 0)
    assert colour_of(dim[None])[0] == COLOURS.index("orange")
