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


def rigid_motion(frames=40, seed=0):
    rng = np.random.default_rng(seed)
    from core.rotations import forward_kinematics, rest_pose
    rest = rest_pose(LENGTHS)
    rotations = random_rotations(rng, (frames, 17))
    root = np.cumsum(rng.normal(0, 0.02, (frames, 3)), axis=0) + np.array([0, 0, 0.95])
    return forward_kinematics(root, rotations, rest), rest
