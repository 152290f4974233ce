import subprocess
import sys
import textwrap
import zipfile

import pytest

import build


def test_extension_zip_vendors_core_and_lifts_without_torch(tmp_path):
    archive = build.build(tmp_path / "dist")
    with zipfile.ZipFile(archive) as zf:
        names = set(zf.namelist())
        assert {"blender_manifest.toml", "__init__.py", "core/inference.py", "core/weights.py"} <= names
        # the detector's model travels inside (nothing is downloaded at run time), stored as it is
        model = zf.getinfo("core/weights/pose_landmarker_full.task")
        assert model.compress_type == zipfile.ZIP_STORED and model.file_size > 5_000_000
        zf.extractall(tmp_path / "videopose_mocap")
    # Blender has numpy but no torch: the vendored engine must import and run with torch blocked.
    script = textwrap.dedent("""
        import sys
        sys.modules["torch"] = None
        import numpy as np
        from videopose_mocap.core.inference import NumpyTemporalModel
        from videopose_mocap.core.architecture import TemporalModelConfig
        from videopose_mocap.core.weights import NetworkWeights
        cfg = TemporalModelConfig(filter_widths=(3, 3), channels=4)
        rng = np.random.default_rng(0)
        params = {"expand_conv.weight": rng.normal(size=(4, 34, 3)), "shrink.weight": rng.normal(size=(51, 4, 1)),
                  "shrink.bias": np.zeros(51)}
        for prefix in ["expand_bn", "layers_bn.0", "layers_bn.1"]:
            params.update({prefix + ".weight": np.ones(4), prefix + ".bias": np.zeros(4),
                           prefix + ".running_mean": np.zeros(4), prefix + ".running_var": np.ones(4)})
        params["layers_conv.0.weight"] = rng.normal(size=(4, 4, 3))
        params["layers_conv.1.weight"] = rng.normal(size=(4, 4, 1))
        out = NumpyTemporalModel(NetworkWeights(cfg, params)).predict(np.zeros((12, 17, 2)))
        assert out.shape == (12, 17, 3)
        assert "torch" not in [m for m in sys.modules if sys.modules[m] is not None]
        print("ok")
    """)
    result = subprocess.run([sys.executable, "-c", script], cwd=tmp_path, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ok"


def test_blender_validator_accepts_the_extension_zip(tmp_path):
    bpy = pytest.importorskip("bpy")
    import glob
    import os
    scripts = bpy.utils.system_resource("SCRIPTS")
    validators = glob.glob(os.path.join(scripts, "addons_core", "bl_pkg", "cli", "blender_ext.py"))
    assert validators, "Blender's extension tool not found in the bpy module"
    archive = build.build(tmp_path / "dist")
    result = subprocess.run([sys.executable, validators[0], "validate", str(archive)], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_platform_build_bundles_the_detector_wheels(tmp_path):
    bpy = pytest.importorskip("bpy")
    import glob
    import os
    import tomllib
    archive = build.build(tmp_path / "dist", platform="linux-x64")
    with zipfile.ZipFile(archive) as zf:
        manifest = tomllib.loads(zf.read("blender_manifest.toml").decode())
        names = set(zf.namelist())
    assert manifest["platforms"] == ["linux-x64"]
    # one wheel set for Python 3.11 and 3.13: mediapipe 1.x is py3-none, OpenCV abi3
    assert any("mediapipe-1.2.3-py3-none" in w for w in manifest["wheels"])
    assert any("opencv_python_headless" in w and "abi3" in w for w in manifest["wheels"])
    assert any("opencv_python_headless" in w for w in manifest["wheels"])
    assert not any("numpy" in w for w in manifest["wheels"])  # Blender ships numpy
    assert all(w.removeprefix("./") in names for w in manifest["wheels"])
    validator = glob.glob(os.path.join(bpy.utils.system_resource("SCRIPTS"), "addons_core", "bl_pkg", "cli", "blender_ext.py"))[0]
    result = subprocess.run([sys.executable, validator, "validate", str(archive)], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
