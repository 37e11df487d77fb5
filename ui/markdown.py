"""Split a message's markdown into prose and fenced code blocks (pure; no Qt).

Prose goes to Qt's own markdown renderer (GitHub dialect: headings, lists, tables, inline
code); each fenced code block gets its own monospace widget with a Copy button. The split
also works on text that is still streaming: an unclosed fence is a code block in progress.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

_OPEN = re.compile(r"^(?P<indent> {0,3})(?P<fence>`{3,}|~{3,})(?P<info>.*)$")


@dataclass(frozen=True)
class Segment:
    kind: Literal["markdown", "code"]
    text: str
    lang: str = ""
    closed: bool = True


def _closes(line: str, char: str, length: int) -> bool:
    stripped = line.strip()
    indent = len(line) - len(line.lstrip(" "))
    return indent <= 3 and len(stripped) >= length and set(stripped) == {char}


def split_markdown(text: str) -> list[Segment]:
    """Prose and fenced code blocks, in order. Whitespace-only prose is dropped."""
    segments: list[Segment] = []
    prose: list[str] = []
    code: list[str] = []
    fence: tuple[str, int, int, str] | None = None  # char, length, indent, language

    def flush_prose() -> None:
        body = "\n".join(prose)
        if body.strip():
            segments.append(Segment("markdown", body.strip("\n")))
        prose.clear()

    for line in text.split("\n"):
        if fence is None:
            m = _OPEN.match(line)
            info = m.group("info") if m else ""
            if m and not (m.group("fence")[0] == "`" and "`" in info):
                flush_prose()
                words = info.strip().split()
                marker = m.group("fence")
                fence = (marker[0], len(marker), len(m.group("indent")), words[0] if words else "")
                code.clear()
            else:
                prose.append(line)
        else:
            char, length, indent, lang = fence
            if _closes(line, char, length):
                segments.append(Segment("code", "\n".join(code), lang, closed=True))
                fence = None
            else:
                strip = min(indent, len(line) - len(line.lstrip(" ")))
                code.append(line[strip:])
    if fence is not None:
        segments.append(Segment("code", "\n".join(code), fence[3], closed=False))
    else:
        flush_prose()
    return segments
