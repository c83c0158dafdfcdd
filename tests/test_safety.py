"""No file is ever executed: checkpoints are read weights-only (even when the environment asks
torch to unpickle everything) and arrays without pickle. Each entry point that reads a file
gets a trojan (a working checkpoint, an array or an archive whose pickle runs a command) and
must refuse it in one line, exit code 2, without running the command."""

from __future__ import annotations

import functools
import sys

import numpy as np
import pytest
import torch

from helpers import OFFICIAL_OVERRIDES, run_main
from predrnn.training.signals import Stopped

TROJANS = [
    (("predrnn-train", "experiment=smoke", "ckpt_path=trojan.ckpt"), "trojan.ckpt holds a Python object (posix.system"),
    (("predrnn-eval", "ckpt_path=trojan.ckpt"), "trojan.ckpt holds a Python object (posix.system"),
    (("predrnn-predict", "ckpt_path=trojan.ckpt", "input=clip.npy"), "trojan.ckpt holds a Python object"),
    (("predrnn-predict", "ckpt_path=model.ckpt", "input=trojan.npy"), "trojan.npy holds Python objects"),
    (("predrnn-train", "experiment=smoke", "data.test_file=trojan.npy"), "trojan.npy holds Python objects"),
    (("predrnn-eval", "ckpt_path=model.ckpt", "data.test_file=trojan.npy"), "trojan.npy holds Python objects"),
    (("predrnn-train", "experiment=smoke", "data.digits=trojan.npz"), "trojan.npz is not a readable .npz"),
    (
        ("predrnn-train", "experiment=smoke", "ckpt_path=trojan_official.ckpt", *OFFICIAL_OVERRIDES["predrnn_ln0"]),
        "trojan_official.ckpt holds a Python object (posix.system",
    ),  # fine-tuning
    (
        ("predrnn-convert", "ckpt_path=trojan_official.ckpt", "output=n.ckpt", *OFFICIAL_OVERRIDES["predrnn_ln0"]),
        "trojan_official.ckpt holds a Python object",
    ),
    (("predrnn-export", "ckpt_path=trojan.ckpt", "output=m.onnx"), "trojan.ckpt holds a Python object"),
    (
        (
            "predrnn-export",
            "ckpt_path=trojan_official.ckpt",
            "output=m.pt",
            "format=torchscript",
            *OFFICIAL_OVERRIDES["predrnn_ln0"],
        ),
        "trojan_official.ckpt holds a Python object",
    ),
]


def test_the_trojans_are_real(workdir):
    """Loaded the unsafe way, each file runs its command (so the tests below can fail)."""
    marker = workdir / "PWNED"
    for load in (
        lambda: torch.load(workdir / "trojan.ckpt", weights_only=False),
        lambda: np.load(workdir / "trojan.npy", allow_pickle=True),
        lambda: np.load(workdir / "trojan.npz", allow_pickle=True)["x_train"],
    ):
        load()
        assert marker.exists()
        marker.unlink()


@pytest.mark.parametrize("argv, message", TROJANS, ids=[" ".join(a[1:]) for a, _ in TROJANS])
def test_trojan_never_runs(argv, message, workdir, monkeypatch, capsys):
    monkeypatch.setenv("TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD", "1")  # torch's default would unpickle anything
    code, err = run_main(argv, workdir, monkeypatch, capsys)
    assert not (workdir / "PWNED").exists(), "the payload ran"
    assert code == 2 and len(err) == 1 and message in err[0], err


# --- read only what was named, refuse weights that are not finite, exports that refuse misuse,
# outputs written together ------------------------------------------------------------------------

PREDICT = ("predrnn-predict", "ckpt_path=model.ckpt")
ARRAYS = ("predrnn-train", "trainer=cpu", "logger=csv", "model.hidden_channels=[8]", "data=arrays", "data.layout=NTHW",
          "data.input_length=4", "data.total_length=8", "data.batch_size=2")  # fmt: skip


@pytest.fixture(scope="module")
def hostile(workdir):
    """Files that point elsewhere, and checkpoints whose weights or normalisation are unusable."""
    import h5py

    secret = workdir / "secret.bin"
    (np.random.default_rng(2).random((4, 12, 16, 16)) * 255).astype(np.uint8).tofile(secret)
    size = secret.stat().st_size
    with h5py.File(workdir / "external.h5", "w") as f:
        f.create_dataset("frames", shape=(4, 12, 16, 16), dtype="u1", external=[(str(secret), 0, size)])
    with h5py.File(workdir / "source.h5", "w") as f:
        f["frames"] = np.zeros((4, 12, 16, 16), np.uint8)
    layout = h5py.VirtualLayout(shape=(4, 12, 16, 16), dtype="u1")
    layout[:] = h5py.VirtualSource(str(workdir / "source.h5"), "frames", shape=(4, 12, 16, 16))
    with h5py.File(workdir / "virtual.h5", "w") as f:
        f.create_virtual_dataset("frames", layout)
    with h5py.File(workdir / "external_actions.h5", "w") as f:
        f["frames"] = np.zeros((4, 12, 16, 16), np.uint8)
        f.create_dataset("actions", shape=(4, 12, 4), dtype="u1", external=[(str(secret), 0, 4 * 12 * 4)])
    import zarr

    store = workdir / "linked.zarr"
    array = zarr.open(str(store), mode="w", shape=(4, 12, 16, 16), chunks=(1, 12, 16, 16), dtype="u1")
    array[:] = 1
    chunk = next(p for p in sorted(store.rglob("*")) if p.is_file() and p.name.isdigit())
    (workdir / "outside_chunk").write_bytes(chunk.read_bytes())
    chunk.unlink()
    chunk.symlink_to(workdir / "outside_chunk")
    state = torch.load(workdir / "model.ckpt", weights_only=True)
    for name, change in {
        "scale0": {"scale": [0.0]},
        "shift_inf": {"shift": [float("inf")]},
        "range_empty": {"low": [0.5], "high": [0.5]},
    }.items():
        hp = dict(state["hyper_parameters"])
        hp["normalization"] = {**hp["normalization"], **change}
        torch.save({**state, "hyper_parameters": hp}, workdir / f"{name}.ckpt")
    weights = dict(state["state_dict"])
    first = next(k for k, v in weights.items() if v.is_floating_point())
    for name, value in (("nan_weights", float("nan")), ("inf_weights", float("inf"))):
        bad = {**weights, first: torch.full_like(weights[first], value)}
        torch.save({**state, "state_dict": bad}, workdir / f"{name}.ckpt")
    _float_model(workdir)
    return workdir


DBZ = ("trainer=cpu", "logger=csv", "model.hidden_channels=[4]", "model.patch_size=2", "data=arrays", "data.key=x",
       "data.layout=NTHW", "data.input_length=4", "data.total_length=8", "data.batch_size=2")  # fmt: skip


def _float_model(folder):
    """A model trained on float "dBZ" in [0, 70] (`dbz.ckpt`, resumable), and data that does not
    belong to it: other units, a uint8 copy, values beyond float32, another normalisation."""
    import h5py

    from helpers import compose
    from predrnn.training.run import train

    dbz = (np.random.default_rng(3).random((6, 12, 16, 16)) * 70).astype(np.float32)
    over = dbz.astype(np.float64)
    over[:, [2, 11], 3, 4] = 1e39  # in every clip, among the frames predict observes too
    under = -over
    arrays = {"dbz": dbz, "kelvin": dbz + 200, "dbz_u8": dbz.astype(np.uint8), "over": over, "under": under,
              "dbz_more": dbz * 1.3, "negative": dbz - 300}  # fmt: skip
    for name, frames in arrays.items():
        with h5py.File(folder / f"{name}.h5", "w") as f:
            f["x"] = frames
        np.save(folder / f"{name}.npy", frames[:2])
    cfg = compose("train", folder / "trained_dbz", [*DBZ, f"data.path={folder / 'dbz.h5'}", "trainer.max_steps=2", "test=false",
                                                    "callbacks.media=null"])  # fmt: skip
    train(cfg)
    (folder / "trained_dbz" / "run" / "checkpoints" / "last.ckpt").rename(folder / "dbz.ckpt")


EVAL_DBZ = (
    "predrnn-eval",
    "ckpt_path=dbz.ckpt",
    "data=arrays",
    "data.key=x",
    "data.layout=NTHW",
    "data.total_length=8",
)
PREDICT_DBZ = ("predrnn-predict", "ckpt_path=dbz.ckpt", "data.layout=NTHW", "output=dbz_predictions.npy")

REFUSED = [
    # 1. only the named file is read: bytes in another file, a virtual dataset, a link out of a store
    ((*PREDICT, "input=external.h5", "data.key=frames"), "keeps its bytes in another file"),
    ((*PREDICT, "input=external.h5", "data.key=frames", "output=secret.npy", "overwrite=true"), "external storage"),
    ((*PREDICT, "input=virtual.h5", "data.key=frames"), "is a virtual dataset reading"),
    ((*ARRAYS, "data.path=external.h5", "data.key=frames"), "keeps its bytes in another file"),
    ((*ARRAYS, "data.path=virtual.h5", "data.key=frames"), "is a virtual dataset reading"),
    (
        (*ARRAYS, "data.path=external_actions.h5", "data.key=frames", "data.actions_key=actions"),
        "external_actions.h5[actions] keeps its bytes in another file",
    ),
    ((*ARRAYS, "data.path=linked.zarr"), "outside the store: predrnn reads only the store named"),
    ((*PREDICT, "input=linked.zarr"), "outside the store"),
    # 5. weights and normalisation that are not finite are never used
    (
        ("predrnn-eval", "ckpt_path=scale0.ckpt"),
        "scale0.ckpt holds an unusable normalisation (normalization.scale[0] is 0)",
    ),
    (("predrnn-predict", "ckpt_path=scale0.ckpt", "input=clip.npy"), "normalization.scale[0] is 0"),
    (("predrnn-export", "ckpt_path=scale0.ckpt", "output=s.onnx"), "normalization.scale[0] is 0"),
    (("predrnn-eval", "ckpt_path=shift_inf.ckpt"), "normalization.shift[0] is inf"),
    (("predrnn-predict", "ckpt_path=range_empty.ckpt", "input=clip.npy"), "normalization.low[0] equals"),
    (("predrnn-eval", "ckpt_path=nan_weights.ckpt"), "nan_weights.ckpt holds NaN/inf weights (1 tensors, first"),
    (("predrnn-predict", "ckpt_path=inf_weights.ckpt", "input=clip.npy"), "holds NaN/inf weights"),
    (("predrnn-export", "ckpt_path=nan_weights.ckpt", "format=torchscript", "output=n.pt"), "holds NaN/inf weights"),
    (("predrnn-train", "experiment=smoke", "logger=csv", "ckpt_path=inf_weights.ckpt"), "holds NaN/inf weights"),
    # 4. data that does not belong to the model: float frames for a model trained on uint8
    (
        (
            "predrnn-eval",
            "ckpt_path=model.ckpt",
            "data=arrays",
            "data.path=big.npy",
            "data.layout=NTHW",
            "data.total_length=12",
        ),
        "was trained on other data (uint8 frames; these are float frames, so its units would not match)",
    ),
    # ... a model trained on float dBZ given data in other units, as uint8, or beyond float32
    (
        (*EVAL_DBZ, "data.path=kelvin.h5"),
        "the test split of data.path=kelvin.h5 holds values in [200, 270], far outside the range the model was "
        "trained on, [0.",
    ),
    ((*EVAL_DBZ, "data.path=negative.h5"), "holds values in [-300, -230], far outside the range"),
    ((*EVAL_DBZ, "data.path=dbz_u8.h5"), "was trained on other data (float frames; these are uint8 frames"),
    ((*EVAL_DBZ, "data.path=over.h5"), "holds 1e+39 at frame 2, beyond float32's range"),
    ((*PREDICT_DBZ, "input=kelvin.npy"), "input=kelvin.npy holds values in [200, 270], far outside the range"),
    ((*PREDICT_DBZ, "input=negative.npy"), "far outside the range the model was trained on"),
    ((*PREDICT_DBZ, "input=dbz_u8.npy"), "input=dbz_u8.npy holds uint8 frames, the model was trained on float frames"),
    ((*PREDICT_DBZ, "input=under.npy"), "under.npy clip 0 holds -1e+39 at frame 11, beyond float32's range (±3.4e+38)"),
    (("predrnn-train", *DBZ, "data.path=over.h5"), "holds 1e+39 at frame 2, beyond float32's range"),
    # ... and a resume on data that gives another normalisation says so instead of refitting
    (
        ("predrnn-train", *DBZ, "data.path=dbz_more.h5", "ckpt_path=dbz.ckpt"),
        "dbz.ckpt was trained on float data normalised by minmax (shift [",
    ),
    (
        ("predrnn-train", *DBZ, "data.path=dbz.h5", "data.normalize=standard", "ckpt_path=dbz.ckpt"),
        "this data gives float data normalised by standard",
    ),
    # --- rows: weights ---
    # a weight is a real floating tensor, finite in the dtype it runs in (float32); a view larger
    # than its storage is checked through its storage (_weights_files below makes these files)
    (("predrnn-eval", "ckpt_path=int_weights.ckpt"), "weight network.cells.0.conv_x.weight is int32, not a floating"),
    (("predrnn-predict", "ckpt_path=bool_weights.ckpt", "input=clip.npy"), "is bool, not a floating-point tensor"),
    (("predrnn-export", "ckpt_path=complex_weights.ckpt", "output=c.onnx"), "is complex64, not a floating-point"),
    (("predrnn-eval", "ckpt_path=complex_nan.ckpt"), "is complex64, not a floating-point tensor"),
    (("predrnn-eval", "ckpt_path=f64_overflow.ckpt"), "holds values beyond float32's range (±3.4e+38), inf once cast"),
    (("predrnn-predict", "ckpt_path=f64_overflow.ckpt", "input=clip.npy"), "holds values beyond float32's range"),
    (("predrnn-export", "ckpt_path=f64_overflow.ckpt", "format=torchscript", "output=f.pt"), "beyond float32's"),
    (("predrnn-train", "experiment=smoke", "logger=csv", "ckpt_path=f64_overflow.ckpt"), "beyond float32's range"),
    (("predrnn-eval", "ckpt_path=strided_nan.ckpt"), "strided_nan.ckpt holds NaN/inf weights (1 tensors, first"),
    (
        ("predrnn-eval", "ckpt_path=strided.ckpt"),
        "strided.ckpt does not fit the model (network.cells.0.conv_x.weight is",
    ),
    (
        ("predrnn-convert", "ckpt_path=official_overflow.ckpt", "output=o.ckpt", *OFFICIAL_OVERRIDES["predrnn_ln0"]),
        "official_overflow.ckpt: weight cells.0.conv_x.weight holds values beyond float32's range",
    ),
    (
        ("predrnn-convert", "ckpt_path=official_int.ckpt", "output=o.ckpt", *OFFICIAL_OVERRIDES["predrnn_ln0"]),
        "official_int.ckpt: weight conv_out.weight is int64, not a floating-point tensor",
    ),
    (
        (
            "predrnn-train",
            "experiment=smoke",
            "logger=csv",
            "ckpt_path=official_overflow.ckpt",
            *OFFICIAL_OVERRIDES["predrnn_ln0"],
        ),
        "holds values beyond float32's range",
    ),
    # a normalisation scale is positive and large enough for the data's range
    (
        ("predrnn-eval", "ckpt_path=scale_tiny.ckpt"),
        "normalization.scale[0] is 1e-30, too small for the data's range 1",
    ),
    (("predrnn-predict", "ckpt_path=scale_negative.ckpt", "input=clip.npy"), "normalization.scale[0] is -1, negative"),
    (("predrnn-export", "ckpt_path=scale_tiny.ckpt", "output=s.onnx"), "too small for the data's range"),
    (("predrnn-eval", "ckpt_path=dbz_scale_tiny.ckpt"), "normalization.scale[0] is 1e-09, too small for the data's"),
    # a checkpoint whose data and network disagree on the observed frames
    (("predrnn-eval", "ckpt_path=input_length.ckpt"), "its data's input_length=5, its network's input_length=10"),
    (("predrnn-predict", "ckpt_path=input_length.ckpt", "input=clip.npy"), "input_length.ckpt is inconsistent"),
    # sizes a checkpoint claims are bounded by the memory they need, before anything is allocated
    (
        ("predrnn-predict", "ckpt_path=total_length.ckpt", "input=clip.npy"),
        "total_length.ckpt's total_length (K = 999999990): predicting them needs at least",
    ),
    (("predrnn-export", "ckpt_path=total_length.ckpt", "output=t.onnx"), "(K = 999999990): exporting them"),
    (("predrnn-predict", "ckpt_path=lengths_text.ckpt", "input=clip.npy"), "holds input_length=10, total_length=abc"),
]


def _fingerprint(folder):
    import hashlib

    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest() for p in folder.rglob("*")
            if p.is_file() and not p.is_symlink() and not {"trained", "logs"} & set(p.parts)}  # fmt: skip


@pytest.mark.parametrize("argv, message", REFUSED, ids=[" ".join(a[1:]) for a, _ in REFUSED])
def test_refused_in_one_line_nothing_changed(argv, message, hostile, monkeypatch, capsys):
    before = _fingerprint(hostile)
    runs = set((hostile / "logs").glob("*/runs/*"))
    code, err = run_main(argv, hostile, monkeypatch, capsys)
    assert code == 2 and len(err) == 1, err
    assert err[0].startswith(f"{argv[0]}: error: ") and message in err[0], err[0]
    assert _fingerprint(hostile) == before
    assert set((hostile / "logs").glob("*/runs/*")) == runs, "a refused run left its folder behind"


def test_data_beyond_the_training_range_is_a_warning(hostile, monkeypatch, capsys, tmp_path):
    """Values beyond the training range by a fraction of it (a heavier storm) are predicted, with
    one warning line; within it, no line at all."""
    for name, warned in (("dbz_more", True), ("dbz", False)):
        out = tmp_path / f"{name}_pred.npy"
        code, err = run_main((*PREDICT_DBZ, f"input={name}.npy", f"output={out}"), hostile, monkeypatch, capsys)
        assert code == 0, err
        warnings = [line for line in err if "warning" in line]
        assert len(warnings) == warned, err
        if warned:
            assert warnings[0].startswith("predrnn-predict: warning: input=dbz_more.npy holds values in [")
            assert "beyond the range the model was trained on, [0." in warnings[0]
        assert np.load(out).shape == (2, 4, 16, 16)  # the 4 future frames it was trained on


def test_the_external_dataset_is_real(hostile):
    """h5py itself reads the other file's bytes as frames (so the refusal above is needed)."""
    import h5py

    with h5py.File(hostile / "external.h5", "r") as f:
        frames = f["frames"][...]
    assert frames.tobytes() == (hostile / "secret.bin").read_bytes()


# 6. every exported format refuses a wrong frame count, dtype or frame size
BAD_INPUTS = {
    "12 frames": ((1, 12, 1, 16, 16), torch.float32),
    "3 frames": ((1, 3, 1, 16, 16), torch.float32),
    "uint8": ((1, 4, 1, 16, 16), torch.uint8),
    "float64": ((1, 4, 1, 16, 16), torch.float64),
    "32x32": ((1, 4, 1, 32, 32), torch.float32),
    "2 channels": ((1, 4, 2, 16, 16), torch.float32),
    "4-D": ((4, 1, 16, 16), torch.float32),
}


@pytest.fixture(scope="module")
def artefacts(tmp_path_factory):
    from predrnn.export import Forecaster, export
    from predrnn.models.predrnn import PredRNN

    torch.manual_seed(0)
    net = PredRNN(in_channels=1, image_size=16, input_length=4, hidden_channels=[4], kernel_size=3, patch_size=4)
    folder = tmp_path_factory.mktemp("artefacts")
    loaded = {}
    for fmt, suffix in (("torchscript", ".pt"), ("exported-program", ".pt2"), ("onnx", ".onnx")):
        export(Forecaster(net, 3), fmt, folder / f"m{suffix}", source="test")
        if fmt == "torchscript":
            module = torch.jit.load(str(folder / "m.pt"))
            loaded[fmt] = lambda x, m=module: m(x)
        elif fmt == "exported-program":
            module = torch.export.load(str(folder / "m.pt2")).module()
            loaded[fmt] = lambda x, m=module: m(x)
        else:
            ort = pytest.importorskip("onnxruntime")
            session = ort.InferenceSession(str(folder / "m.onnx"))
            loaded[fmt] = lambda x, s=session: torch.from_numpy(s.run(None, {"observed": x.numpy()})[0])
    return loaded


@pytest.mark.parametrize("fmt", ["torchscript", "exported-program", "onnx"])
def test_every_export_refuses_wrong_inputs(fmt, artefacts):
    call = artefacts[fmt]
    assert tuple(call(torch.rand(2, 4, 1, 16, 16)).shape) == (2, 3, 1, 16, 16)
    for name, (shape, dtype) in BAD_INPUTS.items():
        x = (torch.rand(shape) * 255).to(dtype)
        with pytest.raises(Exception) as refused:
            call(x)
        assert not isinstance(refused.value, AssertionError) or "Guard failed" in str(refused.value), name


def test_torchscript_says_what_is_wrong(artefacts):
    with pytest.raises(Exception, match="observed axis 1 must be 4"):
        artefacts["torchscript"](torch.rand(1, 12, 1, 16, 16))
    with pytest.raises(Exception, match="observed must be float32 frames"):
        artefacts["torchscript"](torch.zeros(1, 4, 1, 16, 16, dtype=torch.uint8))


# 7. outputs that belong together are written together; a second writer fails
def test_a_failed_gif_leaves_the_old_outputs(hostile, monkeypatch, capsys, tmp_path):
    import errno

    from predrnn.training import media

    (hostile / "old.npy").write_bytes(b"old npy")
    (hostile / "old_preview.gif").write_bytes(b"old gif")

    def disk_full(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(media, "write_prediction_gif", disk_full)
    before = _fingerprint(hostile)
    code, err = run_main((*PREDICT, "input=clip.npy", "output=old.npy", "overwrite=true"), hostile, monkeypatch, capsys)
    assert code == 2 and len(err) == 1 and "No space left on device" in err[0] and "no output changed" in err[0], err
    assert _fingerprint(hostile) == before
    assert not [p for p in hostile.iterdir() if ".tmp" in p.name]


def test_two_writers_of_one_output_one_fails(tmp_path):
    from predrnn.errors import OutputError
    from predrnn.files import atomic_outputs

    a, b = tmp_path / "p.npy", tmp_path / "p_preview.gif"
    with (
        pytest.raises(OutputError, match="was created by another process meanwhile"),
        atomic_outputs([a, b]) as (ta, tb),
    ):
        ta.write_bytes(b"mine")
        tb.write_bytes(b"mine")
        b.write_bytes(b"theirs")  # the other process finished first
    assert not a.exists() and b.read_bytes() == b"theirs"  # nothing of ours, theirs kept
    assert sorted(p.name for p in tmp_path.iterdir()) == ["p_preview.gif"]
    with atomic_outputs([a, b], overwrite=True) as (ta, tb):
        ta.write_bytes(b"new")
        tb.write_bytes(b"new")
    assert a.read_bytes() == b.read_bytes() == b"new"


# where CPython runs a pending signal's handler: a frame's start, a backward jump, after a call
_HANDLER_POINTS = ("RESUME", "JUMP_BACKWARD", "POP_JUMP_BACKWARD_IF_TRUE", "POP_JUMP_BACKWARD_IF_FALSE",
                   "POP_JUMP_BACKWARD_IF_NONE", "POP_JUMP_BACKWARD_IF_NOT_NONE")  # fmt: skip
_CALLS = ("CALL", "CALL_FUNCTION_EX")


def _signalled_at(point: int, write) -> bool:
    """write() with SIGTERM's handler (the entry points' `_stop`) run at the `point`-th place in
    predrnn.files where Python would run a pending handler (traced opcode by opcode), as a
    SIGTERM arriving at that moment would; True where it was run."""
    import dis
    import signal

    from predrnn import files
    from predrnn.cli.entry import _stop

    count, last = 0, {}

    def local(frame, event, arg):
        nonlocal count
        if event == "opcode":
            op = dis.opname[frame.f_code.co_code[frame.f_lasti]]
            if op in _HANDLER_POINTS or last.get(id(frame)) in _CALLS:
                count += 1
                if count == point:
                    _stop(signal.SIGTERM, frame)  # held (and raised again later) while names move
            last[id(frame)] = op
        return local

    def trace(frame, event, arg):
        if frame.f_code.co_filename != files.__file__:
            return None
        frame.f_trace_opcodes = True
        return local

    previous = signal.signal(signal.SIGTERM, _stop)
    sys.settrace(trace)
    try:
        write()
    except Stopped:
        return True
    finally:
        sys.settrace(None)
        signal.signal(signal.SIGTERM, previous)
    return count >= point


def _write_pair(folder, overwrite):
    from predrnn.files import atomic_outputs

    with atomic_outputs([folder / "a.csv", folder / "b.zarr"], overwrite, folders=[folder / "b.zarr"]) as (a, b):
        a.write_text("new")
        (b / "zarr.json").write_text("new")


def _write_one(folder, overwrite):
    from predrnn.files import write_text

    write_text(folder / "a.csv", "new")


@pytest.mark.parametrize(
    "write, old",
    [(_write_pair, None), (_write_pair, "old"), (_write_one, None), (_write_one, "old")],
    ids=["outputs-new", "outputs-overwrite", "path-new", "path-overwrite"],
)
def test_a_signal_at_any_moment_of_a_write_leaves_old_or_new_and_no_temporary(write, old, tmp_path):
    """SIGTERM during `predrnn-report`'s CSV and plot (or any output): its handler raises
    `Stopped` wherever Python runs it. At every such point of predrnn.files in turn, the outputs
    are all old (or absent) or all new, and no temporary file or folder is left. (Before, a
    temporary created but not yet recorded, or one met by the signal during the cleanup, was
    left behind: tests/sweeps/test_sweeps.py's report test saw it.)"""
    line = 0
    while True:
        line += 1
        folder = tmp_path / str(line)
        folder.mkdir()
        if old is not None:
            (folder / "a.csv").write_text(old)
            (folder / "b.zarr").mkdir()
            (folder / "b.zarr" / "zarr.json").write_text(old)
        before = sorted(p.name for p in folder.iterdir())
        signalled = _signalled_at(line, functools.partial(write, folder, overwrite=old is not None))
        names = sorted(p.name for p in folder.iterdir())
        assert not [n for n in names if ".tmp" in n], (line, names)
        texts = {(folder / "a.csv").read_text() if (folder / "a.csv").exists() else None}
        if write is _write_pair:
            zarr = folder / "b.zarr" / "zarr.json"
            texts.add(zarr.read_text() if zarr.exists() else None)
        assert texts in ({old}, {"new"}), (line, texts)  # both or neither, never half
        assert names == before or texts == {"new"}, (line, names)
        if not signalled:  # past the last point of the write: every moment was tried
            assert texts == {"new"}
            break
    assert line > 10


def test_report_is_not_replaced_without_overwrite(tmp_path, capsys):
    import json

    from predrnn.cli import report

    sweep = tmp_path / "sweep"
    for name, summary in (("0", {"status": "finished", "best_val_mse": 1.0}), ("1", ["not", "an", "object"]),
                          ("2", {"status": 3, "best_val_mse": "abc", "val": "x", "global_step": [1]})):  # fmt: skip
        (sweep / name / ".hydra").mkdir(parents=True)
        (sweep / name / ".hydra" / "overrides.yaml").write_text(f"- seed={name}\n- 7\n")
        (sweep / name / "summary.json").write_text(json.dumps(summary))
    report.main([str(sweep)])  # odd summaries are read as missing values, not a traceback
    first = (sweep / "report.csv").read_bytes()
    with pytest.raises(SystemExit) as stop:
        report.main([str(sweep)])
    err = capsys.readouterr().err.strip().splitlines()
    assert stop.value.code == 2 and len(err) == 1 and "report.csv exists" in err[0] and "overwrite=true" in err[0]
    assert (sweep / "report.csv").read_bytes() == first
    report.main([str(sweep), "overwrite=true"])
    assert not [p for p in sweep.iterdir() if ".tmp" in p.name]


# --- weights: files for the rows above, fine-tuning that overflows, exports onto a full disk ---


@pytest.fixture(scope="module", autouse=True)
def _weights_files(hostile):
    """Checkpoints whose weights, normalisation or lengths are not what they seem."""
    from helpers import OFFICIAL

    workdir = hostile
    if (workdir / "lengths_text.ckpt").exists():
        return
    state = torch.load(workdir / "model.ckpt", weights_only=True)
    weights = state["state_dict"]
    first = "network.cells.0.conv_x.weight"
    value = weights[first]
    changed = {
        "int_weights": value.to(torch.int32),
        "bool_weights": value > 0,
        "complex_weights": value.to(torch.complex64),
        "complex_nan": torch.complex(value, torch.full_like(value, float("nan"))),
        "f64_overflow": value.double() * 1e300,
        # 400 GB as float32 from a file of a few hundred kB: a finiteness check that materialised
        # the view would allocate it all
        "strided_nan": torch.full((1,), float("nan")).expand(10**11),
        "strided": torch.zeros(1).expand(10**11),
    }
    for name, new in changed.items():
        torch.save({**state, "state_dict": {**weights, first: new}}, workdir / f"{name}.ckpt")
    hp = state["hyper_parameters"]
    for name, scale in (("scale_tiny", 1e-30), ("scale_negative", -1.0)):
        norm = {**hp["normalization"], "scale": [scale]}
        torch.save({**state, "hyper_parameters": {**hp, "normalization": norm}}, workdir / f"{name}.ckpt")
    dbz = torch.load(hostile / "dbz.ckpt", weights_only=True)  # float data in [0, 70]: 7e10 model units wide
    hp_dbz = dbz["hyper_parameters"]
    norm = {**hp_dbz["normalization"], "scale": [1e-9]}
    torch.save({**dbz, "hyper_parameters": {**hp_dbz, "normalization": norm}}, workdir / "dbz_scale_tiny.ckpt")
    data = state["datamodule_hyper_parameters"]
    for name, change in (("input_length", {"input_length": 5}), ("total_length", {"total_length": 10**9}),
                         ("lengths_text", {"total_length": "abc"})):  # fmt: skip
        torch.save({**state, "datamodule_hyper_parameters": {**data, **change}}, workdir / f"{name}.ckpt")
    official = torch.load(OFFICIAL / "predrnn_ln0.ckpt", weights_only=True)["net_param"]
    name = "cell_list.0.conv_x.0.weight" if "cell_list.0.conv_x.0.weight" in official else "cell_list.0.conv_x.weight"
    torch.save({"net_param": {**official, name: official[name].double() * 1e300}}, workdir / "official_overflow.ckpt")
    torch.save({"net_param": {**official, "conv_last.weight": official["conv_last.weight"].long()}},
               workdir / "official_int.ckpt")  # fmt: skip
    # finite in float32, but the output overflows: the loss is inf from the first step
    torch.save({"net_param": {**official, "conv_last.weight": official["conv_last.weight"] * 1e37}},
               workdir / "official_overflows.ckpt")  # fmt: skip


def test_the_huge_view_is_small_on_disk(workdir):
    """The strided checkpoints claim 400 GB of float32 in a file smaller than the model's."""
    state = torch.load(workdir / "strided_nan.ckpt", weights_only=True)
    view = state["state_dict"]["network.cells.0.conv_x.weight"]
    assert view.numel() * view.element_size() == 4 * 10**11
    assert (workdir / "strided_nan.ckpt").stat().st_size < 2 * (workdir / "model.ckpt").stat().st_size


def test_fine_tuning_a_checkpoint_that_overflows_is_not_blamed_on_the_learning_rate(workdir, monkeypatch, capsys):
    """Weights finite in float32 whose predictions overflow give an inf loss at the first step,
    before any update: the line names the checkpoint and the data, not optim.lr."""
    argv = ("predrnn-train", "experiment=smoke", "logger=csv", "ckpt_path=official_overflows.ckpt",
            "trainer.max_steps=1", "test=false", "callbacks.media=null", "data.val_size=4",
            "hydra.run.dir=trained/overflows", *OFFICIAL_OVERRIDES["predrnn_ln0"])  # fmt: skip
    code, err = run_main(argv, workdir, monkeypatch, capsys)
    errors = [line for line in err if line.startswith("predrnn-train: error: ")]
    assert code == 2 and len(errors) == 1, err  # after the fine-tuning note
    assert "before any update" in errors[0] and "not optim.lr" in errors[0], errors[0]
    assert "lower optim.lr" not in errors[0], errors[0]


def _mount_full_disk(folder):
    """A 64 kB tmpfs at `folder` (root only): a disk that fills during an export."""
    import subprocess

    folder.mkdir(exist_ok=True)
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(folder)], capture_output=True)
    if done.returncode != 0:
        pytest.skip(f"a tmpfs can't be mounted here ({done.stderr.decode().strip()[:80]})")


@pytest.mark.parametrize(
    "fmt, suffix",
    [("torchscript", "pt"), ("exported-program", "pt2"), pytest.param("onnx", "onnx", marks=pytest.mark.slow)],
)  # ONNX's exporter takes ~18 s here, and its writer raised an OSError already
def test_an_export_onto_a_full_disk_is_one_line(fmt, suffix, workdir, tmp_path, monkeypatch, capsys):
    """torch's C++ writer aborts the interpreter on a full disk (exit 134, temporary files left):
    the artefact is written from Python, so it is one line, exit 2, and nothing is left."""
    import subprocess

    full = tmp_path / "full"
    _mount_full_disk(full)
    try:
        argv = ("predrnn-export", "ckpt_path=model.ckpt", f"format={fmt}", f"output={full}/m.{suffix}")
        code, err = run_main(argv, workdir, monkeypatch, capsys)
        assert code == 2 and len(err) == 1, err
        assert "No space left on device" in err[0] and "no output changed" in err[0], err[0]
        assert list(full.iterdir()) == []
    finally:
        subprocess.run(["umount", str(full)], check=False)
