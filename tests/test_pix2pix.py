"""Tests of the pix2pix networks, losses, training step and checkpoint I/O (CPU, < 1 min on 2 cores)."""

from __future__ import annotations

import argparse
import copy
import os
from pathlib import Path

import pytest
import torch
from torch import nn

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from ganon_utils.pix2pix import (  # noqa: E402
    CHECKPOINT_FORMAT,
    LAMBDA_PIXEL,
    Discriminator,
    GeneratorUNet,
    Pix2PixOptimizers,
    adversarial_loss_lsgan,
    discriminator_loss,
    generator_loss,
    load_generator,
    load_training_state,
    restore_training_state,
    save_checkpoint,
    train_step,
)
from ganon_utils.pix2pix.checkpoints import AUTHORS_WEIGHTS_SOURCE, infer_generator_config  # noqa: E402
from ganon_utils.pix2pix.training_step import frozen_parameters  # noqa: E402

# The same block pattern, 3 fewer full-width blocks and 1/8 of the width: 32 px inputs, fast steps.
SMALL_DOWNS = 5
SMALL_BASE = 8
SMALL_SIZE = 32


@pytest.fixture(scope="module")
def paper_models() -> tuple[GeneratorUNet, Discriminator]:
    """The paper's generator and discriminator with seeded random weights (built once: 54 M params)."""
    torch.manual_seed(0)
    return GeneratorUNet(), Discriminator()


def small_batch(seed: int, batch: int = 2, size: int = SMALL_SIZE) -> tuple[torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(seed)
    landmarks = torch.rand(batch, 3, size, size, generator=generator) * 2 - 1
    real = torch.rand(batch, 3, size, size, generator=generator) * 2 - 1
    return landmarks, real


def small_models(seed: int = 0) -> tuple[GeneratorUNet, Discriminator]:
    torch.manual_seed(seed)
    return GeneratorUNet(num_downs=SMALL_DOWNS, base_channels=SMALL_BASE), Discriminator(base_channels=SMALL_BASE)


# ---------------------------------------------------------------------------------------------------
# Architecture
# ---------------------------------------------------------------------------------------------------


def expected_generator_parameter_count() -> int:
    """Parameter count of the reference U-Net, from its layer shapes (4x4 kernels, no conv biases but final)."""
    k = 4 * 4
    downs = [(3, 64), (64, 128), (128, 256), (256, 512)] + [(512, 512)] * 4
    ups = [(512, 512), (1024, 512), (1024, 512), (1024, 512), (1024, 256), (512, 128), (256, 64)]
    final = 128 * 3 * k + 3
    return sum(i * o * k for i, o in downs) + sum(i * o * k for i, o in ups) + final


def expected_discriminator_parameter_count() -> int:
    k = 4 * 4
    blocks = [(6, 64), (64, 128), (128, 256), (256, 512)]
    return sum(i * o * k + o for i, o in blocks) + 512 * 1 * k  # the last conv has no bias


def test_parameter_counts_match_reference_architecture(paper_models):
    generator, discriminator = paper_models
    assert expected_generator_parameter_count() == 54_404_099
    assert sum(p.numel() for p in generator.parameters()) == expected_generator_parameter_count()
    assert sum(p.numel() for p in discriminator.parameters()) == expected_discriminator_parameter_count()
    assert expected_discriminator_parameter_count() == 2_767_808


def test_state_dict_keys_match_authors_lightning_layout(paper_models):
    generator, discriminator = paper_models
    expected_g = (
        [f"down{i}.model.0.weight" for i in range(1, 9)]
        + [f"up{i}.model.0.weight" for i in range(1, 8)]
        + ["final.2.weight", "final.2.bias"]
    )
    assert list(generator.state_dict()) == expected_g
    # conv (0), lrelu (1) | conv (2), IN, lrelu | conv (5), IN, lrelu | conv (8), IN, lrelu | pad (11), conv (12)
    expected_d = [f"model.{i}.{p}" for i in (0, 2, 5, 8) for p in ("weight", "bias")] + ["model.12.weight"]
    assert list(discriminator.state_dict()) == expected_d


def test_norm_and_dropout_placement_follows_reference(paper_models):
    generator, _ = paper_models

    def has(block: nn.Module, kind: type) -> bool:
        return any(isinstance(m, kind) for m in block.modules())

    downs = [f"down{i}" for i in range(1, 9)]
    norm_free = {name for name in downs if not has(getattr(generator, name), nn.InstanceNorm2d)}
    assert norm_free == {"down1", "down8"}
    with_dropout = {name for name, m in generator.named_children() if has(m, nn.Dropout)}
    assert with_dropout == {"down4", "down5", "down6", "down7", "down8", "up1", "up2", "up3", "up4"}
    assert all(m.p == 0.5 for m in generator.modules() if isinstance(m, nn.Dropout))
    assert all(m.negative_slope == 0.2 for m in generator.modules() if isinstance(m, nn.LeakyReLU))


@pytest.mark.parametrize("batch,height,width", [(2, 256, 256), (1, 256, 512)])
def test_generator_output_shape_and_tanh_range(paper_models, batch, height, width):
    generator, discriminator = paper_models
    x = torch.randn(batch, 3, height, width) * 3  # large inputs push the tanh towards saturation
    with torch.no_grad():
        y = generator.eval()(x)
        scores = discriminator(y, x)
    assert y.shape == (batch, 3, height, width)
    assert y.abs().max() <= 1.0
    assert y.std() > 0
    assert scores.shape == (batch, 1, height // 16, width // 16)


def test_generator_runs_at_512_px(paper_models):
    generator, _ = paper_models
    with torch.no_grad():
        y = generator.eval()(torch.zeros(1, 3, 512, 512))  # a black landmark image: the "average face"
    assert y.shape == (1, 3, 512, 512)
    assert torch.isfinite(y).all()


@pytest.mark.parametrize("size", [64, 128, 384])
def test_generator_rejects_sizes_below_or_off_256(paper_models, size):
    generator, _ = paper_models
    with pytest.raises(ValueError, match="multiples of 256"):
        generator(torch.zeros(1, 3, size, size))


def test_smaller_num_downs_lowers_the_minimum_size():
    generator = GeneratorUNet(num_downs=6)
    assert generator.min_size == 64
    with torch.no_grad():
        assert generator.eval()(torch.zeros(1, 3, 64, 128)).shape == (1, 3, 64, 128)
    with pytest.raises(ValueError):
        GeneratorUNet(num_downs=4)


def test_discriminator_rejects_mismatched_pairs_and_tiny_inputs():
    discriminator = Discriminator()
    with pytest.raises(ValueError, match="share"):
        discriminator(torch.zeros(1, 3, 64, 64), torch.zeros(1, 3, 32, 32))
    with pytest.raises(ValueError, match="at least 32"):
        discriminator(torch.zeros(1, 3, 16, 16), torch.zeros(1, 3, 16, 16))


def test_weight_init_is_normal_0_002():
    torch.manual_seed(0)
    weight = GeneratorUNet().down5.model[0].weight
    assert abs(weight.mean().item()) < 1e-4
    assert weight.std().item() == pytest.approx(0.02, rel=0.01)


# ---------------------------------------------------------------------------------------------------
# Losses
# ---------------------------------------------------------------------------------------------------


def test_losses_on_known_values():
    pred = torch.tensor([0.5, 1.5])
    assert adversarial_loss_lsgan(pred, True).item() == pytest.approx(0.25)
    assert adversarial_loss_lsgan(pred, False).item() == pytest.approx(1.25)
    fake, real = torch.zeros(1, 3, 2, 2), torch.full((1, 3, 2, 2), 0.5)
    losses = generator_loss(pred, fake, real)
    assert losses.gan.item() == pytest.approx(0.25)
    assert losses.pixel.item() == pytest.approx(0.5)
    assert losses.total.item() == pytest.approx(0.25 + LAMBDA_PIXEL * 0.5)
    assert LAMBDA_PIXEL == 100
    loss_d = discriminator_loss(torch.tensor([1.0, 0.0]), torch.tensor([0.0, 2.0]))
    assert loss_d.item() == pytest.approx(0.5 * (0.5 + 2.0))


# ---------------------------------------------------------------------------------------------------
# Training step
# ---------------------------------------------------------------------------------------------------


def reference_step(generator, discriminator, opt_g, opt_d, landmarks, real):
    """The step of Linder-Noren's pix2pix.py, written out: separate D calls, D grads zeroed before its step."""
    mse, l1 = nn.MSELoss(), nn.L1Loss()
    opt_g.zero_grad()
    fake = generator(landmarks)
    pred_fake = discriminator(fake, landmarks)
    loss_g = mse(pred_fake, torch.ones_like(pred_fake)) + 100 * l1(fake, real)
    loss_g.backward()
    opt_g.step()
    opt_d.zero_grad()
    pred_real = discriminator(real, landmarks)
    pred_fake = discriminator(fake.detach(), landmarks)
    loss_d = 0.5 * (mse(pred_real, torch.ones_like(pred_real)) + mse(pred_fake, torch.zeros_like(pred_fake)))
    loss_d.backward()
    opt_d.step()
    return loss_g.item(), loss_d.item()


def test_train_step_matches_reference_step():
    landmarks, real = small_batch(1)
    g1, d1 = small_models()
    g2, d2 = copy.deepcopy(g1), copy.deepcopy(d1)
    opts1, opts2 = Pix2PixOptimizers.create(g1, d1), Pix2PixOptimizers.create(g2, d2)
    for _ in range(2):
        torch.manual_seed(7)
        ours = train_step(g1, d1, opts1.generator, opts1.discriminator, landmarks, real)
        torch.manual_seed(7)
        ref_g, ref_d = reference_step(g2, d2, opts2.generator, opts2.discriminator, landmarks, real)
        assert ours["loss_g"] == pytest.approx(ref_g, rel=1e-5)
        assert ours["loss_d"] == pytest.approx(ref_d, rel=1e-4, abs=1e-6)
    # Conv biases right before an instance norm are cancelled by it: their true gradient is 0 and Adam
    # turns the float noise into +-lr steps, so they are compared by their (absent) effect only.
    cancelled = {"model.2.bias", "model.5.bias", "model.8.bias"}
    pairs = list(zip(g1.state_dict().values(), g2.state_dict().values()))
    pairs += [(v, d2.state_dict()[k]) for k, v in d1.state_dict().items() if k not in cancelled]
    for p1, p2 in pairs:
        # batching real and fake pairs reorders float sums; Adam moves each weight by ~lr = 2e-4 per step
        torch.testing.assert_close(p1, p2, rtol=1e-3, atol=5e-5)


def test_optimizers_use_paper_settings():
    generator, discriminator = small_models()
    opts = Pix2PixOptimizers.create(generator, discriminator)
    for opt in (opts.generator, opts.discriminator):
        group = opt.param_groups[0]
        assert isinstance(opt, torch.optim.Adam)
        assert group["lr"] == 2e-4 and tuple(group["betas"]) == (0.5, 0.999)
        assert not group["fused"]  # parameters on the CPU
    assert {id(p) for p in opts.generator.param_groups[0]["params"]} == {id(p) for p in generator.parameters()}


def test_generator_runs_once_per_step_and_discriminator_gets_no_generator_grad():
    generator, discriminator = small_models()
    opts = Pix2PixOptimizers.create(generator, discriminator)
    calls = {"g": 0, "d_batch": []}
    generator.register_forward_hook(lambda *_: calls.__setitem__("g", calls["g"] + 1))
    discriminator.register_forward_hook(lambda m, args, out: calls["d_batch"].append(out.shape[0]))
    original_step = opts.generator.step
    d_grads_at_g_step: list[bool] = []

    def recording_step(*args, **kwargs):
        d_grads_at_g_step.extend(p.grad is not None for p in discriminator.parameters())
        return original_step(*args, **kwargs)

    opts.generator.step = recording_step
    landmarks, real = small_batch(2)
    losses = train_step(generator, discriminator, opts.generator, opts.discriminator, landmarks, real)
    assert d_grads_at_g_step and not any(d_grads_at_g_step)  # the generator loss left D untouched
    assert set(losses) == {"loss_g", "loss_gan", "loss_pixel", "loss_d"}
    assert all(isinstance(v, float) for v in losses.values())
    assert losses["loss_g"] == pytest.approx(losses["loss_gan"] + 100 * losses["loss_pixel"], rel=1e-5)
    assert calls["g"] == 1
    assert calls["d_batch"] == [2, 4]  # G step on fakes, then real and fake pairs as one batch
    assert all(p.requires_grad for p in discriminator.parameters())


def test_frozen_parameters_restores_flags():
    module = nn.Linear(2, 2)
    module.bias.requires_grad_(False)
    with frozen_parameters(module):
        assert not any(p.requires_grad for p in module.parameters())
    assert module.weight.requires_grad and not module.bias.requires_grad


def test_train_step_lowers_l1_on_a_fixed_batch():
    generator, discriminator = small_models()
    opts = Pix2PixOptimizers.create(generator, discriminator)
    landmarks, real = small_batch(3)
    history = [
        train_step(generator, discriminator, opts.generator, opts.discriminator, landmarks, real)["loss_pixel"] for _ in range(30)
    ]
    assert history[-1] < 0.95 * history[0]  # random targets: L1 starts at ~0.5 (a zero output)


@pytest.mark.slow
def test_train_step_lowers_l1_with_the_paper_model_at_256_px():
    torch.manual_seed(0)
    generator, discriminator = GeneratorUNet(), Discriminator()
    opts = Pix2PixOptimizers.create(generator, discriminator)
    landmarks, real = small_batch(4, batch=1, size=256)
    history = [
        train_step(generator, discriminator, opts.generator, opts.discriminator, landmarks, real)["loss_pixel"] for _ in range(3)
    ]
    assert history[-1] < 0.97 * history[0]


def test_bf16_autocast_and_channels_last():
    landmarks, real = small_batch(5)
    g1, d1 = small_models()
    g2, d2 = copy.deepcopy(g1), copy.deepcopy(d1)
    opts1, opts2 = Pix2PixOptimizers.create(g1, d1), Pix2PixOptimizers.create(g2, d2)
    torch.manual_seed(3)
    plain = train_step(g1, d1, opts1.generator, opts1.discriminator, landmarks, real)
    initial = g2.down1.model[0].weight.detach().clone()
    g2.to(memory_format=torch.channels_last)
    d2.to(memory_format=torch.channels_last)
    torch.manual_seed(3)
    fast = train_step(
        g2,
        d2,
        opts2.generator,
        opts2.discriminator,
        landmarks,
        real,
        autocast_dtype=torch.bfloat16,
        channels_last=True,
    )
    assert all(torch.isfinite(torch.tensor(v)) for v in fast.values())
    assert fast["loss_pixel"] == pytest.approx(plain["loss_pixel"], rel=0.02)  # bf16 forward, same dropout
    assert all(p.dtype == torch.float32 for p in g2.parameters())
    assert not torch.equal(g2.down1.model[0].weight, initial)  # the bf16 step updated the weights
    with pytest.raises(ValueError, match="bfloat16"):
        train_step(g2, d2, opts2.generator, opts2.discriminator, landmarks, real, autocast_dtype=torch.float16)


# ---------------------------------------------------------------------------------------------------
# Checkpoints
# ---------------------------------------------------------------------------------------------------


def lightning_checkpoint(generator: nn.Module, discriminator: nn.Module) -> dict:
    """A checkpoint laid out like the authors' Lightning files (Pix2Pix module, ModelCheckpoint callback)."""
    state_dict = {f"generator.{k}": v for k, v in generator.state_dict().items()}
    state_dict.update({f"discriminator.{k}": v for k, v in discriminator.state_dict().items()})
    opt_d = torch.optim.Adam(discriminator.parameters(), lr=2e-4, betas=(0.5, 0.999))
    for p in discriminator.parameters():
        p.grad = torch.zeros_like(p)
    opt_d.step()
    opt_g = torch.optim.Adam(generator.parameters(), lr=2e-4, betas=(0.5, 0.999))
    progress = {"total": {"ready": 5, "completed": 5}, "current": {"ready": 5, "completed": 5}}
    return {
        "epoch": 24,
        "global_step": 129_875,
        "pytorch-lightning_version": "2.0.2",
        "state_dict": state_dict,
        "loops": {
            "fit_loop": {
                "state_dict": {},
                "epoch_loop.state_dict": {"_batches_that_stepped": 129_875},
                "epoch_loop.batch_progress": {**progress, "is_last_batch": False},
                "epoch_progress": progress,
            },
            "validate_loop": {"state_dict": {}},
            "test_loop": {"state_dict": {}},
            "predict_loop": {"state_dict": {}},
        },
        "callbacks": {
            "ModelCheckpoint{'monitor': 'step', 'mode': 'max', 'every_n_train_steps': 500, "
            "'every_n_epochs': 0, 'train_time_interval': None}": {
                "monitor": "step",
                "best_model_score": torch.tensor(129_500.0),
                "best_model_path": "models/epoch=24-step=129500.ckpt",
                "current_score": torch.tensor(129_500.0),
                "dirpath": "models",
                "best_k_models": {"models/epoch=24-step=129500.ckpt": torch.tensor(129_500.0)},
                "kth_best_model_path": "",
                "kth_value": torch.tensor(float("-inf")),
                "last_model_path": "",
            }
        },
        "optimizer_states": [opt_g.state_dict(), opt_d.state_dict()],
        "lr_schedulers": [],
        "hparams_name": "kwargs",
        "hyper_parameters": {
            "data_dir": "data",
            "models_dir": "models",
            "output_dir": "output",
            "n_epochs": 25,
            "dataset_name": "celeba",
            "batch_size": 32,
            "lr": 0.0002,
            "b1": 0.5,
            "b2": 0.999,
            "n_cpu": 8,
            "img_size": 512,
            "device": 0,
        },
    }


def test_lightning_checkpoint_loads_weights_only_and_reproduces_outputs(paper_models, tmp_path):
    generator, discriminator = paper_models
    path = tmp_path / "publication.ckpt"
    torch.save(lightning_checkpoint(generator, copy.deepcopy(discriminator)), path)
    raw = torch.load(path, map_location="cpu", weights_only=True)  # the realistic layout is weights-only safe
    assert raw["hyper_parameters"]["img_size"] == 512

    loaded = load_generator(path)
    assert not loaded.training
    x = torch.randn(1, 3, 256, 256)
    with torch.no_grad():
        assert torch.equal(loaded(x), generator.eval()(x))
    assert loaded.down1.model[0].weight.data_ptr() != generator.down1.model[0].weight.data_ptr()


def test_lightning_checkpoint_with_pickled_objects_gets_a_conversion_hint(tmp_path):
    generator = GeneratorUNet(num_downs=SMALL_DOWNS)
    path = tmp_path / "old.ckpt"
    torch.save(
        {
            "state_dict": {f"generator.{k}": v for k, v in generator.state_dict().items()},
            "hyper_parameters": argparse.Namespace(lr=2e-4),
        },
        path,
    )
    with pytest.raises(ValueError, match="pickled Python objects") as info:
        load_generator(path)
    message = str(info.value)
    assert "converted.ckpt" in message and str(path) in message
    assert "convert-checkpoint" in message and "--trust-source" in message
    assert "weights_only=False" not in message  # never recommend the call that runs a malicious file's code

    # the package's own conversion, with the user's explicit consent; the result loads weights-only
    from ganon_utils.cli import main

    converted = tmp_path / "converted.ckpt"
    with pytest.raises(SystemExit) as refused:
        main(["convert-checkpoint", str(path), str(converted)])  # no --trust-source
    assert refused.value.code == 2 and not converted.exists()
    assert main(["convert-checkpoint", str(path), str(converted), "--trust-source"]) == 0
    x = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        assert torch.equal(load_generator(converted)(x), generator.eval()(x))
    torch.load(converted, weights_only=True)


def test_a_generator_with_non_finite_weights_is_refused(tmp_path):
    generator = GeneratorUNet(num_downs=SMALL_DOWNS)
    state = generator.state_dict()
    state["up2.model.0.weight"] = torch.full_like(state["up2.model.0.weight"], float("nan"))
    path = tmp_path / "diverged.pt"
    torch.save(state, path)
    with pytest.raises(ValueError, match="NaN or infinite") as info:
        load_generator(path)
    assert "up2.model.0.weight" in str(info.value) and str(path) in str(info.value)


def test_missing_checkpoint_names_file_and_authors_weights(tmp_path):
    path = tmp_path / "nowhere.ckpt"
    with pytest.raises(FileNotFoundError) as info:
        load_generator(path)
    message = str(info.value)
    assert str(path) in message and AUTHORS_WEIGHTS_SOURCE in message
    assert "hcmlab/GANonymization" in message


def test_truncated_checkpoint_is_a_clear_error(paper_models, tmp_path):
    path = tmp_path / "bare.pt"
    torch.save(GeneratorUNet(num_downs=SMALL_DOWNS).state_dict(), path)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(ValueError, match="could not read"):
        load_generator(path)


def test_bare_state_dict_and_small_generators_load(tmp_path):
    generator, _ = small_models(seed=4)
    path = tmp_path / "bare.pt"
    torch.save(generator.state_dict(), path)
    loaded = load_generator(path)
    assert loaded.num_downs == SMALL_DOWNS
    assert infer_generator_config(generator.state_dict()) == {
        "in_channels": 3,
        "out_channels": 3,
        "num_downs": SMALL_DOWNS,
        "base_channels": SMALL_BASE,
    }
    x = torch.randn(1, 3, 32, 32)
    with torch.no_grad():
        assert torch.equal(loaded(x), generator.eval()(x))


def test_unrecognised_checkpoint_is_rejected(tmp_path):
    path = tmp_path / "other.pt"
    torch.save({"weights": torch.zeros(1)}, path)
    with pytest.raises(ValueError, match="unrecognised checkpoint"):
        load_generator(path)


def test_own_checkpoint_round_trips_with_weights_only(tmp_path):
    generator, discriminator = small_models(seed=5)
    opts = Pix2PixOptimizers.create(generator, discriminator)
    train_step(generator, discriminator, opts.generator, opts.discriminator, *small_batch(6))
    config = {
        "img_size": SMALL_SIZE,
        "betas": (0.5, 0.999),
        "dataset": "demo",
        "notes": None,
        "extra": {"a": [1, 2]},
    }
    path = save_checkpoint(
        tmp_path / "ckpt" / "last.pt",
        generator=generator,
        discriminator=discriminator,
        optimizer_generator=opts.generator,
        optimizer_discriminator=opts.discriminator,
        epoch=3,
        step=42,
        config=config,
    )
    assert sorted(p.name for p in path.parent.iterdir()) == ["last.pt"]  # no temp file left behind
    raw = torch.load(path, weights_only=True)
    assert raw["format"] == CHECKPOINT_FORMAT and raw["epoch"] == 3 and raw["step"] == 42
    assert raw["config"] == config
    assert raw["optimizer_generator"]["state"]  # Adam moments are stored
    state = load_training_state(path)
    assert state.step == 42 and isinstance(state.rng_state["torch"], torch.Tensor)
    for key, value in generator.state_dict().items():
        assert torch.equal(state.generator[key], value)
    x = torch.randn(1, 3, 32, 32)
    with torch.no_grad():
        assert torch.equal(load_generator(path)(x), generator.eval()(x))


def test_save_checkpoint_rejects_non_plain_config(tmp_path):
    generator, discriminator = small_models()
    opts = Pix2PixOptimizers.create(generator, discriminator)
    with pytest.raises(TypeError, match="config\\['path'\\]"):
        save_checkpoint(
            tmp_path / "bad.pt",
            generator=generator,
            discriminator=discriminator,
            optimizer_generator=opts.generator,
            optimizer_discriminator=opts.discriminator,
            epoch=0,
            step=0,
            config={"path": Path("x")},
        )
    assert not any(tmp_path.iterdir())


def test_load_training_state_rejects_lightning_files(tmp_path):
    generator, _ = small_models()
    path = tmp_path / "l.ckpt"
    torch.save({"state_dict": {f"generator.{k}": v for k, v in generator.state_dict().items()}}, path)
    with pytest.raises(ValueError, match="resume"):
        load_training_state(path)


def all_parameters(*modules: nn.Module) -> list[torch.Tensor]:
    return [p.detach().clone() for m in modules for p in m.parameters()]


def test_resume_equals_uninterrupted_training(tmp_path):
    """k steps, save, N - k steps == the same N - k steps in fresh models/optimisers loaded from the file."""
    batches = [small_batch(10 + i) for i in range(3)]
    split = 2

    def step(models, opts, batch):
        train_step(*models, opts.generator, opts.discriminator, *batch)

    models = small_models(seed=1)
    opts = Pix2PixOptimizers.create(*models)
    torch.manual_seed(123)
    for batch in batches[:split]:
        step(models, opts, batch)
    path = save_checkpoint(
        tmp_path / "resume.pt",
        generator=models[0],
        discriminator=models[1],
        optimizer_generator=opts.generator,
        optimizer_discriminator=opts.discriminator,
        epoch=0,
        step=split,
    )
    for batch in batches[split:]:
        step(models, opts, batch)
    uninterrupted = all_parameters(*models)

    def resume(restore_rng: bool) -> list[torch.Tensor]:
        torch.manual_seed(999)  # whatever ran in between must not matter
        fresh = small_models(seed=2)
        fresh_opts = Pix2PixOptimizers.create(*fresh)
        state = load_training_state(path)
        restore_training_state(state, *fresh, fresh_opts.generator, fresh_opts.discriminator, restore_rng=restore_rng)
        for batch in batches[state.step :]:
            step(fresh, fresh_opts, batch)
        return all_parameters(*fresh)

    assert all(torch.equal(a, b) for a, b in zip(uninterrupted, resume(restore_rng=True)))
    # without the stored RNG state the dropout masks differ, and so do the weights (the check can fail)
    assert not all(torch.equal(a, b) for a, b in zip(uninterrupted, resume(restore_rng=False)))


def test_wrapper_prefixes_are_removed(tmp_path):
    generator, discriminator = small_models(seed=6)
    compiled = torch.compile(generator)  # wrapping only: nothing is compiled until it is called
    assert next(iter(compiled.state_dict())).startswith("_orig_mod.")
    path = tmp_path / "wrapped.pt"
    torch.save({f"module.{k}": v for k, v in compiled.state_dict().items()}, path)  # DDP around compile
    assert load_generator(path).num_downs == SMALL_DOWNS
    opts = Pix2PixOptimizers.create(generator, discriminator)
    saved = save_checkpoint(
        tmp_path / "c.pt",
        generator=compiled,
        discriminator=discriminator,
        optimizer_generator=opts.generator,
        optimizer_discriminator=opts.discriminator,
        epoch=0,
        step=0,
    )
    assert list(load_training_state(saved).generator) == list(generator.state_dict())
