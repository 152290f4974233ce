import numpy as np
import pytest

from core.skeleton import H36M_SKELETON
from tests.helpers import standing_person as _standing_person
from training.augment import (CLEAN, DEFINITION_RANGES, FRAME_SIZES, LIMBS, corrupt_2d, jitter_definitions,
                              make_pairs, NoiseSettings, random_bone_scales, rotate_limbs, sample_windows, scale_bones,
                              swap_limbs)


def test_bone_scaling_scales_lengths_symmetrically():
    windows = _standing_person()[None]
    rng = np.random.default_rng(0)
    scales = random_bone_scales(rng, 1)
    scaled = scale_bones(windows.astype(np.float64), scales)
    before, after = H36M_SKELETON.bone_lengths(windows[0, 0]), H36M_SKELETON.bone_lengths(scaled[0, 0])
    np.testing.assert_allclose(after, before * scales[0, 1:], rtol=1e-5)
    np.testing.assert_allclose(after[H36M_SKELETON.joints_left[0] - 1], after[H36M_SKELETON.joints_right[0] - 1])


def _turning(windows: np.ndarray) -> np.ndarray:
    """The windows with the body turning about the vertical axis, a little more every frame."""
    angles = np.linspace(0, np.pi, windows.shape[1])
    c, s = np.cos(angles), np.sin(angles)
    spin = np.stack([np.stack([c, -s, 0 * c], -1), np.stack([s, c, 0 * c], -1), np.stack([0 * c, 0 * c, 1 + 0 * c], -1)], -2)
    return np.einsum("tij,btkj->btki", spin, windows)


def test_joint_definitions_move_alone_mirrored_and_with_the_body():
    windows = _turning(np.repeat(_standing_person()[None].astype(np.float64), 6, 0))
    jittered = jitter_definitions(windows, np.random.default_rng(3))
    sk = H36M_SKELETON
    moved = np.linalg.norm(jittered - windows, axis=-1).max(axis=(0, 1)) > 1e-9
    expected = {n for n in sk.names if n in DEFINITION_RANGES or n.split("_", 1)[-1] in DEFINITION_RANGES}
    assert {n for n, m in zip(sk.names, moved) if m} == expected          # knees, elbows, wrists, ankles stay
    assert not moved[[sk.index(n) for n in sk.names if n not in expected]].any()
    # each offset is fixed in the body's own frame: the same in every frame while the body turns
    left = windows[:, :, sk.index("left_hip")] - windows[:, :, sk.index("right_hip")]
    left /= np.linalg.norm(left, axis=-1, keepdims=True)
    for name in ("left_shoulder", "right_hip", "head", "spine"):
        offset = jittered[:, :, sk.index(name)] - windows[:, :, sk.index(name)]
        sideways, upwards = (offset * left).sum(-1), offset[..., 2]
        np.testing.assert_allclose(sideways, sideways[:, :1].repeat(sideways.shape[1], 1), atol=1e-9)
        np.testing.assert_allclose(upwards, upwards[:, :1].repeat(upwards.shape[1], 1), atol=1e-9)
        assert np.ptp(np.linalg.norm(offset, axis=-1)[:, 0]) > 1e-3        # but differs between windows
    # left and right move mirrored: outwards by the same amount, up by the same amount
    for name in ("hip", "shoulder"):
        left_offset = jittered[:, 0, sk.index("left_" + name)] - windows[:, 0, sk.index("left_" + name)]
        right_offset = jittered[:, 0, sk.index("right_" + name)] - windows[:, 0, sk.index("right_" + name)]
        np.testing.assert_allclose((left_offset * left[:, 0]).sum(-1), -(right_offset * left[:, 0]).sum(-1), atol=1e-9)
        np.testing.assert_allclose(left_offset[:, 2], right_offset[:, 2], atol=1e-9)
        outwards = (left_offset * left[:, 0]).sum(-1)
        low, high = DEFINITION_RANGES[name][0]
        assert np.all((outwards >= low - 1e-9) & (outwards <= high + 1e-9))


def test_swapped_arms_move_as_the_donor_s_do_on_the_receiver_s_turning_body():
    sk = H36M_SKELETON
    rng = np.random.default_rng(5)
    frames = 8
    receiver = _turning(_standing_person(frames)[None].astype(np.float64))[0]   # turns about the vertical
    donor = _standing_person(frames).astype(np.float64)
    elbow, wrist = sk.index("left_elbow"), sk.index("left_wrist")
    left = donor[0, sk.index("left_shoulder")] - donor[0, sk.index("right_shoulder")]
    front = np.cross(left, [0.0, 0.0, 1.0])
    front /= np.linalg.norm(front)
    raised = np.linspace(0, 1.2, frames)[:, None]               # the donor raises its left forearm to the front
    forearm = np.linalg.norm(donor[0, wrist] - donor[0, elbow])
    donor[:, wrist] = donor[:, elbow] + forearm * (np.sin(raised) * front - np.cos(raised) * np.array([0.0, 0, 1]))
    donor[:, :, 1] += 3.0                                      # elsewhere in the room
    out = swap_limbs(np.stack([receiver, donor]), rng, {"arms": 1.0})
    # the receiver took the donor's arms: the same lengths, the same angles to its own trunk ...
    arms = LIMBS["arms"][1]
    for shoulder, *limb in arms.values():
        for joint in limb:
            giving = donor[:, joint] - donor[:, shoulder]
            taking = out[0, :, joint] - out[0, :, shoulder]
            np.testing.assert_allclose(np.linalg.norm(taking, axis=-1), np.linalg.norm(giving, axis=-1), atol=1e-5)
            trunk_donor = donor[:, sk.index("thorax")] - donor[:, sk.index("spine")]
            trunk_taker = out[0, :, sk.index("thorax")] - out[0, :, sk.index("spine")]
            np.testing.assert_allclose((taking * trunk_taker).sum(-1), (giving * trunk_donor).sum(-1), atol=1e-5)
    # ... and turns with its own body: the raised forearm points the way the receiver faces
    facing = np.cross(out[0, -1, sk.index("left_shoulder")] - out[0, -1, sk.index("right_shoulder")], [0.0, 0.0, 1.0])
    last = out[0, -1, wrist] - out[0, -1, elbow]
    assert np.dot(last / np.linalg.norm(last), facing / np.linalg.norm(facing)) > 0.85
    assert np.dot(facing / np.linalg.norm(facing), front) < -0.9    # (it has turned half round by then)
    untouched = [j for j in range(len(sk.names)) if j not in arms["left"][1:] + arms["right"][1:]]
    np.testing.assert_allclose(out[0][:, untouched], receiver[:, untouched], atol=1e-6)   # trunk, head, legs stay
    np.testing.assert_allclose(swap_limbs(np.stack([receiver, donor]), rng, {"arms": 0.0, "legs": 0.0}),
                               np.stack([receiver, donor]), atol=1e-6)


def test_swapped_legs_keep_their_lengths_and_leave_the_rest_of_the_body():
    sk = H36M_SKELETON
    rng = np.random.default_rng(2)
    walking = _standing_person(6).astype(np.float64)
    kicking = _standing_person(6).astype(np.float64)
    kicking[:, sk.index("right_ankle")] = kicking[:, sk.index("right_knee")] + [0.45, 0.0, 0.0]   # shin out in front
    out = swap_limbs(np.stack([walking, kicking]), rng, {"legs": 1.0})
    legs = [j for side in LIMBS["legs"][1].values() for j in side[1:]]
    np.testing.assert_allclose(np.delete(out[0], legs, axis=1), np.delete(walking, legs, axis=1), atol=1e-6)
    np.testing.assert_allclose(np.delete(out[1], legs, axis=1), np.delete(kicking, legs, axis=1), atol=1e-6)
    shin = np.linalg.norm(out[0, :, sk.index("right_ankle")] - out[0, :, sk.index("right_knee")], axis=-1)
    np.testing.assert_allclose(shin, 0.45, atol=1e-5)            # the walker took the kick ...
    np.testing.assert_allclose(out[1][:, legs], walking[:, legs], atol=1e-5)   # ... and the kicker the walk


def _body_frame(windows: np.ndarray) -> np.ndarray:
    """Per frame rows (left, up, forward) of the trunk, as the test sees it: shoulders and spine to thorax."""
    sk = H36M_SKELETON
    left = windows[..., sk.index("left_shoulder"), :] - windows[..., sk.index("right_shoulder"), :]
    left /= np.linalg.norm(left, axis=-1, keepdims=True)
    up = windows[..., sk.index("thorax"), :] - windows[..., sk.index("spine"), :]
    up -= (up * left).sum(-1, keepdims=True) * left
    up /= np.linalg.norm(up, axis=-1, keepdims=True)
    return np.stack([left, up, np.cross(left, up)], axis=-2)


def test_turned_arms_keep_their_shape_and_turn_once_per_window_in_the_body_s_frame():
    sk = H36M_SKELETON
    person = _standing_person(8).astype(np.float64)
    elbow, wrist = sk.index("left_elbow"), sk.index("left_wrist")
    forearm = np.linalg.norm(person[0, wrist] - person[0, elbow])
    person[:, wrist] = person[:, elbow] + forearm * np.array([0.0, -0.6, -0.8])     # the left forearm bent forwards
    windows = _turning(np.repeat(person[None], 40, 0))                               # 40 bodies turning half round
    out = rotate_limbs(windows, np.random.default_rng(4), {"arms": 1.0}, {"arms": 40.0})
    arms = [j for side in LIMBS["arms"][1].values() for j in side[1:]]
    np.testing.assert_allclose(np.delete(out, arms, axis=2), np.delete(windows, arms, axis=2), atol=1e-6)
    frames_before, frames_after = _body_frame(windows), _body_frame(out)
    turns = []
    for shoulder, upper, lower in LIMBS["arms"][1].values():
        for a, b in ((shoulder, upper), (upper, lower)):        # the same bone lengths ...
            np.testing.assert_allclose(np.linalg.norm(out[:, :, b] - out[:, :, a], axis=-1),
                                       np.linalg.norm(windows[:, :, b] - windows[:, :, a], axis=-1), atol=1e-5)
        bend = lambda w: ((w[:, :, shoulder] - w[:, :, upper]) * (w[:, :, lower] - w[:, :, upper])).sum(-1)
        np.testing.assert_allclose(bend(out), bend(windows), atol=1e-5)              # ... and elbow angle
        # in the trunk's own frame the turned upper arm points the same way in every frame
        local = np.einsum("btij,btj->bti", frames_after, out[:, :, upper] - out[:, :, shoulder])
        np.testing.assert_allclose(local, local[:, :1].repeat(local.shape[1], 1), atol=1e-5)
        original = np.einsum("btij,btj->bti", frames_before, windows[:, :, upper] - windows[:, :, shoulder])
        cosine = (local[:, 0] * original[:, 0]).sum(-1) / np.linalg.norm(local[:, 0], axis=-1) ** 2
        turns.append(np.degrees(np.arccos(cosine.clip(-1, 1))))
    turns = np.array(turns)                                       # (2 arms, 40 windows)
    assert turns.max() <= 40.0 + 1e-3 and turns.max() > 20.0     # up to the limit, and well away from the mocap
    assert np.abs(turns[0] - turns[1]).max() > 5.0                # each arm its own turn
    # a share of 0 changes nothing; legs are turned about the hips and the arms then stay
    np.testing.assert_allclose(rotate_limbs(windows, np.random.default_rng(1), {"arms": 0.0, "legs": 0.0}), windows,
                               atol=1e-6)
    legs_only = rotate_limbs(windows, np.random.default_rng(1), {"legs": 1.0})
    legs = [j for side in LIMBS["legs"][1].values() for j in side[1:]]
    np.testing.assert_allclose(np.delete(legs_only, legs, axis=2), np.delete(windows, legs, axis=2), atol=1e-6)
    assert np.abs(legs_only[:, :, legs] - windows[:, :, legs]).max() > 0.05


def test_clean_pairs_reproject_exactly_and_targets_are_root_relative():
    rng = np.random.default_rng(1)
    pairs = make_pairs(np.repeat(_standing_person()[None], 8, 0), rng, CLEAN, augment_bones=False, allow_flip=False)
    assert np.all(pairs.poses_3d[:, :, 0] == 0)
    assert np.all(pairs.roots[..., 2] > 0.5)  # always in front of the camera
    from core.camera import project_to_2d
    projected = project_to_2d(pairs.poses_3d + pairs.roots, pairs.intrinsics[:, None, None, :])
    np.testing.assert_allclose(projected, pairs.inputs_2d, atol=1e-4)
    # Cameras see the person upright: head above the pelvis in the image (smaller y).
    assert np.all(pairs.inputs_2d[:, :, H36M_SKELETON.index("head"), 1] < pairs.inputs_2d[:, :, 0, 1])


def _inside_frame(inputs_2d: np.ndarray) -> bool:
    """Normalized x spans [-1, 1] for every frame shape; y spans at most the tallest shape's height / width."""
    tallest = max(h / w for w, h in FRAME_SIZES)
    return bool(np.all(np.abs(inputs_2d[..., 0]) <= 1 + 1e-5) and np.all(np.abs(inputs_2d[..., 1]) <= tallest + 1e-5))


def test_person_is_inside_the_frame():
    rng = np.random.default_rng(2)
    pairs = make_pairs(np.repeat(_standing_person()[None], 64, 0), rng, CLEAN)
    assert _inside_frame(pairs.inputs_2d)


def _long_walk(windows: int) -> np.ndarray:
    """8 m along x in 300 frames: a camera placed for the mean position alone loses the walker at the ends."""
    walk = _standing_person(300)[:1] + np.linspace(-4, 4, 300)[:, None, None] * np.array([1.0, 0, 0], np.float32)
    return np.repeat(walk[None], windows, 0)


def test_a_long_walk_stays_inside_the_frame_in_every_frame():
    pairs = make_pairs(_long_walk(32), np.random.default_rng(5), CLEAN)
    assert _inside_frame(pairs.inputs_2d)
    assert np.all(pairs.roots[..., 2] > 0.5)


def test_detector_noise_scales_with_person_size():
    keypoints = np.zeros((2, 200, 17, 2), np.float32)
    noisy = corrupt_2d(keypoints, np.array([100.0, 1000.0]), np.random.default_rng(3), NoiseSettings(0.01, 0, 0, 0, 0, 0))
    small, large = noisy[0].std(), noisy[1].std()
    assert 0.8 < small < 1.2 and 8 < large < 12


def test_windows_repeat_clip_edges():
    clip = np.arange(5, dtype=np.float32)[:, None, None] * np.ones((1, 17, 3), np.float32)
    windows = sample_windows([clip], 50, 9, np.random.default_rng(4))
    assert windows.shape == (50, 9, 17, 3)
    assert windows.min() == 0 and windows.max() == 4
    assert np.all(np.diff(windows[:, :, 0, 0], axis=1) >= 0)


def test_training_may_let_a_share_of_windows_leave_the_frame():
    free = make_pairs(_long_walk(64), np.random.default_rng(6), CLEAN, may_leave_frame=1.0)
    leaves = [not _inside_frame(window) for window in free.inputs_2d]
    assert 0 < sum(leaves) < 64  # the first camera is kept, in frame or not
    assert np.all(free.roots[..., 2] > 0.5)  # still never too close to the camera


def test_source_weighting_gives_each_source_its_share_of_the_windows():
    """Exponent 0: every source alike however many frames it has; 1: every frame alike, as before."""
    from training.augment import source_weights
    lengths, sources = [100, 300, 50, 25, 25], ["big", "big", "middle", "small", "small"]
    alike = source_weights(lengths, sources, 0.0)
    assert np.allclose([alike[:2].sum(), alike[2], alike[3:].sum()], 1 / 3)
    assert np.isclose(alike[1], 3 * alike[0])                    # within a source, by length
    assert np.allclose(source_weights(lengths, sources, 1.0), np.array(lengths) / 500)
    half = source_weights(lengths, sources, 0.5)
    assert np.isclose(half[:2].sum() / half[2], 20 / np.sqrt(50))
    clips = [np.full((n, 17, 3), i, np.float32) for i, n in enumerate(lengths)]
    drawn = sample_windows(clips, 6000, 3, np.random.default_rng(0), alike)[:, 0, 0, 0]
    assert abs(np.mean(drawn >= 3) - 1 / 3) < 0.03                # the two small clips: a third of the windows
    with pytest.raises(ValueError, match="between 0 and 1"):
        source_weights(lengths, sources, 1.5)
