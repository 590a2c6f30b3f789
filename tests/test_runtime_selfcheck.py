"""The golden self-check on a hand-made bundle (no training): its golden outputs are computed in numpy from the
model's own math (tests/_hand_bundle.py), independently of onnxruntime, which runs the model being checked.

Exported bundles (golden vectors from PyTorch, export-host outputs, drift) are checked in
tests/test_export_chain.py and tests/test_task_keystroke_board.py. Nothing here depends on the CPU's SIMD: the
hand model is float, and the refusals come from golden values changed far beyond any rounding.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys

import numpy as np
import pytest
from _hand_bundle import hand_bundle

from edgeemg.cli import main
from edgeemg.errors import BundleError
from edgeemg.runtime.bundle import MANIFEST_NAME, load_bundle, seal_manifest
from edgeemg.runtime.selfcheck import kernel_family


@pytest.fixture
def bundle(tmp_path):
    return hand_bundle(tmp_path / "b")


def _reseal(folder, *, golden=None, manifest=None):
    """Change golden.npz and/or the manifest, then make the hashes consistent again."""
    if golden is not None:
        with np.load(folder / "golden.npz") as z:
            arrays = golden({k: z[k] for k in z.files})
        with open(folder / "golden.npz", "wb") as fh:
            np.savez(fh, **arrays)
    m = json.loads((folder / MANIFEST_NAME).read_text())
    if manifest is not None:
        manifest(m)
    (folder / MANIFEST_NAME).write_bytes(seal_manifest(m, folder))
    return folder


def test_a_good_bundle_passes_with_the_error_onnxruntime_gives(bundle):
    import onnxruntime as ort

    b = load_bundle(bundle)
    with np.load(bundle / "golden.npz") as z:
        x, ref = z["x"], z["ref.p"]
    got = ort.InferenceSession(str(bundle / "model.int8.onnx"), providers=["CPUExecutionProvider"]).run(None, {"x": x})
    assert b.self_check.ok and b.self_check.n_items == len(x) == 4
    assert b.self_check.error == pytest.approx(np.abs(got[0] - ref).max(), abs=1e-7)
    assert b.self_check.drift is None  # no export-host outputs in this bundle: nothing to drift from
    assert b.self_check.runtime == f"onnxruntime {ort.__version__}"


def test_tampered_golden_outputs_are_refused_naming_what_and_where(bundle, capsys):
    _reseal(bundle, golden=lambda a: {**a, "ref.p": a["ref.p"] + 0.5})
    with pytest.raises(BundleError) as info:
        load_bundle(bundle)
    msg = str(info.value)
    assert f"{bundle / 'model.int8.onnx'}: golden self-check FAILED" in msg
    assert "max_rel output error vs PyTorch 0.5 > tolerance 0.0001 over 4 golden items" in msg
    assert kernel_family() in msg and "onnxruntime" in msg and "--precision fp32" in msg
    assert load_bundle(bundle, precision=None).sha256  # the hashes alone still verify
    assert main(["inspect", str(bundle), "--verify"]) == 1
    out = capsys.readouterr().out
    assert "onnx-int8    FAIL" in out and "golden self-check FAILED" in out


def test_golden_without_a_reference_for_any_output_is_refused(bundle):
    _reseal(bundle, golden=lambda a: {"x": a["x"], "ref.other": a["ref.p"]})
    with pytest.raises(BundleError, match=r"golden\.npz: holds \['ref\.other', 'x'\], expected 'x' and a reference"):
        load_bundle(bundle)


def test_a_bundle_from_before_the_self_check_loads_with_a_warning(bundle, caplog, capsys):
    (bundle / "golden.npz").unlink()
    _reseal(bundle, manifest=lambda m: m.pop("self_check"))
    b = load_bundle(bundle)
    assert b.self_check is None and "has no golden.npz" in caplog.text
    assert main(["inspect", str(bundle), "--verify", "--json"]) == 1  # nothing could be verified
    doc = json.loads(capsys.readouterr().out)
    assert doc["self_check"]["results"] == [] and "re-export" in doc["self_check"]["not_checked"]["onnx-int8"]


def test_inspect_verify_json_is_one_object_with_the_device(bundle, capsys):
    assert main(["inspect", str(bundle), "--verify", "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    sc = doc["self_check"]
    assert sc["ok"] and [r["artifact"] for r in sc["results"]] == ["onnx-int8"] and sc["results"][0]["ok"]
    assert {"machine", "cpu_features", "kernel_family", "runtimes"} <= set(sc["device"])


def test_hash_only_load_imports_neither_numpy_nor_onnxruntime(bundle):
    code = ("import sys\n"
            "for m in ('numpy', 'onnxruntime', 'torch'): sys.modules[m] = None\n"
            "from edgeemg.runtime.bundle import load_bundle\n"
            f"b = load_bundle({str(bundle)!r}, precision=None)\n"
            "print(b.task, b.self_check)\n")
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert res.returncode == 0 and res.stdout.strip() == "gait None", res.stderr


@pytest.mark.parametrize("features, family", [
    (["avx2"], "x86-64 AVX2"),
    (["avx2", "avx512f", "avx512bw"], "x86-64 AVX-512 without VNNI"),
    (["avx2", "avx512f", "avx512bw", "avx512vnni"], "x86-64 VNNI"),
    (["asimd"], "arm64 without dot product"),
    (["asimd", "asimddp"], "arm64 with dot product"),
])
def test_kernel_family_names_the_int8_kernels_the_features_select(features, family):
    assert kernel_family(features) == family


def test_a_copy_keeps_its_golden_file_under_the_hash(bundle, tmp_path):
    copy = tmp_path / "copy"
    shutil.copytree(bundle, copy)
    data = bytearray((copy / "golden.npz").read_bytes())
    data[len(data) // 2] ^= 1
    (copy / "golden.npz").write_bytes(bytes(data))
    with pytest.raises(BundleError, match=r"golden\.npz: sha256 mismatch"):
        load_bundle(copy)
