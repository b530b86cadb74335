"""The application's validation layer (``latentgraph.app.validation``) and the command line's
error handling: every rule on hand-made inputs, and through ``main`` the exit code, the one
line, and an ``--out`` left absent or unchanged. Every error comes before any fit."""

from __future__ import annotations

import dataclasses
import errno
import subprocess
import sys
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from latentgraph.app import registry, validation
from latentgraph.app.cli import BUG_LINE, main
from latentgraph.errors import RunFolderError, UserInputError

MS = [
    "fit", "mechanism-sparsity", "--dataset", "action_sparsity_non_trivial", "--n-samples", "2000",
    "--sizes", "small", "--batch-size", "64", "--steps", "3", "--no-progress",
]  # fmt: skip
IA = [
    "fit", "interaction-asymmetry", "--image-size", "32", "--n-images", "200", "--batch-size", "8",
    "--steps", "2", "--no-progress",
]  # fmt: skip
CM = ["fit", "context-module", "--dataset", "digits", "--steps", "2", "--batch-size", "8",
      "--no-progress"]  # fmt: skip
FAMILIES = {"ms-pyro": MS, "ms-numpyro": [*MS, "--backend", "numpyro"], "ia": IA, "cm": CM}


def _exit_2(capsys, argv: list[str]) -> str:
    """Run ``argv``; assert exit code 2 and one error line, and return it."""
    assert main(argv) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1, lines
    assert lines[0].startswith("latentgraph: error: ")
    return lines[0]


# ---------------------------------------------------------------------------- seeds
def test_both_backends_keep_32_bits_of_a_seed():
    """Why the limit is 2**32 - 1: a larger seed repeats a smaller seed's draws."""
    import jax

    draws = [torch.rand(3, generator=torch.Generator().manual_seed(s)) for s in (0, 2**32, 2**63)]
    assert torch.equal(draws[0], draws[1]) and torch.equal(draws[0], draws[2])
    assert not torch.equal(draws[0], torch.rand(3, generator=torch.Generator().manual_seed(1)))
    keys = [jax.random.key_data(jax.random.key(s)) for s in (0, 2**32, 5, 2**32 + 5)]
    assert np.array_equal(keys[0], keys[1]) and np.array_equal(keys[2], keys[3])
    assert not np.array_equal(keys[0], keys[2])


@pytest.mark.parametrize("backend", ["pyro", "numpyro"])
def test_check_seed_accepts_the_range_and_refuses_what_would_alias(backend):
    assert validation.check_seed(0, backend) == 0
    assert validation.check_seed(2**32 - 1, backend) == 2**32 - 1
    for bad in (2**32, 2**63, 2**64, -1):
        with pytest.raises(UserInputError, match=r"--seed must be in \[0, 4294967295\]"):
            validation.check_seed(bad, backend)
    for bad in (True, 1.0, "3"):
        with pytest.raises(UserInputError, match="--seed must be an integer"):
            validation.check_seed(bad, backend)


def test_check_seed_count_caps_the_seeds():
    assert validation.check_seed_count(3, minimum=2, maximum=10) == 3
    with pytest.raises(UserInputError, match=r"--seeds must be an integer in \[2, 10\] \(why\)"):
        validation.check_seed_count(10**9, minimum=2, maximum=10, why="why")
    with pytest.raises(UserInputError, match=r"\[2, 10\]"):
        validation.check_seed_count(1, minimum=2, maximum=10)


def test_sweep_seeds_a_billion_is_refused_before_any_plan():
    from latentgraph.app.sweeps import SWEEP_SEEDS_MAX, check_seeds

    assert check_seeds(3, minimum=2) == [0, 1, 2]
    with pytest.raises(UserInputError, match=str(SWEEP_SEEDS_MAX)):
        check_seeds(1_000_000_000, minimum=2)


# ---------------------------------------------------------------------------- numbers
def test_check_real_refuses_non_finite_and_float32_overflowing_values():
    assert validation.check_real(1e30, "--penalty") == 1e30
    assert validation.check_real(None, "--sigma", allow_none=True) is None
    with pytest.raises(UserInputError, match=r"--penalty must be at most 1e\+30.*got 1e\+308"):
        validation.check_real(1e308, "--penalty")
    with pytest.raises(UserInputError, match="--lr must be a finite number"):
        validation.check_real(float("nan"), "--lr")
    with pytest.raises(UserInputError, match="--lr must be > 0"):
        validation.check_real(0.0, "--lr", positive=True)
    with pytest.raises(UserInputError, match="--alpha must be >= 0"):
        validation.check_real(-1.0, "--alpha", minimum=0)


def test_check_count_bounds():
    assert validation.check_count(2**31 - 1, "--steps") == 2**31 - 1
    assert validation.check_count(0, "--eval-every", minimum=0) == 0
    for bad in (0, 2**31, True, 2.0):
        with pytest.raises(
            UserInputError, match=r"--steps must be an integer in \[1, 2147483647\]"
        ):
            validation.check_count(bad, "--steps")


# ---------------------------------------------------------------------------- memory
def test_available_memory_reads_this_machine():
    available = validation.available_memory()
    assert available is None or available > 0
    if sys.platform.startswith("linux"):
        with open("/proc/meminfo") as handle:
            meminfo = dict(line.split(":", 1) for line in handle)
        reported = int(meminfo["MemAvailable"].split()[0]) * 1024
        assert available <= reported  # a cgroup limit can only lower it


def test_check_memory_names_both_numbers(monkeypatch):
    validation.check_memory(10, what="x", option="--n", available=100)
    with pytest.raises(UserInputError) as info:
        validation.check_memory(
            2.5e12, what="the data", option="--n-samples 5", hint="lower it", available=4e9
        )
    assert str(info.value) == (
        "--n-samples 5 needs about 2.5 TB of memory for the data, but 4.0 GB are available "
        "on this machine; lower it"
    )
    monkeypatch.setattr(validation, "available_memory", lambda: None)
    validation.check_memory(1e30, what="x", option="--n")  # unknown memory: nothing refused


def test_check_disk_uses_the_nearest_existing_folder(tmp_path):
    validation.check_disk(1, tmp_path / "not" / "yet", what="x", option="--data-dir")
    with pytest.raises(UserInputError, match="of disk for x, but .* are free under"):
        validation.check_disk(1e30, tmp_path / "not" / "yet", what="x", option="--data-dir")


@pytest.mark.parametrize(
    ("argv", "needle"),
    [
        (["fit", "mechanism-sparsity", "--dataset", "action_sparsity_non_trivial",
          "--n-samples", str(10**12), "--steps", "3"], "TB of memory for the generated data"),
        (["fit", "interaction-asymmetry", "--image-size", "32", "--n-images", str(2**31 - 1),
          "--steps", "2"], "of memory for the sprites"),
        (["fit", "context-module", "--dataset", "quad", "--n-train", str(10**9), "--steps", "2"],
         "of memory for"),
    ],
)  # fmt: skip
def test_generated_data_that_cannot_fit_is_refused_before_any_work(tmp_path, capsys, argv, needle):
    out = tmp_path / "run"
    line = _exit_2(capsys, [*argv, "--no-progress", "--out", str(out)])
    assert needle in line and "available on this machine" in line
    assert not out.exists()


# ---------------------------------------------------------------------------- devices
def test_check_device_names_the_devices_present():
    assert validation.check_device("cpu", "pyro") == "cpu"
    assert validation.check_device("cpu", "numpyro") == "cpu"
    expected = "cuda:0" if torch.cuda.is_available() else "cpu"
    assert validation.check_device("auto", "pyro") == expected
    present = ", ".join(validation._torch_present())
    for bad in ("tpu", "cuda:x", "meta", ""):
        with pytest.raises(UserInputError, match=f"devices present here \\(PyTorch\\): {present}"):
            validation.check_device(bad, "pyro")
    absent = [n for n in ("mps", "xpu") if not any(p.startswith(n) for p in present.split(", "))]
    for name in [*absent, "cuda:7"]:
        with pytest.raises(UserInputError, match=f"--device '{name}' cannot be used here"):
            validation.check_device(name, "pyro")
    with pytest.raises(UserInputError, match=r"one of cpu, cuda\[:N\], gpu\[:N\], got 'mps'"):
        validation.check_device("mps", "numpyro")


def test_a_numpyro_device_check_imports_no_torch():
    code = (
        "import sys\n"
        "from latentgraph.app.validation import check_device\n"
        "assert check_device('cpu', 'numpyro') == 'cpu'\n"
        "assert 'torch' not in sys.modules, 'torch was imported'\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-2000:]


# ---------------------------------------------------------------------------- the CLI
@pytest.mark.parametrize("family", sorted(FAMILIES))
@pytest.mark.parametrize(
    ("extra", "needle"),
    [
        (["--seed", str(2**64)], "--seed must be in [0, 4294967295]"),
        (["--seed", str(2**63)], "--seed must be in [0, 4294967295]"),
        (["--device", "mps"], "devices present here"),
        (["--device", "xpu"], "devices present here"),
        (["--device", "cuda:7"], "devices present here"),
        (["--lr", "1e308"], "--lr must be at most 1e+30"),
    ],
)
def test_bad_settings_leave_no_run_folder(tmp_path, capsys, family, extra, needle):
    out = tmp_path / "run"
    assert needle in _exit_2(capsys, [*FAMILIES[family], *extra, "--out", str(out)])
    assert not out.exists()


def test_bad_settings_leave_an_existing_folder_unchanged(tmp_path, capsys):
    out = tmp_path / "run"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    _exit_2(capsys, [*MS, "--seed", str(2**64), "--overwrite", "--out", str(out)])
    assert [p.name for p in out.iterdir()] == ["notes.txt"]
    assert (out / "notes.txt").read_text() == "mine"


@pytest.mark.parametrize(
    ("extra", "needle"),
    [
        (["--sparsity", "penalty", "--penalty", "1e308"], "--penalty must be at most 1e+30"),
        (["--bound", "1e31"], "--bound must be at most 1e+30"),
        (["--steps", str(2**31)], "--steps must be an integer in [1, 2147483647]"),
        (["--n-samples", "0"], "n_samples"),
    ],
)
def test_mechanism_sparsity_numbers_at_the_edges(tmp_path, capsys, extra, needle):
    out = tmp_path / "run"
    assert needle in _exit_2(capsys, [*MS, *extra, "--out", str(out)])
    assert not out.exists()


def test_objects_beyond_the_model_slots_are_refused(tmp_path, capsys):
    out = tmp_path / "run"
    line = _exit_2(capsys, [*IA, "--objects", "1-100", "--out", str(out)])
    assert "--objects must be at most 4 objects per image" in line and "5 slots" in line
    assert not out.exists()


def test_a_data_file_without_its_splits_is_refused_before_the_folder(tmp_path, capsys):
    from latentgraph.data import Dataset, make_mechanism_dataset

    full = make_mechanism_dataset("action_sparsity_non_trivial", n_samples=500)
    train_only = Dataset(
        name="train_only",
        splits={"train": full.split("train")},
        graphs=full.graphs,
        info=full.info,
    )
    path = tmp_path / "train_only.npz"
    train_only.save(path)
    out = tmp_path / "run"
    argv = ["fit", "mechanism-sparsity", "--data", str(path), "--steps", "3", "--batch-size", "64"]
    line = _exit_2(capsys, [*argv, "--out", str(out)])
    assert "--data must hold the splits train, valid, test; it has train" in line
    assert not out.exists()


@pytest.mark.slow  # one tiny fit: about 10 s on an idle 2-core machine, a minute when busy
def test_the_corrected_command_runs_after_a_refused_one(tmp_path, capsys):
    out = tmp_path / "run"
    _exit_2(capsys, [*MS, "--seed", str(2**64), "--device", "cpu", "--out", str(out)])
    assert main([*MS, "--seed", "1", "--device", "cpu", "--out", str(out)]) == 0
    assert (out / "metrics.json").is_file()


@pytest.mark.parametrize(
    "argv",
    [
        ["sweep", "mechanism-sparsity", "--dataset", "action_sparsity_non_trivial",
         "--bounds", "10,20", "--backend", "pyro", "--device", "mps"],
        ["sweep", "interaction-asymmetry", "--device", "mps"],
    ],
)  # fmt: skip
def test_a_sweep_refuses_an_unusable_device_before_any_folder(tmp_path, capsys, argv):
    out = tmp_path / "sweep"
    line = _exit_2(capsys, [*argv, "--steps", "2", "--no-progress", "--out", str(out)])
    assert "--device 'mps' cannot be used here" in line and "devices present here" in line
    assert not out.exists()


# ---------------------------------------------------------------------------- catch-all
def _family_raising(monkeypatch, error: BaseException) -> None:
    family = registry.families()["mechanism-sparsity"]

    def run(args):
        raise error

    monkeypatch.setitem(registry._FAMILIES, family.name, dataclasses.replace(family, run=run))


def _run_raising(monkeypatch, capsys, tmp_path, error) -> tuple[int, list[str]]:
    _family_raising(monkeypatch, error)
    code = main([*MS, "--out", str(tmp_path / "run")])
    return code, capsys.readouterr().err.strip().splitlines()


def test_a_plain_value_error_is_a_bug_not_bad_input(monkeypatch, capsys, tmp_path):
    code, lines = _run_raising(monkeypatch, capsys, tmp_path, ValueError("deep in a library"))
    assert code == 1
    assert lines[0].startswith("Traceback") and "ValueError: deep in a library" in lines
    assert lines[-1] == BUG_LINE


def test_a_type_error_is_a_bug(monkeypatch, capsys, tmp_path):
    code, lines = _run_raising(monkeypatch, capsys, tmp_path, TypeError("oops"))
    assert code == 1 and lines[-1] == BUG_LINE


def test_user_input_error_is_one_line_exit_2(monkeypatch, capsys, tmp_path):
    code, lines = _run_raising(monkeypatch, capsys, tmp_path, RunFolderError("bad\nfolder x"))
    assert code == 2 and lines == ["latentgraph: error: bad folder x"]


def test_a_full_disk_is_one_line_exit_1(monkeypatch, capsys, tmp_path):
    error = OSError(errno.ENOSPC, "No space left on device", "run/checkpoint.pt")
    code, lines = _run_raising(monkeypatch, capsys, tmp_path, error)
    assert code == 1
    assert lines == [
        "latentgraph: cannot write: [Errno 28] No space left on device: 'run/checkpoint.pt'"
    ]


def test_out_of_memory_is_one_line_exit_1(monkeypatch, capsys, tmp_path):
    error = MemoryError("Unable to allocate 58.2 TiB")
    code, lines = _run_raising(monkeypatch, capsys, tmp_path, error)
    assert code == 1 and lines == ["latentgraph: out of memory: Unable to allocate 58.2 TiB"]


def test_divergence_stays_exit_1(monkeypatch, capsys, tmp_path):
    from latentgraph.inference.settings import NonFiniteLossError

    code, lines = _run_raising(monkeypatch, capsys, tmp_path, NonFiniteLossError("loss is nan"))
    assert code == 1 and lines == ["latentgraph: training failed: loss is nan"]


def test_user_input_converts_only_input_errors():
    with pytest.raises(UserInputError, match="bad value") as info:
        with validation.user_input():
            raise ValueError("bad value")
    assert isinstance(info.value.__cause__, ValueError)
    with pytest.raises(UserInputError, match="cannot read '/x/y': No such file"):
        with validation.user_input():
            raise FileNotFoundError(errno.ENOENT, "No such file or directory", "/x/y")
    for error in (TypeError("t"), OSError(errno.ENOSPC, "full"), KeyError("k")):
        with pytest.raises(type(error)):
            with validation.user_input():
                raise error


# ---------------------------------------------------------------------------- evaluate
def test_mechanism_sparsity_evaluate_refuses_data_of_another_shape():
    from latentgraph.data import make_mechanism_dataset
    from latentgraph.families.mechanism_sparsity import model_config_for
    from latentgraph.families.mechanism_sparsity.config import demo_sizes
    from latentgraph.families.mechanism_sparsity.evaluate import check_same_shape, evaluate

    action = make_mechanism_dataset("action_sparsity_non_trivial", n_samples=200)
    temporal = make_mechanism_dataset("temporal_sparsity_non_trivial", n_samples=200)
    fitted = SimpleNamespace(vae=SimpleNamespace(config=model_config_for(action, demo_sizes())))
    check_same_shape(fitted, action)
    with pytest.raises(ValueError, match="n_obs/n_steps/n_actions") as info:
        evaluate(fitted, temporal)  # before any encoding: the stub has no encode
    assert f"{action.n_obs}/{action.n_steps}/{action.n_actions}" in str(info.value)
    assert f"{temporal.n_obs}/{temporal.n_steps}/{temporal.n_actions}" in str(info.value)


def test_context_module_evaluate_refuses_images_of_another_shape():
    from latentgraph.families.context_module.evaluate import ContextImages, _check_contexts

    config = SimpleNamespace(backbone=SimpleNamespace(image_size=32, channels=3), n_concepts=6)
    good = ContextImages("obs", (), np.zeros((4, 32, 32, 3), np.uint8))
    _check_contexts(config, [good])
    with pytest.raises(ValueError, match=r"\(n, 32, 32, 3\) for this model, got \(4, 64, 64, 3\)"):
        _check_contexts(config, [ContextImages("obs", (), np.zeros((4, 64, 64, 3), np.uint8))])
    with pytest.raises(ValueError, match=r"concept indices in \[0, 6\), got \[7\]"):
        _check_contexts(config, [ContextImages("quad7", (7,), good.images)])
