"""A plain text's underlined titles (pure; no imports but `re`): "Concepts\n--------", as
specs, READMEs and reStructuredText write them, read as the "## Title" heading that
`rag.sentences` and `rag.sections` know."""

from __future__ import annotations

import re

# A title underlined with a rule of its length, and a rule standing alone (a separator, an
# overline). Read as text, the rule was glued to the sentence before it and quoted ("Such a
# trigger should not be necessary. Package declarations regarding triggers -------").
_RULE = re.compile(r"[ \t]{0,3}([-=~^*#+_])\1{2,}[ \t]*")
# reStructuredText takes any punctuation for its rules (= - ` : ' " ~ ^ _ * + # < > .); in a
# plain text a run of dots or quotes is more often a leader or an ornament than a rule.
_RST_RULE = re.compile(r"[ \t]{0,3}([-=~^*#+_`:'\"<>.])\1{2,}[ \t]*")
_NOT_TITLE = re.compile(r"\s*(?:[-*+>|]\s|\d+[.)]\s)")  # a list item, a quote, a table row
_CLOSED = re.compile(r".*[.,;:]$")
MAX_TITLE_CHARS = 80


def underlined_titles(text: str, rst: bool = False) -> str:
    """A plain text's underlined titles as headings ("## Title"), its other rules as blank
    lines. A title is one short line after a blank line (or the start, or an overline), not a
    list item, underlined by a rule at least as long as the title, give or take two
    characters; one that ends like a sentence ("Timing guarantees, races, etc.") only by a
    rule of its very length. `rst`: any punctuation makes a rule."""
    rule = _RST_RULE if rst else _RULE
    out: list[str] = []
    for line in text.split("\n"):
        if not rule.fullmatch(line):
            out.append(line)
            continue
        title = out[-1].strip() if out else ""
        before = out[-2].strip() if len(out) > 1 else ""
        if (
            title
            and not before
            and len(title) <= MAX_TITLE_CHARS
            and len(line.strip()) >= len(title) - 2
            and not (_CLOSED.match(title) and len(line.strip()) > len(title) + 2)
            and not rule.fullmatch(title)
            and not _NOT_TITLE.match(title)
        ):
            out[-1] = "## " + title
        else:
            out.append("")
    return "\n".join(out)
