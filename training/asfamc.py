"""CMU ASF/AMC reading and forward kinematics (numpy only).

In ASF a bone is given by its rest ``direction`` (world axes), ``length`` and a local frame
``axis`` (Euler angles); its position is where the bone *ends*. Each frame, a bone's world
matrix is ``parent @ C @ R(dof values) @ C^-1`` and its end lies at
``parent_end + length * matrix @ direction``. Euler angles compose as Rz @ Ry @ Rx (x applied
first), the usual reading of CMU's "XYZ" order. Lengths are in units of 1/length-scale inches:
with ``length 0.45`` one unit is 0.0254/0.45 = 0.056444 m.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .bvh import axis_rotation


class ASFError(ValueError):
    """The text is not a readable ASF or AMC file."""


@dataclass
class ASFBone:
    name: str
    direction: np.ndarray
    length: float
    axis: np.ndarray            # Euler angles in degrees, x, y, z
    dof: list[str] = field(default_factory=list)
    parent: str | None = None


@dataclass
class ASFSkeleton:
    bones: dict[str, ASFBone]   # insertion order: parents before children after sorting
    order: list[str]
    metres_per_unit: float
    root_order: list[str]


def euler_xyz(angles_deg: np.ndarray) -> np.ndarray:
    """Rz @ Ry @ Rx for angles (..., 3) in degrees."""
    angles = np.atleast_2d(angles_deg)
    return axis_rotation("Z", angles[:, 2]) @ axis_rotation("Y", angles[:, 1]) @ axis_rotation("X", angles[:, 0])


def parse_asf(text: str, source: str = "<asf>") -> ASFSkeleton:
    sections: dict[str, list[str]] = {}
    current = None
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith(":"):
            current = line.split()[0][1:]
            sections.setdefault(current, [])
            rest = line.split()[1:]
            if rest:
                sections[current].append(" ".join(rest))
        elif current:
            sections[current].append(line)
    if "bonedata" not in sections or "hierarchy" not in sections:
        raise ASFError(f"{source}: not an ASF file (no :bonedata or :hierarchy)")
    length_scale = 1.0
    for line in sections.get("units", []):
        parts = line.split()
        if parts[0] == "length":
            length_scale = float(parts[1])
        if parts[0] == "angle" and parts[1].lower() != "deg":
            raise ASFError(f"{source}: only degrees are supported")
    root_order = ["TX", "TY", "TZ", "RX", "RY", "RZ"]
    for line in sections.get("root", []):
        if line.startswith("order"):
            root_order = [p.upper() for p in line.split()[1:]]
    bones: dict[str, ASFBone] = {}
    bone: dict | None = None
    for line in sections["bonedata"]:
        parts = line.split()
        if parts[0] == "begin":
            bone = {}
        elif parts[0] == "end" and bone is not None:
            try:
                bones[bone["name"]] = ASFBone(bone["name"], np.array(bone["direction"], float), float(bone["length"]),
                                              np.array(bone["axis"][:3], float), bone.get("dof", []))
            except KeyError as exc:
                raise ASFError(f"{source}: bone without {exc}") from exc
            bone = None
        elif bone is not None and parts[0] in ("name", "length"):
            bone[parts[0]] = parts[1]
        elif bone is not None and parts[0] in ("direction", "axis", "dof"):
            bone[parts[0]] = parts[1:]
    for line in sections["hierarchy"]:
        parts = line.split()
        if parts[0] in ("begin", "end"):
            continue
        for child in parts[1:]:
            if child not in bones:
                raise ASFError(f"{source}: hierarchy names unknown bone {child!r}")
            bones[child].parent = parts[0]
    order: list[str] = []
    pending = ["root"]
    while pending:
        name = pending.pop(0)
        children = [b for b in bones.values() if b.parent == name]
        order.extend(b.name for b in children)
        pending.extend(b.name for b in children)
    return ASFSkeleton(bones, order, 0.0254 / length_scale, root_order)


def parse_amc(text: str, skeleton: ASFSkeleton, source: str = "<amc>") -> dict[str, np.ndarray]:
    """Per bone (and 'root') an array (F, values) in file order."""
    frames: list[dict[str, list[float]]] = []
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#") or line.startswith(":"):
            continue
        parts = line.split()
        if len(parts) == 1 and parts[0].isdigit():
            frames.append({})
            continue
        if not frames:
            raise ASFError(f"{source}: data before the first frame number")
        try:
            frames[-1][parts[0]] = [float(v) for v in parts[1:]]
        except ValueError as exc:
            raise ASFError(f"{source}: bad number in {line!r}") from exc
    if not frames:
        raise ASFError(f"{source}: no frames")
    names = set(frames[0])
    if "root" not in names:
        raise ASFError(f"{source}: frames lack the root")
    complete = [f for f in frames if set(f) == names]
    return {name: np.array([f[name] for f in complete]) for name in names}


def forward_kinematics(skeleton: ASFSkeleton, motion: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """World position of the root and of every bone's end, (F, 3) each, in metres, file axes (Y up)."""
    scale = skeleton.metres_per_unit
    root = motion["root"]
    frames = root.shape[0]
    order = skeleton.root_order
    translation = np.stack([root[:, order.index(a)] for a in ("TX", "TY", "TZ")], -1) * scale
    root_matrix = euler_xyz(np.stack([root[:, order.index(a)] for a in ("RX", "RY", "RZ")], -1))
    matrices = {"root": root_matrix}
    positions = {"root": translation}
    for name in skeleton.order:
        bone = skeleton.bones[name]
        c = euler_xyz(bone.axis)[0]
        angles = np.zeros((frames, 3))
        if bone.dof:
            values = motion.get(name)
            if values is None or values.shape[1] != len(bone.dof):
                raise ASFError(f"motion for bone {name!r} does not match its dof {bone.dof}")
            for k, dof in enumerate(bone.dof):
                angles[:, "xyz".index(dof[-1].lower())] = values[:, k]
        matrices[name] = matrices[bone.parent] @ c @ euler_xyz(angles) @ c.T
        positions[name] = positions[bone.parent] + bone.length * scale * matrices[name] @ bone.direction
    return positions


CMU_TO_H36M = {
    "pelvis": "root", "right_hip": "rhipjoint", "right_knee": "rfemur", "right_ankle": "rtibia",
    "left_hip": "lhipjoint", "left_knee": "lfemur", "left_ankle": "ltibia", "spine": "upperback",
    "thorax": "lowerneck", "left_shoulder": "lclavicle", "left_elbow": "lhumerus", "left_wrist": "lradius",
    "right_shoulder": "rclavicle", "right_elbow": "rhumerus", "right_wrist": "rradius",
}


def asfamc_to_h36m(skeleton: ASFSkeleton, motion: dict[str, np.ndarray]) -> np.ndarray:
    """17 joints (F, 17, 3), metres, Z up; head top synthesised along the head bone as for BVH."""
    return asfamc_joints(skeleton, motion)[0]


def asfamc_joints(skeleton: ASFSkeleton, motion: dict[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """The 17 joints (F, 17, 3) and the left and right toe bases (F, 2, 3: where the foot bones end),
    metres, Z up."""
    from core.skeleton import H36M_SKELETON

    from .mocap import HEAD_TOP_LENGTH, NOSE_FRACTION, y_up_to_z_up

    positions = forward_kinematics(skeleton, motion)
    frames = positions["root"].shape[0]
    out = np.empty((frames, 17, 3))
    for target, source in CMU_TO_H36M.items():
        out[:, H36M_SKELETON.index(target)] = positions[source]
    head_base, head_end = positions["upperneck"], positions["head"]
    up = (head_end - head_base) / np.linalg.norm(head_end - head_base, axis=-1, keepdims=True).clip(1e-9)
    out[:, H36M_SKELETON.index("head")] = head_base + HEAD_TOP_LENGTH * up
    out[:, H36M_SKELETON.index("neck_nose")] = head_base + NOSE_FRACTION * HEAD_TOP_LENGTH * up
    toes = np.stack([positions["lfoot"], positions["rfoot"]], axis=1)
    return y_up_to_z_up(out), y_up_to_z_up(toes)
