"""pix2pix training: on-device landmark rendering, the dataset and loader, the training loop, resuming,
the command line and notebook 02 (CPU; real stage-01 output of the demo portraits)."""

from __future__ import annotations

import json
import math
import os
import shutil
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
import pytest
import torch

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from ganon_utils.anonymize.synthesis import images_to_input  # noqa: E402
from ganon_utils.image_io import load_image  # noqa: E402
from ganon_utils.pix2pix import training  # noqa: E402
from ganon_utils.pix2pix.checkpoints import CHECKPOINT_FORMAT, load_generator, load_training_state  # noqa: E402
from ganon_utils.pix2pix.data import EpochShuffleSampler, FaceLandmarkDataset, make_loader  # noqa: E402
from ganon_utils.pix2pix.networks import GeneratorUNet  # noqa: E402
from ganon_utils.pix2pix.render import render_landmarks_torch  # noqa: E402
from ganon_utils.pix2pix.training import TrainConfig, cli, sample_grid, train  # noqa: E402
from ganon_utils.preprocess import run_preprocess, tasks_from_folder  # noqa: E402
from ganon_utils.preprocess.landmarks import NUM_LANDMARKS, render_landmarks  # noqa: E402

REPO_ROOT = Path(__file__).resolve().parent.parent

# Tiny networks (same block pattern as the paper's, 32 px, width 4) so a step takes milliseconds.
TINY = TrainConfig(
    image_size=32, batch_size=4, epochs=2, num_downs=5, base_channels=4, num_workers=0, sample_faces=3,
    max_steps_per_epoch=3,
)  # fmt: skip


@pytest.fixture(scope="module")
def stage01(tmp_path_factory, demo_dir) -> Path:
    """Real stage-01 output for the demo portraits (about 13 faces with landmarks)."""
    out = tmp_path_factory.mktemp("stage01")
    run_preprocess(tasks_from_folder(demo_dir / "portraits"), out, n_workers=0, progress=False)
    return out


@pytest.fixture(scope="module")
def split_stage01(stage01, tmp_path_factory) -> Path:
    """A copy of ``stage01`` whose faces.csv has train/val splits and one face without landmarks."""
    out = tmp_path_factory.mktemp("split_stage01")
    shutil.copytree(stage01, out, dirs_exist_ok=True)
    faces = pd.read_csv(out / "faces.csv")
    ok = faces.index[faces["status"] == "ok"]
    faces.loc[ok, "split"] = "train"
    faces.loc[ok[-3:], "split"] = "val"
    faces.loc[ok[0], "status"] = "no_landmarks"
    faces.to_csv(out / "faces.csv", index=False)
    return out


def state_dicts_equal(a: dict, b: dict) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def optimizer_states_equal(a: dict, b: dict) -> bool:
    if a["param_groups"] != b["param_groups"] or a["state"].keys() != b["state"].keys():
        return False
    return all(
        all(torch.equal(torch.as_tensor(x[k]), torch.as_tensor(y[k])) for k in x)
        for x, y in ((a["state"][i], b["state"][i]) for i in a["state"])
    )


# ---------------------------------------------------------------------------------------------------
# Rendering on the device
# ---------------------------------------------------------------------------------------------------


def just_below_pixel_edges(size: int) -> np.ndarray:
    """For each pixel edge k / size (k = 1 .. size-1), the largest float32 u with u * size < k exactly."""
    values = []
    for k in range(1, size):
        u = np.float32(k / size)
        while np.float64(u) * size >= k:
            u = np.nextafter(u, np.float32(0))
        values.append(u)
    return np.array(values, dtype=np.float32)


@pytest.mark.filterwarnings("ignore:invalid value encountered in cast:RuntimeWarning")  # NumPy casting the NaN
def test_render_torch_equals_numpy_renderer(stage01) -> None:
    generator = torch.Generator().manual_seed(0)
    random = torch.rand(3, NUM_LANDMARKS, 3, generator=generator) * 1.2 - 0.1  # some points fall outside
    edges = torch.tensor([0.0, 1.0, -1e-9, 0.99999994, 0.5, float("nan")], dtype=torch.float32)
    random[0, : edges.numel(), 0] = edges
    random[0, : edges.numel(), 1] = edges.flip(0)
    real = np.stack([np.load(stage01 / p) for p in pd.read_csv(stage01 / "faces.csv")["landmarks_path"].dropna()[:2]])
    edges = np.zeros((2, NUM_LANDMARKS, 3), dtype=np.float32)
    for row, size in enumerate((100, 300)):  # a float32 product u * size would round onto the next pixel for some
        below = just_below_pixel_edges(size)
        edges[row, : len(below), 0] = below
        edges[row, : len(below), 1] = below[::-1]
    batch = torch.cat([random, torch.from_numpy(real), torch.from_numpy(edges)])
    for style in ("mediapipe", "pixel"):
        for size in (7, 64, 100, 255, 300, 512):
            rendered = render_landmarks_torch(batch, size, style=style)
            assert rendered.shape == (len(batch), 3, size, size) and rendered.dtype == torch.float32
            for row in range(len(batch)):
                expected = images_to_input(torch.from_numpy(render_landmarks(batch[row].numpy(), size, style=style))[None])
                assert torch.equal(rendered[row], expected[0]), (style, size, row)


def test_render_torch_at_the_crop_size_equals_the_authors_transforms(stage01) -> None:
    """Drawn at the crop's side, then ToTensor, Resize, Normalize: the same on the device as with torchvision."""
    import torchvision.transforms as T

    real = np.stack([np.load(stage01 / p) for p in pd.read_csv(stage01 / "faces.csv")["landmarks_path"].dropna()[:2]])
    transform = T.Compose([T.ToTensor(), T.Resize(128), T.Normalize((0.5,) * 3, (0.5,) * 3)])
    for style in ("mediapipe", "pixel"):
        rendered = render_landmarks_torch(torch.from_numpy(real), 128, style=style, crop_size=512)
        for row, points in enumerate(real):
            assert torch.allclose(rendered[row], transform(render_landmarks(points, 512, style=style)), atol=1e-6)


def test_render_torch_valid_mask_channels_and_xy_input() -> None:
    coords = torch.full((2, NUM_LANDMARKS, 2), 0.5)
    coords[:, 0] = torch.tensor([0.1, 0.2])
    image = render_landmarks_torch(coords, 10, channels=1, valid=torch.tensor([True, False]), style="pixel")
    assert image.shape == (2, 1, 10, 10)
    assert torch.all(image[1] == -1)  # a face without landmarks: all black
    assert set(image[0].unique().tolist()) == {-1.0, 1.0}
    assert image[0, 0, 2, 1] == 1 and image[0, 0, 5, 5] == 1 and int((image[0] == 1).sum()) == 2
    plus = render_landmarks_torch(coords, 10, channels=1, valid=torch.tensor([True, False]))  # the authors' style
    grey = (224 / 255 - 0.5) / 0.5
    assert torch.allclose(plus[0, 0, 5, 4:7], torch.tensor(grey)) and torch.allclose(plus[0, 0, 4:7, 5], torch.tensor(grey))
    assert int((plus[0] > -1).sum()) == 10 and torch.all(plus[1] == -1)  # two 5-pixel pluses


# ---------------------------------------------------------------------------------------------------
# Dataset and loader
# ---------------------------------------------------------------------------------------------------


def test_dataset_yields_ok_faces_as_normalised_tensors(split_stage01) -> None:
    faces = pd.read_csv(split_stage01 / "faces.csv")
    everything = FaceLandmarkDataset(split_stage01, image_size=64)
    assert everything.face_ids == faces.loc[faces["status"] == "ok", "face_id"].tolist()
    assert faces.loc[faces["status"] != "ok", "face_id"].iloc[0] not in everything.face_ids
    assert everything.coords.shape == (len(everything), NUM_LANDMARKS, 2) and everything.coords.dtype == np.float32

    face, coords = everything[1]
    assert face.shape == (3, 64, 64) and face.dtype == torch.float32
    assert coords.shape == (NUM_LANDMARKS, 2) and coords.dtype == torch.float32
    assert -1 <= face.min() < 0 < face.max() <= 1
    row = faces.set_index("face_id").loc[everything.face_ids[1]]
    rgb = load_image(split_stage01 / row["face_path"]).rgb  # independent reader (Pillow)
    expected = cv2.resize(rgb, (64, 64), interpolation=cv2.INTER_AREA).astype(np.float32) / 127.5 - 1
    assert torch.allclose(face.permute(1, 2, 0), torch.from_numpy(expected), atol=1e-6)
    assert np.array_equal(coords.numpy(), np.load(split_stage01 / row["landmarks_path"])[:, :2])

    full = FaceLandmarkDataset(split_stage01, image_size=512)[1][0]
    assert torch.equal(((full + 1) * 127.5).round().to(torch.uint8).permute(1, 2, 0), torch.from_numpy(rgb))

    val = FaceLandmarkDataset(split_stage01, split="val", image_size=32)
    train_set = FaceLandmarkDataset(split_stage01, split="train", image_size=32)
    assert len(val) == 3 and len(val) + len(train_set) == len(everything)
    with pytest.raises(ValueError, match="splits with such faces"):
        FaceLandmarkDataset(split_stage01, split="test")


def test_loader_order_depends_only_on_seed_and_epoch(split_stage01) -> None:
    sampler = EpochShuffleSampler(20, seed=3)
    first = sampler.order()
    sampler.set_epoch(1)
    second = sampler.order()
    assert sorted(first) == list(range(20)) and first != second
    torch.manual_seed(123)  # the global generator has no influence
    sampler.set_epoch(0)
    assert sampler.order() == first
    assert EpochShuffleSampler(5, shuffle=False).order() == [0, 1, 2, 3, 4]

    dataset = FaceLandmarkDataset(split_stage01, image_size=32)
    in_process = make_loader(dataset, 4, num_workers=0, seed=3)
    with_workers = make_loader(dataset, 4, num_workers=1, seed=3)
    for epoch in (0, 1):
        in_process.sampler.set_epoch(epoch)
        with_workers.sampler.set_epoch(epoch)
        a, b = list(in_process), list(with_workers)
        assert len(a) == len(b) == -(-len(dataset) // 4)
        assert all(torch.equal(x[0], y[0]) and torch.equal(x[1], y[1]) for x, y in zip(a, b))
    expected_first = torch.from_numpy(dataset.coords[EpochShuffleSampler(len(dataset), seed=3).order()[0]])
    in_process.sampler.set_epoch(0)
    assert torch.equal(next(iter(in_process))[1][0], expected_first)


# ---------------------------------------------------------------------------------------------------
# Training
# ---------------------------------------------------------------------------------------------------


def test_cli_trains_and_writes_checkpoints_samples_log(stage01, tmp_path) -> None:
    out = tmp_path / "run"
    args = [str(stage01), str(out), "--epochs", "2", "--batch-size", "4", "--image-size", "32", "--num-downs", "5",
            "--base-channels", "4", "--workers", "0", "--max-steps-per-epoch", "2", "--sample-faces", "3", "--no-progress"]  # fmt: skip
    assert cli(args) == 0
    assert sorted(p.name for p in (out / "checkpoints").iterdir()) == ["epoch_001.pt", "epoch_002.pt", "last.pt"]
    assert sorted(p.name for p in (out / "samples").iterdir()) == ["epoch_001.png", "epoch_002.png"]
    log = pd.read_csv(out / "log.csv")
    assert list(log.columns) == list(training.LOG_COLUMNS)
    assert log["epoch"].tolist() == [1, 2] and log["step"].tolist() == [2, 4]
    assert np.isfinite(log[["loss_g", "loss_gan", "loss_pixel", "loss_d"]].to_numpy()).all()
    assert np.allclose(log["loss_g"], log["loss_gan"] + 100 * log["loss_pixel"], rtol=1e-5)
    assert (log["images_per_s"] > 0).all()
    grid = load_image(out / "samples" / "epoch_002.png").rgb
    assert grid.shape == (3 * 32, 3 * 32, 3)
    record = json.loads((out / "config.json").read_text())
    assert record["config"]["image_size"] == 32 and record["data"]["train_faces"] == len(FaceLandmarkDataset(stage01))

    # The checkpoints are plain data and the generator loads for inference.
    raw = torch.load(out / "checkpoints" / "last.pt", weights_only=True)
    assert raw["format"] == CHECKPOINT_FORMAT and raw["epoch"] == 2 and raw["step"] == 4
    assert raw["config"] == record
    generator = load_generator(out / "checkpoints" / "last.pt")
    assert isinstance(generator, GeneratorUNet) and generator.num_downs == 5 and not generator.training
    assert state_dicts_equal(generator.state_dict(), raw["generator"])
    assert filecmp_equal(out / "checkpoints" / "last.pt", out / "checkpoints" / "epoch_002.pt")
    assert not state_dicts_equal(
        raw["generator"], torch.load(out / "checkpoints" / "epoch_001.pt", weights_only=True)["generator"]
    )

    # Rerunning the finished run resumes, finds nothing to do and leaves the files alone.
    before = (out / "checkpoints" / "last.pt").stat().st_mtime_ns
    assert cli(args) == 0
    assert (out / "checkpoints" / "last.pt").stat().st_mtime_ns == before
    assert cli([*args, "--no-resume"]) == 1  # refuses to start over in a folder that holds a run


def filecmp_equal(a: Path, b: Path) -> bool:
    return a.read_bytes() == b.read_bytes()


def test_resume_after_interruption_equals_uninterrupted_run(stage01, tmp_path, monkeypatch) -> None:
    config = replace(TINY, epochs=3)
    straight = train(stage01, tmp_path / "straight", config, progress=False)

    # 1) a run asked for 1 epoch, then continued to 3 (the second call interrupted in the middle of epoch 3)
    resumed_dir = tmp_path / "resumed"
    train(stage01, resumed_dir, replace(config, epochs=1), progress=False)
    real_step, calls = training.train_step, {"n": 0}

    def interrupted_step(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == config.max_steps_per_epoch + 2:  # second step of epoch 3 (epoch 2 ran first)
            raise KeyboardInterrupt
        return real_step(*args, **kwargs)

    monkeypatch.setattr(training, "train_step", interrupted_step)
    with pytest.raises(KeyboardInterrupt):
        train(stage01, resumed_dir, config, progress=False)
    assert load_training_state(resumed_dir / "checkpoints" / "last.pt").epoch == 2
    monkeypatch.setattr(training, "train_step", real_step)
    resumed = train(stage01, resumed_dir, config, progress=False)
    assert resumed.resumed_from_epoch == 2 and resumed.epochs_completed == 3 and resumed.steps_completed == 9

    a = load_training_state(straight.last_checkpoint)
    b = load_training_state(resumed.last_checkpoint)
    assert a.epoch == b.epoch == 3 and a.step == b.step == 9
    assert state_dicts_equal(a.generator, b.generator) and state_dicts_equal(a.discriminator, b.discriminator)
    assert optimizer_states_equal(a.optimizer_generator, b.optimizer_generator)
    assert optimizer_states_equal(a.optimizer_discriminator, b.optimizer_discriminator)
    columns = ["epoch", "step", "loss_g", "loss_gan", "loss_pixel", "loss_d"]
    pd.testing.assert_frame_equal(straight.log[columns], pd.read_csv(resumed_dir / "log.csv")[columns], check_dtype=False)

    # Another seed gives other weights (the comparison above can fail).
    other = train(stage01, tmp_path / "other", replace(config, epochs=1, seed=1), progress=False)
    first_a = load_training_state(tmp_path / "straight" / "checkpoints" / "epoch_001.pt")
    assert not state_dicts_equal(first_a.generator, load_training_state(other.last_checkpoint).generator)


def test_each_epoch_sees_another_order(stage01, tmp_path, monkeypatch) -> None:
    first_batches = []
    real_step = training.train_step

    def recording_step(*args, **kwargs):
        first_batches.append(args[5].clone())  # the real faces of the step
        return real_step(*args, **kwargs)

    monkeypatch.setattr(training, "train_step", recording_step)
    train(stage01, tmp_path / "run", replace(TINY, epochs=3, max_steps_per_epoch=1, sample_faces=0), progress=False)
    assert len(first_batches) == 3
    assert not any(torch.equal(first_batches[i], first_batches[j]) for i, j in ((0, 1), (0, 2), (1, 2)))
    assert not (tmp_path / "run" / "samples").exists()


def test_resume_with_another_config_is_refused(stage01, tmp_path) -> None:
    out = tmp_path / "run"
    train(stage01, out, replace(TINY, epochs=1), progress=False)
    with pytest.raises(ValueError, match=r"differs in: config\.lr: 0\.0002 -> 0\.001\)"):  # only lr, with both values
        train(stage01, out, replace(TINY, epochs=2, lr=1e-3), progress=False)
    with pytest.raises(ValueError, match="base_channels"):
        train(stage01, out, replace(TINY, epochs=2, base_channels=8), progress=False)
    with pytest.raises(FileExistsError):
        train(stage01, out, replace(TINY, epochs=2), resume=False, progress=False)
    # Run length and worker count may change.
    result = train(stage01, out, replace(TINY, epochs=2, num_workers=1), progress=False)
    assert result.epochs_completed == 2 and result.log["epoch"].tolist() == [1, 2]


def test_training_reduces_the_pixel_loss(stage01, tmp_path) -> None:
    config = replace(TINY, epochs=20, base_channels=8, max_steps_per_epoch=1, sample_every_epoch=False, checkpoint_every=100)
    result = train(stage01, tmp_path / "run", config, progress=False)
    assert result.log["loss_pixel"].iloc[-3:].mean() < 0.8 * result.log["loss_pixel"].iloc[:3].mean()
    assert sorted(p.name for p in (tmp_path / "run" / "checkpoints").iterdir()) == ["epoch_020.pt", "last.pt"]
    assert [p.name for p in (tmp_path / "run" / "samples").iterdir()] == ["epoch_020.png"]


def test_sample_grid_layout() -> None:
    landmarks = -torch.ones(2, 3, 8, 8)
    landmarks[0, :, 4, 4] = 1
    real, fake = torch.zeros(2, 3, 8, 8), torch.ones(2, 3, 8, 8)
    grid = sample_grid(landmarks, real, fake)
    assert grid.shape == (16, 24, 3) and grid.dtype == np.uint8
    assert (grid[3:6, 3:6] == 255).all() and grid[0, 0, 0] == 0 and grid[8 + 4, 4, 0] == 0  # dilated point, row 2 empty
    assert (grid[:, 8:16] == 128).all() and (grid[:, 16:] == 255).all()


def test_config_validation_and_round_trip() -> None:
    with pytest.raises(ValueError, match="multiple of"):
        TrainConfig(image_size=100)
    with pytest.raises(ValueError, match="multiple of"):
        TrainConfig(image_size=128)  # the paper's generator needs 256
    assert TrainConfig(image_size=128, num_downs=7).image_size == 128
    config = replace(TINY, betas=[0.4, 0.9])
    assert config.betas == (0.4, 0.9)
    assert TrainConfig.from_dict(json.loads(json.dumps(config.to_dict()))) == config
    with pytest.raises(ValueError, match="unknown"):
        TrainConfig.from_dict({"epoch": 3})
    defaults = TrainConfig()
    assert (defaults.image_size, defaults.batch_size, defaults.epochs, defaults.lr, defaults.betas, defaults.lambda_pixel) == (
        512,
        32,
        25,
        2e-4,
        (0.5, 0.999),
        100,
    )


# ---------------------------------------------------------------------------------------------------
# Notebook 02
# ---------------------------------------------------------------------------------------------------


@pytest.mark.slow
def test_notebook_02_runs_on_the_demo_parameters(stage01, tmp_path) -> None:
    import nbformat

    from tests.conftest import execute_notebook

    notebook = REPO_ROOT / "notebooks" / "02_train_pix2pix.ipynb"
    results, models = tmp_path / "results", tmp_path / "models"
    parameters = {"preprocess_dir": str(stage01), "output_dir": str(models), "results_dir": str(results)}
    execute_notebook(notebook.stem, tmp_path / "02.ipynb", parameters)  # the rendered report is checked too
    assert "epochs" in json.loads((results / "summary.json").read_text())["headline"]
    executed = nbformat.read(str(tmp_path / "02.ipynb"), as_version=4)
    parameters = next(c for c in executed.cells if "parameters" in c.metadata.get("tags", []))
    assert "profile_name" in parameters.source and "max_steps_per_epoch" in parameters.source
    log = pd.read_csv(models / "log.csv")
    epochs = int(log["epoch"].max())
    assert (models / "checkpoints" / "last.pt").is_file() and (models / "samples" / f"epoch_{epochs:03d}.png").is_file()
    for name in ("loss_curves.png", "loss_curves.pdf", "samples_last_epoch.png"):
        assert (results / "figures" / name).is_file(), name
    table = pd.read_csv(results / "tables" / "training_log.csv")
    assert table["epoch"].tolist() == log["epoch"].tolist()
    text = "\n".join(
        str(o.get("text", "")) + str(o.get("data", {}).get("text/markdown", ""))
        for c in executed.cells
        for o in c.get("outputs", [])
    )
    assert "**Profile:** `demo`" in text


# ---------------------------------------------------------------------------------------------------
# Several processes (DistributedDataParallel under torchrun; Gloo on the CPU)
# ---------------------------------------------------------------------------------------------------

DDP_STEPS_SCRIPT = """\
import sys
import torch
import torch.distributed as dist
from ganon_utils.pix2pix.networks import Discriminator, GeneratorUNet
from ganon_utils.pix2pix.training import distributed_run_from_env, start_process_group, wrap_for_training
from ganon_utils.pix2pix.training_step import Pix2PixOptimizers, train_step

run = distributed_run_from_env()
start_process_group(run, torch.device("cpu"))
torch.manual_seed(0)
generator, discriminator = GeneratorUNet(num_downs=5, base_channels=4), Discriminator(base_channels=4)
optimizers = Pix2PixOptimizers.create(generator, discriminator)
train_g, train_d = wrap_for_training(generator, discriminator, run, torch.device("cpu"), False)
torch.manual_seed(100 + run.rank)  # every process gets other data and other dropout masks
for _ in range(3):
    landmarks, real = torch.rand(2, 3, 32, 32) * 2 - 1, torch.rand(2, 3, 32, 32) * 2 - 1
    train_step(train_g, train_d, optimizers.generator, optimizers.discriminator, landmarks, real)
for name, module in (("generator", generator), ("discriminator", discriminator)):
    flat = torch.cat([p.detach().flatten() for p in module.parameters()])
    gathered = [torch.zeros_like(flat) for _ in range(run.world_size)]
    dist.all_gather(gathered, flat)
    print(f"rank {run.rank} {name} equal_across_ranks={all(torch.equal(g, flat) for g in gathered)}")
dist.destroy_process_group()
"""


def torchrun(args: list[str], cwd: Path) -> subprocess.CompletedProcess:
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2", *args]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1"}
    return subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, timeout=300)


@pytest.mark.slow
def test_ddp_keeps_processes_in_step(tmp_path) -> None:
    script = tmp_path / "ddp_steps.py"
    script.write_text(DDP_STEPS_SCRIPT)
    done = torchrun([str(script)], REPO_ROOT)
    assert done.returncode == 0, done.stderr[-3000:]
    for rank in (0, 1):
        for name in ("generator", "discriminator"):
            assert f"rank {rank} {name} equal_across_ranks=True" in done.stdout, done.stdout


@pytest.mark.slow
def test_train_under_torchrun_writes_one_run(stage01, tmp_path) -> None:
    out = tmp_path / "ddp"
    args = ["-m", "ganon_utils", "train", str(stage01), str(out), "--epochs", "2", "--batch-size", "4",
            "--image-size", "32", "--num-downs", "5", "--base-channels", "4", "--workers", "0", "--device", "cpu",
            "--sample-faces", "2", "--no-progress"]  # fmt: skip
    done = torchrun(args, REPO_ROOT)
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.count("trained 2 epochs") == 1  # only rank 0 reports
    faces = len(FaceLandmarkDataset(stage01))
    steps = math.ceil(math.ceil(faces / 2) / 2)  # each of 2 processes: half the faces (padded), batches of 4 / 2
    log = pd.read_csv(out / "log.csv")
    assert log["epoch"].tolist() == [1, 2] and log["step"].tolist() == [steps, 2 * steps]
    assert json.loads((out / "config.json").read_text())["world_size"] == 2
    assert sorted(p.name for p in (out / "checkpoints").iterdir()) == ["epoch_001.pt", "epoch_002.pt", "last.pt"]
    assert not [p for p in out.rglob(".*") if p.is_file()]  # no temporary files left by competing writers
    generator = load_generator(out / "checkpoints" / "last.pt")
    assert not any(key.startswith(("module.", "_orig_mod.")) for key in generator.state_dict())
    assert load_image(out / "samples" / "epoch_002.png").rgb.shape == (2 * 32, 3 * 32, 3)


def test_the_authors_training_data_several_splits_and_faces_without_landmarks(split_stage01, tmp_path) -> None:
    """train_split "train+val" reads both splits; faces_without_landmarks adds the faces without landmarks, each
    paired with NaN coordinates, which both landmark styles draw as an all-black image (the authors' pairs)."""
    faces = pd.read_csv(split_stage01 / "faces.csv")
    both = FaceLandmarkDataset(split_stage01, split="train+val", image_size=32)
    assert both.face_ids == faces.loc[faces["status"] == "ok", "face_id"].tolist()
    with_empty = FaceLandmarkDataset(split_stage01, split="train+val", image_size=32, without_landmarks=True)
    missing = faces.loc[faces["status"] == "no_landmarks", "face_id"].tolist()
    assert len(missing) == 1 and set(with_empty.face_ids) == set(both.face_ids) | set(missing)
    index = with_empty.face_ids.index(missing[0])
    face, coords = with_empty[index]
    assert torch.isnan(coords).all() and face.abs().sum() > 0  # the real face, paired with no landmarks
    assert not np.isnan(with_empty.coords[[i for i in range(len(with_empty)) if i != index]]).any()
    for style in ("mediapipe", "pixel"):
        image = render_landmarks_torch(coords[None], 32, style=style, crop_size=64)
        assert torch.equal(image, torch.full_like(image, -1.0))  # black, normalised
    with pytest.raises(ValueError, match="joined by"):
        FaceLandmarkDataset(split_stage01, split="train+", image_size=32)

    run = train(
        split_stage01,
        tmp_path / "run",
        replace(TINY, epochs=1, train_split="train+val", faces_without_landmarks=True),
        progress=False,
    )
    record = json.loads((tmp_path / "run" / "config.json").read_text())
    assert record["data"]["train_faces"] == len(with_empty) and record["config"]["faces_without_landmarks"] is True
    assert run.epochs_completed == 1
    train(split_stage01, tmp_path / "plain", replace(TINY, epochs=1), progress=False)
    assert "faces_without_landmarks" not in (tmp_path / "plain" / "config.json").read_text()  # as runs from before
