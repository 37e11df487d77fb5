"""The words and the bar that show how far the prompt is read (app/prompt_progress.py), and
how finely the engine reports it (engine.llama_engine.progress_step)."""

from __future__ import annotations

import io

from app.prompt_progress import progress_bar, prompt_progress_text, stderr_progress
from engine.llama_engine import progress_step


def test_the_text_says_what_is_read_and_how_far() -> None:
    assert prompt_progress_text(594, 1320, 6) == "Reading 6 passages · 1,320 tokens · 45 %"
    assert prompt_progress_text(0, 300, 1) == "Reading 1 passage · 300 tokens · 0 %"
    assert prompt_progress_text(10, 300) == "Reading the prompt · 300 tokens · 3 %"
    assert prompt_progress_text(300, 300) == ""  # read: the answer follows
    assert progress_bar(5, 10, width=10) == "[#####-----]"


def test_a_long_prompt_is_read_in_about_eight_steps_of_at_least_128_tokens() -> None:
    assert progress_step(1320, 512) == 165
    assert progress_step(300, 512) == 128
    assert progress_step(100_000, 512) == 512
    assert progress_step(50, 64) == 64


def test_the_command_line_writes_a_line_per_step_when_not_on_a_terminal() -> None:
    out = io.StringIO()
    report = stderr_progress(2, out)
    report(0, 100)  # read in one step: nothing to watch
    for done in (0, 400, 800):
        report(done, 800)
    assert out.getvalue().splitlines() == [
        "Reading 2 passages · 800 tokens · 0 %",
        "Reading 2 passages · 800 tokens · 50 %",
    ]
