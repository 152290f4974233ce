import os
import shutil
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
# Blender (the bpy module) must not read or write the user's own configuration during tests:
# installed test extensions go to a throwaway folder. Set before anything imports bpy.
# Removed again when the session ends (about 13 MB per run: one installed extension).
_OWN_USER_RESOURCES = None
if "BLENDER_USER_RESOURCES" not in os.environ:
    _OWN_USER_RESOURCES = os.environ["BLENDER_USER_RESOURCES"] = tempfile.mkdtemp(prefix="videopose_blender_user_")


def pytest_sessionfinish(session, exitstatus):
    session.config._videopose_exitstatus = int(exitstatus)


def pytest_unconfigure(config):
    """Blender 4.2's bpy module can crash while the interpreter shuts down, after every test has run and
    been reported. Under 4.2 only, leave at that point with pytest's own exit status, so the crash can
    neither hide a failure nor fail a passing run. (Blender 5.0 shuts down cleanly and is left alone.)"""
    if _OWN_USER_RESOURCES is not None:
        shutil.rmtree(_OWN_USER_RESOURCES, ignore_errors=True)
    bpy = sys.modules.get("bpy")
    status = getattr(config, "_videopose_exitstatus", None)
    if bpy is not None and status is not None and tuple(bpy.app.version) < (4, 3, 0):
        shutil.rmtree(bpy.app.tempdir, ignore_errors=True)  # os._exit skips Blender's own clean-up of it
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(status)


import pytest  # noqa: E402


@pytest.fixture(scope="module")
def addon(tmp_path_factory):
    """The add-on's bake module as the built extension vendors it (its own copy of ``core``)."""
    import importlib

    import build
    folder = build.unpack(tmp_path_factory.mktemp("addon"))
    sys.path.insert(0, str(folder))
    try:
        yield importlib.import_module("videopose_mocap.bake")
    finally:
        sys.path.remove(str(folder))
