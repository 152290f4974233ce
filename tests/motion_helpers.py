"""Numpy-only motion fixtures (usable where torch is absent, e.g. the Blender 4.2 tests)."""
import numpy as np

LENGTHS = np.array([0.12, 0.42, 0.42, 0.12, 0.42, 0.42, 0.25, 0.25, 0.12, 0.12, 0.15, 0.28, 0.25, 0.15, 0.28, 0.25])


def random_rotations(rng, shape, max_angle=1.2):
    axis = rng.normal(size=shape + (3,))
    axis /= np.linalg.norm(axis, axis=-1, keepdims=True)
    angle = rng.uniform(-max_angle, max_angle, shape)
    k = np.zeros(shape + (3, 3))
    k[..., 0, 1], k[..., 0, 2], k[..., 1, 2] = -axis[..., 2], axis[..., 1], -axis[..., 0]
    k = k - np.swapaxes(k, -1, -2)
    return np.eye(3) + np.sin(angle)[..., None, None] * k + (1 - np.cos(angle))[..., None, None] * (k @ k)


FOOT_LENGTHS = np.concatenate([LENGTHS, [0.14, 0.06, 0.14, 0.06]])   # ankle to ball, ball to toe tip, per foot


def rigid_motion(frames=40, seed=0, feet=False):
    """Random joint rotations of a rest skeleton: the 17 joints, or with ``feet`` FOOT_SKELETON's 21."""
    rng = np.random.default_rng(seed)
    from core.rotations import forward_kinematics, rest_pose
    from core.skeleton import FOOT_SKELETON, H36M_SKELETON
    skeleton = FOOT_SKELETON if feet else H36M_SKELETON
    rest = rest_pose(FOOT_LENGTHS if feet else LENGTHS, skeleton)
    rotations = random_rotations(rng, (frames, skeleton.num_joints))
    root = np.cumsum(rng.normal(0, 0.02, (frames, 3)), axis=0) + np.array([0, 0, 0.95])
    return forward_kinematics(root, rotations, rest, skeleton), rest
