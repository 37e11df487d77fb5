"""Text drawn twice in one place (a CSS text-shadow, a faked bold face) read once."""

from __future__ import annotations

from rag.overdraw import Parts, Piece, device_origin, without_copies


def test_a_shadowed_heading_is_read_once() -> None:
    # Chrome: the shadow of each run of a heading, one pixel off, then the run itself
    pieces = [
        Piece("3.1. ", 30.0, 100.75, 16.2),
        Piece("3.1. ", 30.0, 100.0, 16.2),
        Piece("Versions", 58.8, 100.75, 16.2),
        Piece("Versions", 58.8, 100.0, 16.2),
        Piece("\n", 0.0, 0.0, 0.0),
        Piece("At any given time.", 22.5, 130.0, 10.8),
    ]
    assert without_copies(pieces) == "3.1. Versions\nAt any given time."


def test_a_faked_bold_face_drawn_four_times_is_read_once() -> None:
    pieces = [Piece("Warning", 50 + dx, 700.0, 12.0) for dx in (0.0, 0.3, 0.6, 0.9)]
    assert without_copies(pieces + [Piece(" keep", 96.0, 700.0, 12.0)]) == "Warning keep"


def test_the_same_text_elsewhere_is_kept() -> None:
    pieces = [
        Piece("l", 100.0, 500.0, 10.0),
        Piece("l", 102.3, 500.0, 10.0),  # the next narrow letter: 0.23 em on
        Piece("\n", 0.0, 0.0, 0.0),
        Piece("Total", 100.0, 488.0, 10.0),  # the same word a line below
        Piece("Total", 100.0, 476.0, 10.0),
    ]
    assert without_copies(pieces) == "ll\nTotalTotal"


def test_parts_collects_what_pypdf_hands_it() -> None:
    parts = Parts()
    # Chrome's page: CSS pixels scaled by 0.75, y downwards; the shadow is 1 px lower
    cm = [0.75, 0.0, 0.0, -0.75, 0.0, 2236.5]
    parts("Title", cm, [1.0, 0.0, 0.0, -1.0, 40.0, 1989.0], None, 21.59)
    parts("Title", [0.75, 0, 0, -0.75, 0, 2237.25], [1, 0, 0, -1, 40, 1989], None, 21.59)
    x, y, size = device_origin(cm, [1.0, 0.0, 0.0, -1.0, 40.0, 1989.0], 21.59)
    assert (round(x, 2), round(y, 2), round(size, 2)) == (30.0, 744.75, round(21.59 * 0.75, 2))
    assert parts.text("TitleTitle") == "Title"
    # pieces that do not add up to what was extracted: the extracted text as it is
    assert parts.text("Title and more") == "Title and more"


def test_a_hostile_matrix_does_not_fail_the_page() -> None:
    parts = Parts()
    parts("x", [float("inf")] * 6, [1, 0, 0, 1, 0, 0], None, 10)
    parts("x", [], [], None, 10)
    assert parts.text("xx") == "xx"
