"""Bake one motion onto a corpus rig and measure, from what Blender evaluates, how far it is.

- limb direction error: the angle between each mapped limb segment of the posed rig (from the
  bone's head to the point of the rig where the next joint is, see ``core.retarget.joint_points``)
  and the same segment of the lifted joints;
- hinge error: the angle between the rig's own knee or elbow axis (``core.retarget.rest_hinge_axes``,
  carried by the posed bone the lower limb hangs from) and the normal of the lifted limb's plane, on frames where
  the limb is bent by more than 15 degrees;
- feet: the lowest the rig's ankles get (world z, the floor is 0); with a motion that has feet, the
  largest angle between the rig's foot and toe segments and the motion's (``foot_direction_error_max_deg``);
- root scale: how far the rig's hips travel over how far the person's do, against the ratio of
  their leg lengths (the root motion's intended scale).
"""
from __future__ import annotations

import bpy
import numpy as np

from core.retarget import HINGES, angle_deg, joint_points, rest_hinge_axes, resolve_mapping
from core.skeleton import FOOT_SKELETON

from .build import CorpusRig

SK = FOOT_SKELETON
MEASURED_BEND_DEG = 15.0
LIMBS = [rule for pair in HINGES.items() for rule in (pair[0], pair[1][0])]
FEET = [f"{s}_ankle>{s}_ball" for s in ("left", "right")] + [f"{s}_ball>{s}_toe" for s in ("left", "right")]


def measure(rig: CorpusRig, joints_world: np.ndarray, addon_bake, frames: list[int] | None = None) -> dict:
    """Bake ``joints_world`` (T, 17 or 21, 3) onto ``rig`` with the add-on's bake module (as the built
    extension vendors it); the figures."""
    obj = rig.obj
    addon_bake.bake_onto_rig(obj, joints_world, rig.mapping, frame_start=1, switches=rig.switches or None)
    bones = addon_bake.target_bones(obj)
    resolved = resolve_mapping(rig.mapping, [b.name for b in bones])
    points = joint_points(bones, resolved)
    hinges = rest_hinge_axes(bones, resolved)
    by_rule = {rule: b for b, rule in resolved.items()}
    scene = bpy.context.scene
    frames = frames or list(range(len(joints_world)))
    world = np.array(obj.matrix_world)
    limb_errors, hinge_errors, foot_errors, ankles, hips = [], [], [], [], []
    with_feet = joints_world.shape[1] == SK.num_joints
    for t in frames:
        scene.frame_set(1 + t)
        posed = {}
        for joint, (b, end) in points.items():
            pose_bone = obj.pose.bones[bones[b].name]
            point = pose_bone.head if end == "head" else pose_bone.tail
            posed[joint] = (world @ np.append(np.array(point), 1.0))[:3]
        lifted = joints_world[t]
        for rule in LIMBS + (FEET if with_feet else []):
            if rule in by_rule:
                a, e = rule.split(">")
                error = angle_deg(posed[e] - posed[a], lifted[SK.index(e)] - lifted[SK.index(a)])
                (limb_errors if rule in LIMBS else foot_errors).append(error)
        for upper_bone, rest_axis in hinges.items():
            rule = resolved[upper_bone]
            a, m = rule.split(">")
            e = HINGES[rule][0].split(">")[1]
            upper, lower = lifted[SK.index(m)] - lifted[SK.index(a)], lifted[SK.index(e)] - lifted[SK.index(m)]
            if angle_deg(upper, lower) < MEASURED_BEND_DEG:
                continue
            carrier = bones[by_rule[HINGES[rule][0]]].parent  # the bone the lower limb hangs from (past twist bones)
            pose_bone = obj.pose.bones[bones[carrier].name]
            posed_rotation = np.array(pose_bone.matrix)[:3, :3]
            posed_rotation /= np.linalg.norm(posed_rotation, axis=0)
            axis = world[:3, :3] @ posed_rotation @ bones[carrier].rest_rotation.T @ rest_axis
            normal = np.cross(upper, lower)
            hinge_errors.append(min(angle_deg(axis, normal), angle_deg(axis, -normal)))
        ankles += [posed[f"{s}_ankle"][2] for s in ("left", "right") if f"{s}_ankle" in posed]
        hips.append((world @ np.append(np.array(obj.pose.bones[bones[by_rule["pelvis_frame"]].name].head), 1.0))[:3])
    intended = addon_bake.root_scale(obj, bones, resolved, joints_world)  # what the bake scaled the root by
    travelled = np.linalg.norm(hips[-1][:2] - hips[0][:2])
    person = np.linalg.norm(joints_world[frames[-1], 0, :2] - joints_world[frames[0], 0, :2])
    return {
        "rig": rig.name, "about": rig.about, "bones": len(bones), "frames_checked": len(frames),
        "limb_direction_error_max_deg": round(float(np.max(limb_errors)), 3),
        "limb_direction_error_median_deg": round(float(np.median(limb_errors)), 3),
        "hinge_error_median_deg": round(float(np.median(hinge_errors)), 3) if hinge_errors else None,
        "hinge_error_p90_deg": round(float(np.percentile(hinge_errors, 90)), 3) if hinge_errors else None,
        "hinges_measured": len(hinge_errors),
        "foot_direction_error_max_deg": round(float(np.max(foot_errors)), 3) if foot_errors else None,
        "foot_segments_measured": len({r for r in FEET if r in by_rule}) if with_feet else 0,
        "lowest_ankle_m": round(float(np.min(ankles)), 4),
        "root_scale": round(float(travelled / person), 4) if person > 1e-6 else None,
        "root_scale_intended": round(float(intended), 4),
        "root_scale_error_pct": round(float(100 * abs(travelled / person / intended - 1)), 2) if person > 1e-6 else None,
    }

