"""How indexing progress is worded (`rag.progress.Progress.chunk_parts`), by `hearth docs add`
and by the window alike: the file named is counted with its own chunks, and a total over
several files says that it is one."""

from __future__ import annotations

import pytest

from app.commands.docs import ProgressPrinter
from rag.progress import Progress, StepReport

# R-FAQ.pdf's own 307 chunks among the 1,535 of five R manuals being indexed
BATCH = Progress(
    indexing=5,
    chunks_total=1535,
    chunks_done=254,
    current="R-FAQ.pdf",
    current_chunks=307,
    current_done=254,
)


def test_the_named_file_has_its_own_count_and_the_total_is_the_batchs() -> None:
    assert BATCH.chunk_parts() == [
        "R-FAQ.pdf 83% (254/307 chunks)",
        "5 files 17% (254/1535 chunks)",
    ]
    one = Progress(indexing=1, chunks_total=307, chunks_done=30, current="R-FAQ.pdf",
                   current_chunks=307, current_done=30)  # fmt: skip
    assert one.chunk_parts() == ["R-FAQ.pdf 10% (30/307 chunks)"]
    assert Progress().chunk_parts() == []
    unnamed = Progress(indexing=2, chunks_total=10, chunks_done=5)
    assert unnamed.chunk_parts() == ["2 files 50% (5/10 chunks)"]


def test_hearth_docs_add_prints_the_same_words(capsys: pytest.CaptureFixture[str]) -> None:
    ProgressPrinter()(StepReport(did_work=True, more=False, progress=BATCH))
    line = capsys.readouterr().err
    assert "R-FAQ.pdf 83% (254/307 chunks), 5 files 17% (254/1535 chunks)" in line
    assert "R-FAQ.pdf 17%" not in line


def test_the_window_says_it_the_same_way() -> None:
    pytest.importorskip("PySide6")
    from ui.documents_model import overall_text

    text = overall_text(BATCH)
    assert "R-FAQ.pdf 83% (254/307 chunks)" in text and "5 files 17% (254/1535 chunks)" in text
    assert overall_text(Progress(ready=2)) == "2 documents ready"


def test_before_any_progress_the_window_tallies_the_library() -> None:
    """At start-up nothing has been indexed yet: the line under the buttons says what the
    library holds instead of staying blank."""
    pytest.importorskip("PySide6")
    from types import SimpleNamespace

    from ui.documents_model import overall_text, resting_text

    rows = [SimpleNamespace(status=s) for s in ("ready", "ready", "failed", "missing")]
    assert resting_text(rows) == "2 documents ready · 1 failed · 1 missing"
    assert resting_text(rows) == overall_text(Progress(ready=2, failed=1, missing=1))
    assert resting_text(rows[:1]) == "1 document ready"
    assert resting_text([]) == ""
