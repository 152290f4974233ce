"""The square-crop search for people too small in a wide frame, with a stand-in detector that sees white boxes.

The stand-in finds every white box wholly or partly inside the image it is given and, as BlazePose does for
a person cut by the image's border, reaches its landmarks a little beyond that border; so the search's own
rules (which crops, which people to keep, when to scan) are tested without mediapipe.
"""
import numpy as np
import pytest

from core.crop_search import (SCAN_INTERVAL, SQUARE_STEP, SquareCropSearch, cut_by_crop, cut_by_frame, square_around,
                              square_crops)

WIDTH, HEIGHT = 960, 320


def frame_with(*boxes: tuple[int, int, int, int]) -> np.ndarray:
    """A black wide frame with a white box (x0, y0, x1, y1) for each person."""
    frame = np.zeros((HEIGHT, WIDTH, 3), np.uint8)
    for x0, y0, x1, y1 in boxes:
        frame[max(y0, 0):y1, max(x0, 0):x1] = 255
    return frame


class BoxDetector:
    """Finds the white boxes of an image: 33 landmarks on a grid over each, reaching 15 px past a border that cuts it."""

    def __init__(self):
        self.images = []

    def __call__(self, image: np.ndarray):
        self.images.append(image.shape)
        white = image[..., 0] > 0
        people = []
        columns = np.flatnonzero(white.any(axis=0))
        if len(columns):
            for run in np.split(columns, np.flatnonzero(np.diff(columns) > 1) + 1):
                rows = np.flatnonzero(white[:, run].any(axis=1))
                x0, x1, y0, y1 = run[0], run[-1], rows[0], rows[-1]
                x0, y0 = x0 - 15 * (x0 == 0), y0 - 15 * (y0 == 0)
                x1, y1 = x1 + 15 * (x1 == image.shape[1] - 1), y1 + 15 * (y1 == image.shape[0] - 1)
                grid = np.stack(np.meshgrid(np.linspace(x0, x1, 3), np.linspace(y0, y1, 11)), -1).reshape(33, 2)
                people.append(np.concatenate([grid, np.zeros((33, 1))], axis=1))
        n = len(people)
        return (np.array(people, np.float32).reshape(n, 33, 3), np.full((n, 33), 0.9, np.float32),
                np.zeros((n, 33, 3), np.float32))


DETECT = BoxDetector()


def test_square_crops_span_the_long_side_and_overlap():
    for width, height in ((960, 540), (1920, 1080), (1491, 497), (540, 960), (1000, 999), (4000, 500)):
        crops = square_crops(width, height)
        side = min(width, height)
        starts = sorted(c[0] if width >= height else c[1] for c in crops)
        assert all(s == side for _, _, s in crops)
        assert all(0 <= x and x + side <= width and 0 <= y and y + side <= height for x, y, _ in crops)
        assert starts[0] == 0 and starts[-1] + side == max(width, height)          # both ends reached
        assert all(b - a <= SQUARE_STEP * side for a, b in zip(starts, starts[1:]))  # neighbours overlap
    assert square_crops(700, 700) == [(0, 0, 700)]


def test_the_square_around_a_person_stays_inside_the_frame():
    assert square_around(np.array([480.0, 100.0]), 960, 320) == (320, 0, 320)
    assert square_around(np.array([30.0, 100.0]), 960, 320) == (0, 0, 320)
    assert square_around(np.array([950.0, 100.0]), 960, 320) == (640, 0, 320)
    assert square_around(np.array([100.0, 900.0]), 320, 960) == (0, 640, 320)


def test_a_person_reaching_a_cut_through_the_frame_is_left_to_the_neighbouring_crop():
    person = np.zeros((33, 3))
    person[:, 0] = np.linspace(400, 530, 33)   # x: up to 10 px from the right side of the crop at 0-540
    person[:, 1] = np.linspace(100, 400, 33)
    assert cut_by_crop(person, 0, 0, 540, 960, 540)          # that side cuts through a 960-wide frame
    assert not cut_by_crop(person, 0, 0, 540, 540, 540)      # there it is the frame's own border
    assert not cut_by_crop(person - [300, 0, 0], 0, 0, 540, 960, 540)   # well inside
    assert cut_by_crop(person + [20, 0, 0], 420, 0, 540, 960, 540)      # at the left side of the crop at 420


def test_a_person_with_any_landmark_outside_the_frame_is_cut_by_it():
    person = np.zeros((33, 3))
    person[:, 0] = np.linspace(100, 200, 33)
    person[:, 1] = np.linspace(50, 300, 33)
    assert not cut_by_frame(person, 960, 320)
    assert cut_by_frame(person - [101, 0, 0], 960, 320)
    assert cut_by_frame(person + [0, 20, 0], 960, 320)       # feet below the bottom


def test_a_small_person_is_found_in_the_frames_pixels_once_and_then_followed_in_one_square():
    search = SquareCropSearch(max_people=2)
    points, visibility, world = search.find(frame_with((430, 100, 470, 250)), DETECT)   # inside two overlapping squares
    assert points.shape == (1, 33, 3) and visibility.shape == (1, 33) and world.shape == (1, 33, 3)
    assert points[0, :, 0].min() == pytest.approx(430) and points[0, :, 0].max() == pytest.approx(469)
    assert points[0, :, 1].min() == pytest.approx(100) and points[0, :, 1].max() == pytest.approx(249)
    assert search.crops_looked_at == len(square_crops(WIDTH, HEIGHT)) == 4
    points, _, _ = search.find(frame_with((440, 100, 480, 250)), DETECT)   # next frame: only the square around him
    assert len(points) == 1 and search.crops_looked_at == 5
    assert points[0, :, 0].min() == pytest.approx(440)


def test_people_found_in_different_squares_are_all_kept_up_to_max_people():
    found, _, _ = SquareCropSearch(max_people=4).find(frame_with((50, 50, 90, 200), (800, 50, 840, 200)), DETECT)
    assert sorted(found[:, :, 0].min(axis=1).tolist()) == [50, 800]
    assert len(SquareCropSearch(max_people=1).find(frame_with((50, 50, 90, 200), (800, 50, 840, 200)), DETECT)[0]) == 1


def test_a_person_partly_out_of_the_frame_is_not_taken_from_a_crop():
    search = SquareCropSearch(max_people=2)
    assert len(search.find(frame_with((-20, 100, 30, 250)), DETECT)[0]) == 0      # cut by the left border
    search = SquareCropSearch(max_people=2)
    assert len(search.find(frame_with((500, 200, 540, 320)), DETECT)[0]) == 0     # feet below the bottom


def test_a_frame_showing_nobody_is_scanned_at_once_and_then_once_every_scan_interval_frames():
    search = SquareCropSearch(max_people=1)
    empty = frame_with()
    looked = []
    for _ in range(3 * SCAN_INTERVAL):
        assert len(search.find(empty, DETECT)[0]) == 0
        looked.append(search.crops_looked_at)
    crops = len(square_crops(WIDTH, HEIGHT))
    assert looked[0] == crops                      # the first frame is scanned
    assert looked[-1] == 3 * crops                 # then one scan every SCAN_INTERVAL + 1 frames
    search.found_in_whole_frame(np.zeros((0, 33, 3)))   # nobody there either: no scan before the interval
    search.find(empty, DETECT)
    assert search.crops_looked_at == 3 * crops


def test_a_person_the_whole_frame_showed_is_looked_for_first_in_the_square_around_him():
    search = SquareCropSearch(max_people=1)
    for _ in range(2):
        search.find(frame_with(), DETECT)   # a scan, then waiting for the next
    before = search.crops_looked_at
    whole = BoxDetector()(frame_with((700, 100, 760, 250)))[0]
    search.found_in_whole_frame(whole)
    points, _, _ = search.find(frame_with((705, 100, 765, 250)), DETECT)   # now too small for the whole frame
    assert len(points) == 1 and search.crops_looked_at == before + 1
    search.found_in_whole_frame(whole)
    points, _, _ = search.find(frame_with((50, 100, 90, 250)), DETECT)     # not there: every square at once
    assert len(points) == 1 and search.crops_looked_at == before + 2 + len(square_crops(WIDTH, HEIGHT))


def test_a_person_lost_from_the_followed_square_is_searched_for_in_every_square_at_once():
    search = SquareCropSearch(max_people=1)
    search.find(frame_with((100, 100, 140, 250)), DETECT)
    before = search.crops_looked_at
    points, _, _ = search.find(frame_with((800, 100, 840, 250)), DETECT)   # he jumped out of the followed square
    assert len(points) == 1 and points[0, :, 0].min() == pytest.approx(800)
    assert search.crops_looked_at == before + 1 + len(square_crops(WIDTH, HEIGHT))


def test_square_frames_are_not_searched_and_the_scan_interval_is_checked():
    detector = BoxDetector()
    search = SquareCropSearch(max_people=1)
    assert len(search.find(np.zeros((300, 300, 3), np.uint8), detector)[0]) == 0 and not detector.images
    with pytest.raises(ValueError, match="scan_interval"):
        SquareCropSearch(max_people=1, scan_interval=0)
