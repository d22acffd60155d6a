"""The head-segmentation U-Net: smp-compatible parameters, the project's checkpoint format, the segmenter.

Reference data in tests/data/ was generated once with segmentation_models_pytorch (0.6.0, and checked
identical with 0.3.3) in a throwaway environment by tests/data/generate_head_unet_reference.py, so
these tests need no smp:
- head_unet_smp_keys.json: ``[name, shape]`` of ``smp.Unet(encoder_name="resnet34", classes=2, ...).state_dict()``
  for three configurations;
- head_unet_smp_logits.npy: that smp U-Net's logits (head-segmentation configuration) for
  :func:`deterministic_input` with the weights of :func:`deterministic_state_dict`.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image
from torchvision import transforms

from ganon_utils import weights
from ganon_utils.preprocess.head_unet import (
    HeadUNet,
    HeadUNetSegmenter,
    head_mask_from_logits,
    head_unet_decoder_channels,
    load_head_unet,
    preprocess_rgb,
)

DATA = Path(__file__).resolve().parent / "data"
SMP_CONFIGS = {
    # name in head_unet_smp_keys.json -> HeadUNet arguments; smp got the same decoder_channels/encoder_depth
    "head_segmentation_512": {},  # the published model: decoder 512, 256, 128, 64, 32
    "smp_default": {"decoder_channels": (256, 128, 64, 32, 16)},
    "depth3_512": {"encoder_depth": 3, "decoder_channels": (512, 256, 128)},
}
REFERENCE_INPUT_SHAPE = (1, 3, 64, 96)


def deterministic_state_dict(shapes: dict[str, tuple[int, ...]]) -> dict[str, torch.Tensor]:
    """Weights computed from a formula (no RNG), identical in any environment; BN variances stay positive."""
    state = {}
    for index, key in enumerate(sorted(shapes)):
        shape = tuple(shapes[key])
        if key.endswith("num_batches_tracked"):
            state[key] = torch.tensor(0)
            continue
        wave = torch.sin(torch.arange(math.prod(shape), dtype=torch.float64) * 0.618 + index * 1.3)
        if key.endswith("running_var"):
            values = 1.0 + 0.5 * wave**2
        elif len(shape) == 4:
            values = wave * math.sqrt(3.0 / math.prod(shape[1:]))
        elif key.endswith("weight"):
            values = 1.0 + 0.1 * wave
        else:
            values = 0.1 * wave
        state[key] = values.reshape(shape).to(torch.float32)
    return state


def deterministic_input(shape: tuple[int, ...] = REFERENCE_INPUT_SHAPE) -> torch.Tensor:
    """An input tensor from a formula, identical in any environment."""
    t = torch.arange(math.prod(shape), dtype=torch.float64)
    return (torch.sin(t * 0.0137) + 0.5 * torch.cos(t * 0.071)).reshape(shape).to(torch.float32)


def lightning_checkpoint(model: HeadUNet, input_size: int, encoder_name: str = "resnet34") -> dict:
    """A checkpoint laid out as head-segmentation's PyTorch Lightning 1.6 trainer saves it.

    ``HumanHeadSegmentationModelModule`` holds the network as ``neural_net`` and its weighted
    ``CrossEntropyLoss`` as ``criterion``; the trainer adds loops, callbacks (EarlyStopping and
    ModelCheckpoint), the Adam state and the module's init arguments.
    """
    state_dict = {"criterion.weight": torch.tensor([1.0, 1.0])}
    state_dict.update({f"neural_net.{k}": v.clone() for k, v in model.state_dict().items()})
    return {
        "epoch": 11,
        "global_step": 48_000,
        "pytorch-lightning_version": "1.6.3",
        "state_dict": state_dict,
        "loops": {
            "fit_loop": {
                "state_dict": {},
                "epoch_loop.state_dict": {"_batches_that_stepped": 48_000},
                "epoch_progress": {"total": {"ready": 12, "started": 12, "processed": 12, "completed": 11}},
            }
        },
        "callbacks": {
            "EarlyStopping{'monitor': 'val_mIoU', 'mode': 'max'}": {
                "wait_count": 0,
                "stopped_epoch": 0,
                "best_score": torch.tensor(0.956),
                "patience": 3,
            },
            "ModelCheckpoint{'monitor': 'val_mIoU', 'mode': 'max', 'every_n_train_steps': 0, "
            "'every_n_epochs': 1, 'train_time_interval': None, 'save_on_train_epoch_end': True}": {
                "monitor": "val_mIoU",
                "best_model_score": torch.tensor(0.956),
                "best_model_path": "models/resnet34_512-epoch=11-val_mIoU=0.9560.ckpt",
                "current_score": torch.tensor(0.956),
                "dirpath": "models",
                "best_k_models": {"models/resnet34_512-epoch=11-val_mIoU=0.9560.ckpt": torch.tensor(0.956)},
                "kth_best_model_path": "models/resnet34_512-epoch=9-val_mIoU=0.9540.ckpt",
                "kth_value": torch.tensor(0.954),
                "last_model_path": "models/last.ckpt",
            },
        },
        "optimizer_states": [torch.optim.Adam(model.parameters(), lr=1e-4).state_dict()],
        "lr_schedulers": [],
        "hparams_name": "kwargs",
        "hyper_parameters": {
            "lr": 1e-4,
            "encoder_name": encoder_name,
            "encoder_depth": model.encoder_depth,
            "pretrained": True,
            "nn_image_input_resolution": input_size,
            "background_weight": 1.0,
            "head_weight": 1.0,
        },
    }


def random_head_unet(input_size: int = 512, seed: int = 0) -> HeadUNet:
    """A head-segmentation-shaped U-Net with random weights and non-trivial BN statistics, in eval mode."""
    torch.manual_seed(seed)
    model = HeadUNet(decoder_channels=head_unet_decoder_channels(input_size))
    with torch.no_grad():
        for name, buffer in model.named_buffers():
            if name.endswith("running_mean"):
                buffer.normal_(0.0, 0.1)
            elif name.endswith("running_var"):
                buffer.uniform_(0.5, 1.5)
    return model.eval()


@pytest.fixture(scope="module")
def native_512() -> HeadUNet:
    """The published architecture with random weights (built once: ~30 M parameters)."""
    return random_head_unet(512)


@pytest.fixture(scope="module")
def native_128() -> HeadUNet:
    """The architecture the project builds for 128-pixel inputs (decoder 128..8), random weights."""
    return random_head_unet(128, seed=1)


@pytest.fixture(scope="module")
def weights_512(tmp_path_factory, native_512) -> Path:
    """A weights folder holding ``native_512`` as a Lightning checkpoint at the head-segmentation path."""
    folder = tmp_path_factory.mktemp("weights")
    path = folder / weights.WEIGHT_FILES["head_segmentation"].relative_path
    path.parent.mkdir(parents=True)
    torch.save(lightning_checkpoint(native_512, 512), path)
    return folder


def forced_class_checkpoint(model: HeadUNet, input_size: int, head_wins: bool) -> dict:
    """``model``'s checkpoint with a zero head conv whose bias makes one class win at every pixel."""
    checkpoint = lightning_checkpoint(model, input_size)
    checkpoint["state_dict"]["neural_net.segmentation_head.0.weight"].zero_()
    checkpoint["state_dict"]["neural_net.segmentation_head.0.bias"] = torch.tensor([0.0, 1.0] if head_wins else [1.0, 0.0])
    return checkpoint


def torchvision_preprocessing(rgb: np.ndarray, size: int = 512) -> torch.Tensor:
    """head-segmentation's PreprocessingPipeline, with the tensor Resize of torchvision < 0.17 (no antialias)."""
    return transforms.Compose(
        [
            transforms.ToTensor(),
            transforms.Resize((size, size), antialias=False),
            transforms.Normalize(mean=[0.485, 0.456, 0.406], std=[0.229, 0.224, 0.225]),
        ]
    )(Image.fromarray(rgb))[None]


# --- architecture --------------------------------------------------------------------------------


@pytest.mark.parametrize("config", sorted(SMP_CONFIGS))
def test_parameter_names_and_shapes_equal_smp_unet(config):
    expected = json.loads((DATA / "head_unet_smp_keys.json").read_text())[config]
    model = HeadUNet(**SMP_CONFIGS[config])
    assert [[k, list(v.shape)] for k, v in model.state_dict().items()] == expected


def test_default_architecture_is_the_published_model():
    model = HeadUNet()
    assert model.encoder_depth == 5
    assert model.decoder_channels == (512, 256, 128, 64, 32)
    assert model.segmentation_head[0].out_channels == 2


def test_forward_equals_smp_unet_output():
    model = HeadUNet()
    shapes = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    model.load_state_dict(deterministic_state_dict(shapes))
    with torch.inference_mode():
        logits = model.eval()(deterministic_input())
    expected = torch.from_numpy(np.load(DATA / "head_unet_smp_logits.npy"))
    assert logits.shape == expected.shape == (1, 2, *REFERENCE_INPUT_SHAPE[2:])
    scale = expected.abs().max().item()
    assert scale > 0.1  # the reference is not degenerate
    torch.testing.assert_close(logits, expected, rtol=1e-4, atol=1e-5 * scale)


def test_forward_rejects_sizes_the_encoder_cannot_halve_five_times():
    with pytest.raises(ValueError, match="multiples of 32"):
        HeadUNet()(torch.zeros(1, 3, 48, 64))


# --- checkpoints ---------------------------------------------------------------------------------


def test_lightning_checkpoint_at_weight_path_loads_like_the_native_module(monkeypatch, weights_512, native_512):
    monkeypatch.setenv("GANON_WEIGHTS_DIR", str(weights_512))
    path = weights.require_weight("head_segmentation")
    assert path == weights_512 / "head_segmentation" / "head_segmentation.ckpt"
    loaded = load_head_unet(path)
    assert not loaded.training
    assert loaded.state_dict().keys() == native_512.state_dict().keys()
    assert all(torch.equal(loaded.state_dict()[k], v) for k, v in native_512.state_dict().items())
    x = torch.randn(1, 3, 64, 64)
    with torch.inference_mode():
        assert torch.equal(loaded(x), native_512(x))


def test_bare_state_dict_loads(tmp_path, native_128):
    torch.save(native_128.state_dict(), tmp_path / "bare.pt")
    loaded = load_head_unet(tmp_path / "bare.pt")
    x = torch.randn(1, 3, 32, 64)
    with torch.inference_mode():
        assert torch.equal(loaded(x), native_128(x))


def test_checkpoint_of_another_input_size_gets_its_decoder_and_input_size(tmp_path, native_128):
    torch.save(lightning_checkpoint(native_128, 128), tmp_path / "small.ckpt")
    assert load_head_unet(tmp_path / "small.ckpt").decoder_channels == (128, 64, 32, 16, 8)
    assert HeadUNetSegmenter(tmp_path / "small.ckpt").input_size == 128


def test_checkpoint_of_another_encoder_is_rejected(tmp_path, native_128):
    torch.save(lightning_checkpoint(native_128, 128, encoder_name="mobilenet_v2"), tmp_path / "m.ckpt")
    with pytest.raises(ValueError, match="mobilenet_v2"):
        load_head_unet(tmp_path / "m.ckpt")


def test_state_dict_missing_a_parameter_is_rejected(tmp_path, native_128):
    state = dict(native_128.state_dict())
    del state["encoder.layer3.0.conv1.weight"]
    torch.save(state, tmp_path / "broken.pt")
    with pytest.raises(ValueError, match="layer3.0.conv1.weight"):
        load_head_unet(tmp_path / "broken.pt")


class NotATensor:
    """An arbitrary pickled object, which only an unsafe torch.load would rebuild."""


def test_checkpoint_needing_arbitrary_unpickling_is_refused(tmp_path, native_128):
    checkpoint = lightning_checkpoint(native_128, 128)
    checkpoint["extra"] = NotATensor()
    torch.save(checkpoint, tmp_path / "pickled.ckpt")
    with pytest.raises(ValueError, match="weights_only=True"):
        load_head_unet(tmp_path / "pickled.ckpt")


def test_html_page_instead_of_checkpoint_is_rejected_naming_the_file(tmp_path):
    path = tmp_path / "head_segmentation.ckpt"
    path.write_text("<!DOCTYPE html><html><head><title>Google Drive - Virus scan warning</title></head></html>")
    with pytest.raises(ValueError, match="head_segmentation.ckpt"):
        HeadUNetSegmenter(path)


# --- segmenter -----------------------------------------------------------------------------------


def test_missing_default_weight_raises_naming_the_path(tmp_path, monkeypatch):
    monkeypatch.setenv("GANON_WEIGHTS_DIR", str(tmp_path / "weights"))
    with pytest.raises(weights.MissingWeightError) as info:
        HeadUNetSegmenter()
    assert str(tmp_path / "weights" / "head_segmentation" / "head_segmentation.ckpt") in str(info.value)


def test_missing_explicit_weight_raises_naming_the_path(tmp_path):
    with pytest.raises(weights.MissingWeightError, match="nowhere.ckpt"):
        HeadUNetSegmenter(tmp_path / "nowhere.ckpt")


def test_preprocessing_equals_the_projects_torchvision_pipeline():
    rgb = np.random.default_rng(0).integers(0, 256, size=(90, 70, 3), dtype=np.uint8)
    torch.testing.assert_close(preprocess_rgb(rgb), torchvision_preprocessing(rgb), rtol=0, atol=1e-6)


def test_preprocessing_keeps_channel_order():
    rgb = np.zeros((64, 64, 3), dtype=np.uint8)
    rgb[..., 0] = 255  # pure red
    x = preprocess_rgb(rgb, 64)[0]
    assert torch.allclose(x[0], torch.tensor((1 - 0.485) / 0.229))
    assert torch.allclose(x[2], torch.tensor((0 - 0.406) / 0.225))


@pytest.mark.parametrize("bad", [np.zeros((8, 8), np.uint8), np.zeros((8, 8, 4), np.uint8), np.zeros((8, 8, 3))])
def test_preprocessing_rejects_non_rgb_uint8(bad):
    with pytest.raises(ValueError, match="uint8 RGB"):
        preprocess_rgb(bad)


def test_mask_is_argmax_head_resized_nearest():
    logits = torch.zeros(1, 2, 2, 2)
    logits[0, 1, 0, 0] = 1.0  # head wins top-left
    logits[0, 0, 1, 1] = 1.0  # background wins bottom-right; the other two are ties
    mask = head_mask_from_logits(logits, 4, 6)
    expected = np.zeros((4, 6), dtype=bool)
    expected[:2, :3] = True
    assert mask.dtype == bool
    np.testing.assert_array_equal(mask, expected)


@pytest.mark.parametrize("head_wins", [True, False])
def test_segmenter_mask_is_the_head_class_at_input_size(tmp_path, native_128, head_wins):
    torch.save(forced_class_checkpoint(native_128, 128, head_wins), tmp_path / "forced.ckpt")
    segmenter = HeadUNetSegmenter(tmp_path / "forced.ckpt")
    assert not segmenter.model.training
    rgb = np.random.default_rng(1).integers(0, 256, size=(150, 110, 3), dtype=np.uint8)
    mask = segmenter(rgb)
    assert mask.shape == (150, 110) and mask.dtype == bool
    assert mask.all() if head_wins else not mask.any()


def test_authors_backend_feeds_the_unet_bgr_pixels(tmp_path, monkeypatch, native_128):
    from ganon_utils.preprocess.segmentation import build_segmenter

    monkeypatch.setenv("GANON_WEIGHTS_DIR", str(tmp_path))
    path = weights.weight_path("head_segmentation")
    path.parent.mkdir(parents=True)
    torch.save(lightning_checkpoint(native_128, 128), path)  # random weights at the path the backends read
    rgb = np.zeros((96, 96, 3), dtype=np.uint8)
    rgb[:, :48, 0], rgb[:, 48:, 2] = 255, 255  # red left half, blue right half: the channel order matters
    plain, authors = build_segmenter("head_unet"), build_segmenter("head_unet_bgr")
    direct = HeadUNetSegmenter(path)
    np.testing.assert_array_equal(plain(rgb, (0, 0, 96, 96)), direct(rgb))
    np.testing.assert_array_equal(authors(rgb, (0, 0, 96, 96)), direct(np.ascontiguousarray(rgb[..., ::-1])))
    assert not np.array_equal(direct(rgb), direct(np.ascontiguousarray(rgb[..., ::-1]))), "test image must depend on order"


@pytest.mark.slow  # two 512x512 forward passes on the CPU (a few seconds each on 2 cores)
def test_segmenter_at_the_weight_path_equals_the_projects_pipeline(tmp_path, monkeypatch, native_512, astronaut):
    """The project's steps (torchvision preprocessing, model, argmax, cv2 nearest resize) on a real photo."""
    rgb = np.ascontiguousarray(astronaut[:400, 50:350])
    conv = native_512.segmentation_head[0]
    with torch.inference_mode():
        features = native_512.decoder(native_512.encoder(torchvision_preprocessing(rgb)))
        raw = F.conv2d(features, conv.weight, padding=1)[0]
    # a head bias at the median logit difference, so that both classes occupy the mask
    bias = torch.tensor([0.0, -(raw[1] - raw[0]).median().item()])
    labels = (raw + bias.view(2, 1, 1)).argmax(0).to(torch.uint8).numpy()
    expected = cv2.resize(labels, (rgb.shape[1], rgb.shape[0]), interpolation=cv2.INTER_NEAREST) == 1
    assert 0.2 < expected.mean() < 0.8

    checkpoint = lightning_checkpoint(native_512, 512)
    checkpoint["state_dict"]["neural_net.segmentation_head.0.bias"] = bias
    monkeypatch.setenv("GANON_WEIGHTS_DIR", str(tmp_path))
    path = weights.weight_path("head_segmentation")
    path.parent.mkdir(parents=True)
    torch.save(checkpoint, path)
    mask = HeadUNetSegmenter()(rgb)
    assert mask.shape == rgb.shape[:2] and mask.dtype == bool
    assert (mask == expected).mean() > 0.999  # adding the bias inside the conv may flip a near-tie pixel
