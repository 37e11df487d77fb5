"""What the user reads while the model reads its prompt, before the first token: in the window
under the answer being written, and on the command line's standard error. Qt-free, so the
CLI shares it."""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import TextIO


def prompt_progress_text(done: int, total: int, passages: int = 0) -> str:
    """'Reading 6 passages · 1,320 tokens · 45 %' ('' once the whole prompt is read)."""
    if total <= 0 or done >= total:
        return ""
    what = f"{passages} passage{'s' if passages != 1 else ''}" if passages else "the prompt"
    return f"Reading {what} · {total:,} tokens · {100 * done // total} %"


def progress_bar(done: int, total: int, width: int = 20) -> str:
    """A text bar for a terminal: '[#########-----------]'."""
    filled = width * done // total if total > 0 else 0
    return "[" + "#" * filled + "-" * (width - filled) + "]"


def stderr_progress(passages: int = 0, stream: TextIO | None = None) -> Callable[[int, int], None]:
    """A GenerationRequest.on_prompt_progress for the command line: a bar on standard error,
    redrawn in place on a terminal (and wiped once the prompt is read, before the answer),
    a line per step otherwise. Prompts that are read in one step show nothing."""
    out = stream or sys.stderr
    tty = out.isatty()

    def report(done: int, total: int) -> None:
        if total <= 0 or (done == 0 and total <= 128):
            return  # short: read in one step, nothing to watch
        text = prompt_progress_text(done, total, passages)
        if tty:
            line = f"{text} {progress_bar(done, total)}" if text else ""
            out.write("\r" + line.ljust(78) + ("" if text else "\r"))
        elif text:
            out.write(text + "\n")
        out.flush()

    return report
