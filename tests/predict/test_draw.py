"""Drawn labels: one per object, placed where no earlier label covers them."""

from __future__ import annotations

import numpy as np

from picodet_cli.predict.draw import draw_detections, fold_duplicates, place_label


def det(class_id: int, score: float, box: tuple[float, float, float, float]) -> dict:
    return {"class_id": class_id, "name": f"c{class_id}", "score": score, "box": list(box)}


def test_same_box_other_class_is_folded_into_one_label():
    shown = fold_duplicates(
        [det(1, 0.4, (10, 10, 50, 50)), det(0, 0.9, (10, 10, 50, 51)), det(2, 0.8, (60, 60, 90, 90))]
    )
    assert [(d["class_id"], folded) for d, folded in shown] == [(0, 1), (2, 0)]
    same_class = fold_duplicates([det(0, 0.9, (10, 10, 50, 50)), det(0, 0.5, (10, 10, 50, 50))])
    assert len(same_class) == 2, "only another class's score of the same box is folded"


def test_labels_of_neighbouring_boxes_do_not_overlap():
    taken: list[tuple[int, int, int, int]] = []
    for box in [(100, 100, 200, 200), (105, 102, 205, 200), (110, 104, 210, 200)]:
        rect = place_label(box, (60, 14), (400, 300), taken)
        assert all(not (rect[0] < o[2] and o[0] < rect[2] and rect[1] < o[3] and o[1] < rect[3]) for o in taken)
        assert rect[0] >= 0 and rect[2] <= 400 and rect[1] >= 0 and rect[3] <= 300
        taken.append(rect)


def test_label_stays_inside_the_image_at_the_border():
    assert place_label((0, 0, 30, 30), (60, 14), (100, 100), []) == (0, 0, 60, 14)
    x1, y1, x2, y2 = place_label((90, 95, 100, 100), (60, 14), (100, 100), [])
    assert x2 <= 100 and y2 <= 100 and x1 >= 0 and y1 >= 0


def test_drawing_changes_pixels_under_each_label():
    image = np.full((120, 160, 3), 255, np.uint8)
    drawn = draw_detections(image, [det(0, 0.9, (20, 30, 80, 90)), det(1, 0.8, (22, 32, 82, 92))])
    assert drawn.shape == image.shape and (drawn != image).any() and (image == 255).all()
