"""The rig corpus, built in Blender (``bpy``): MakeHuman / MPFB2 rigs from their published bone
lists, Blender's own Rigify rigs, and variants as animators meet them (a centimetre rig scaled
0.01, a rig that went through Blender's glTF exporter and importer)."""
from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass, field

import bpy
import numpy as np

from core.retarget import PRESET_SWITCHES, PRESETS

from .sources import mpfb_rig, xbot

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


@dataclass
class CorpusRig:
    name: str
    obj: bpy.types.Object
    mapping: dict[str, str]
    switches: dict = field(default_factory=dict)
    about: str = ""


# name -> (how it is made, mapping preset, what it tests)
CORPUS = {
    "mpfb_default": ("mpfb:default", "MAKEHUMAN", "MakeHuman default rig: A-pose, twist bones, 163 bones"),
    "mpfb_game_engine": ("mpfb:game_engine", "GAME_ENGINE", "Unreal-style names, a Root bone on the floor, A-pose"),
    "mpfb_cmu_mb": ("mpfb:cmu_mb", "CMU_MB", "CMU MotionBuilder names, hip-joint helper bones"),
    "mpfb_mixamo": ("mpfb:mixamo", "MIXAMO", "Mixamo names with the mixamorig: namespace, T-pose"),
    "mpfb_mixamo_cm": ("mpfb:mixamo:cm", "MIXAMO", "the same in centimetres with object scale 0.01 (an FBX habit)"),
    "mpfb_mixamo_gltf": ("mpfb:mixamo:gltf", "MIXAMO", "through Blender's glTF export and import (Temperance bones)"),
    "mpfb_cmu_mb_scrambled": ("mpfb:cmu_mb:scrambled", "CMU_MB", "bone tails and rolls anywhere, as importers leave them"),
    "xbot_gltf": ("file:xbot", "MIXAMO", "Mixamo's X Bot (three.js examples), Blender's glTF importer defaults: "
                                        "centimetres, object scale 0.01, tails thousands of units long"),
    "rigify_metarig": ("rigify:metarig", "RIGIFY_METARIG", "Blender's Human meta-rig"),
    "rigify_generated": ("rigify:generated", "RIGIFY_GENERATED", "the rig Rigify generates: FK controls under helpers"),
}


def built_addon_bake():
    """The add-on's bake module as the built extension vendors it (its own copy of ``core``).

    Built and unpacked once per process, into a scratch folder removed when the process exits: the
    unpacked extension is about 100 MB, and every bench or test process asks for it."""
    import atexit
    import importlib
    import shutil
    import sys
    import tempfile

    import build
    if "videopose_mocap.bake" not in sys.modules:
        folder = tempfile.mkdtemp(prefix="videopose_addon_")
        atexit.register(shutil.rmtree, folder, True)
        sys.path.insert(0, str(build.unpack(folder)))
    return importlib.import_module("videopose_mocap.bake")


def _new_armature(name: str) -> bpy.types.Object:
    armature = bpy.data.armatures.new(name)
    obj = bpy.data.objects.new(name, armature)
    bpy.context.scene.collection.objects.link(obj)
    bpy.context.view_layer.objects.active = obj
    return obj


def armature_from_bones(name: str, bones: dict[str, dict], scale: float = 1.0) -> bpy.types.Object:
    """An armature of ``bones`` (``sources.mpfb_rig`` format), lengths times ``scale``."""
    obj = _new_armature(name)
    bpy.ops.object.mode_set(mode="EDIT")
    edit = obj.data.edit_bones
    for bone, spec in bones.items():
        eb = edit.new(bone)
        eb.head = (np.array(spec["head"]) * scale).tolist()
        eb.tail = (np.array(spec["tail"]) * scale).tolist()
        eb.roll = spec["roll"]
    for bone, spec in bones.items():
        if spec["parent"]:
            edit[bone].parent = edit[spec["parent"]]
    bpy.ops.object.mode_set(mode="OBJECT")
    return obj


def skin_segments(obj: bpy.types.Object, width: float = 0.025, deforming_only: bool = False) -> bpy.types.Object:
    """A mesh of thin boxes from each bone's head to its children's heads (a small cube for a leaf),
    each skinned to its bone alone: what a render shows of the rig (``deforming_only``: of the
    bones a character mesh would follow), and what glTF needs to keep a skeleton. Made from heads
    only, so scrambled tails do not show."""
    vertices, faces, groups = [], [], []
    quads = [(0, 1, 3, 2), (4, 6, 7, 5), (0, 4, 5, 1), (2, 3, 7, 6), (0, 2, 6, 4), (1, 5, 7, 3)]
    scale = 1.0 / max(float(np.cbrt(abs(np.linalg.det(np.array(obj.matrix_world)[:3, :3])))), 1e-9)
    for bone in obj.data.bones:
        if deforming_only and not bone.use_deform:
            continue
        head = np.array(bone.head_local)
        ends = [np.array(child.head_local) for child in bone.children
                if np.linalg.norm(np.array(child.head_local) - head) > 1e-6] or [head]
        for end in ends:
            along = end - head if np.linalg.norm(end - head) > 1e-6 else np.array([0.0, 0.0, width * scale])
            side = np.cross(along, [0.0, 0.0, 1.0] if abs(along[2]) < 0.9 * np.linalg.norm(along) else [1.0, 0, 0])
            side = side / np.linalg.norm(side) * width * scale
            other = np.cross(along, side) / np.linalg.norm(along)
            start = len(vertices)
            vertices += [(head + i * along + j * side + k * other).tolist()
                         for i in (0, 1) for j in (-1, 1) for k in (-1, 1)]
            faces += [tuple(start + v for v in quad) for quad in quads]
            groups.append((bone.name, start))
    mesh = bpy.data.meshes.new(obj.name + "_skin")
    mesh.from_pydata(vertices, [], faces)
    skin = bpy.data.objects.new(obj.name + "_skin", mesh)
    bpy.context.scene.collection.objects.link(skin)
    for name, start in groups:
        group = skin.vertex_groups.get(name) or skin.vertex_groups.new(name=name)
        group.add(list(range(start, start + 8)), 1.0, "REPLACE")
    skin.modifiers.new("Armature", "ARMATURE").object = obj
    skin.parent = obj
    return skin


def scramble_tails(obj: bpy.types.Object, seed: int = 0) -> None:
    """Every bone's tail and roll set at random (heads kept): the rig's joints are where they
    were, its bone directions and lengths say nothing, as after some importers."""
    rng = np.random.default_rng(seed)
    bpy.context.view_layer.objects.active = obj
    bpy.ops.object.mode_set(mode="EDIT")
    for eb in obj.data.edit_bones:
        eb.use_connect = False
    for eb in obj.data.edit_bones:
        direction = rng.normal(size=3)
        eb.tail = (np.array(eb.head) + direction / np.linalg.norm(direction) * rng.uniform(0.02, 3.0)).tolist()
        eb.roll = rng.uniform(-np.pi, np.pi)
    bpy.ops.object.mode_set(mode="OBJECT")


def through_gltf(name: str, folder: str, rig: str | None = None, glb: str | None = None) -> bpy.types.Object:
    """An armature from Blender's glTF importer: the MPFB ``rig`` exported with Blender's glTF exporter
    and imported back (bones oriented by the importer's "Temperance" heuristic: tails towards children,
    rolls of its own), or the file ``glb`` imported with the importer's defaults.

    Export and import run in a fresh Blender process (``gltf_to_blend``) and the armature comes back
    through a .blend: in one process that has loaded many scenes (a test session), Blender 4.2's bpy
    module now and then crashed inside the glTF operators' switch of the window's scene.
    """
    path = os.path.join(folder, name + ".blend")
    source = ["--mpfb", rig] if rig else ["--file", glb]
    done = subprocess.run([sys.executable, "-m", "training.rig_corpus.build", name, folder, *source],
                          cwd=ROOT, capture_output=True, text=True)
    if done.returncode != 0 or not os.path.isfile(path):
        raise RuntimeError(f"the glTF import of {rig or glb} failed (exit {done.returncode}):\n{done.stderr[-2000:]}")
    with bpy.data.libraries.load(path) as (_, loaded):
        loaded.objects = [name]
    obj = loaded.objects[0]
    bpy.context.scene.collection.objects.link(obj)
    bpy.context.view_layer.objects.active = obj
    return obj


def gltf_to_blend(name: str, folder: str, rig: str | None = None, glb: str | None = None) -> None:
    """``through_gltf``'s fresh process: the armature imported from ``glb``, or from the MPFB ``rig``
    (with ``skin_segments``, which glTF needs to keep a skeleton) exported to ``folder/name.glb``;
    saved alone as ``folder/name.blend``."""
    bpy.ops.wm.read_homefile(use_empty=True)
    if rig:
        obj = armature_from_bones(name, mpfb_rig(rig))
        skin = skin_segments(obj)
        glb = os.path.join(folder, name + ".glb")
        for other in bpy.context.view_layer.objects:
            other.select_set(other in (obj, skin))
        bpy.ops.export_scene.gltf(filepath=glb, export_format="GLB", use_selection=True, export_animations=False)
        bpy.ops.wm.read_homefile(use_empty=True)
        bpy.ops.import_scene.gltf(filepath=glb, bone_heuristic="TEMPERANCE")
    else:
        bpy.ops.import_scene.gltf(filepath=glb)
    imported = next(o for o in bpy.data.objects if o.type == "ARMATURE")
    imported.name = name
    bpy.data.libraries.write(os.path.join(folder, name + ".blend"), {imported})


def _rigify_metarig() -> bpy.types.Object:
    import addon_utils
    if not addon_utils.check("rigify")[1]:  # registering it again and again crashes Blender 4.2's bpy module
        addon_utils.enable("rigify", default_set=True)
    bpy.ops.object.armature_human_metarig_add()
    bpy.ops.object.mode_set(mode="OBJECT")
    return bpy.context.object


def available(name: str) -> bool:
    """Whether ``name`` can be built here (the X Bot needs GitHub once, to fetch it)."""
    return CORPUS[name][0] != "file:xbot" or xbot() is not None


def build(name: str, folder: str) -> CorpusRig:
    """One corpus rig, made in the current scene (``folder`` holds files a variant needs)."""
    how, preset, about = CORPUS[name]
    kind, _, variant = how.partition(":")
    if kind == "mpfb":
        rig, _, variant = variant.partition(":")
        if variant == "gltf":
            obj = through_gltf(name, folder, rig=rig)
        else:
            obj = armature_from_bones(name, mpfb_rig(rig), scale=100.0 if variant == "cm" else 1.0)
        if variant == "cm":
            obj.scale = (0.01, 0.01, 0.01)
        elif variant == "scrambled":
            scramble_tails(obj)
    elif kind == "file":
        path = xbot()
        if path is None:
            raise FileNotFoundError("Xbot.glb could not be fetched (no access to GitHub?); see training/rig_corpus/sources.py")
        obj = through_gltf(name, folder, glb=path)
    elif variant == "metarig":
        obj = _rigify_metarig()
    else:
        _rigify_metarig()
        bpy.ops.pose.rigify_generate()
        obj = bpy.context.object
    obj.name = name
    bpy.context.view_layer.update()
    return CorpusRig(name, obj, dict(PRESETS[preset]), PRESET_SWITCHES.get(preset, {}), about)


if __name__ == "__main__":
    import argparse
    parser = argparse.ArgumentParser(description="through_gltf's fresh Blender process (gltf_to_blend)")
    parser.add_argument("name")
    parser.add_argument("folder")
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--mpfb", help="an MPFB rig to export and import back")
    source.add_argument("--file", help="a .glb/.gltf file to import")
    args = parser.parse_args()
    gltf_to_blend(args.name, args.folder, args.mpfb, args.file)
    import shutil
    import bpy
    shutil.rmtree(bpy.app.tempdir, ignore_errors=True)  # os._exit skips Blender's own clean-up of it
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)  # Blender 4.2's bpy module crashes while the interpreter shuts down after the glTF operators
