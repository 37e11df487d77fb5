"""What a line of extracted text is, where its own shape does not say and its neighbours do:
a shell command set on its own line without a prompt, a section title in sentence case, a
numbered title after a line that does not end a sentence; and a row of data, which its own
shape says. Pure; `rag.sentences` asks.

Manuals made with AsciiDoc and DocBook (the Network UPS Tools user manual, say) print a
command as a line of its own, with no prompt to mark it:

    Create the state path directory ... of the system user you created.
    mkdir -p /var/state/ups
    chmod 0770 /var/state/ups
    State path creation
    Create the state path directory for the driver(s) ...

Read as prose, the commands ran into the sentences around them ("... you created. mkdir -p
/var/state/ups chmod 0770 /var/state/ups chown root:nut /var/state/ups Ownership and
permissions Set ownership data ..."), and so did the titles in sentence case ("State path
creation", "Ownership and permissions"), which the title-form test of `is_heading` misses.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

# Words that go on a sentence and do not start a section's text after its title, nor stand
# in a command line.
FUNCTION_WORDS = frozenset([
    "a", "an", "the", "of", "to", "in", "on", "at", "for", "with", "by", "from", "into",
    "onto", "about", "than", "as", "and", "or", "but", "nor", "so", "is", "are", "was",
    "were", "be", "been", "being", "has", "have", "had", "does", "do", "did", "can",
    "could", "may", "might", "must", "shall", "should", "will", "would", "that", "which",
    "who", "whom", "whose", "whether", "if", "when", "while", "where", "because", "its",
    "their", "his", "her", "our", "your", "before", "after", "until", "since", "without",
    "within", "through", "during", "across", "against", "among", "between", "under",
    "over", "unless", "although", "though", "once",
])  # fmt: skip

COMMAND_TOKENS = 8  # a command line this long at most
TITLE_WORDS = 8  # a title in sentence case this long at most
# A prompt that names the shell or the host: "shell% kinit", "bash$ make", "mysql> show".
_PROMPT_WORD = re.compile(r"^[\w.@~:-]+[%$>]$")
# How a command starts: a program's name in lower case, or a path to one ("./configure").
_PROGRAM = re.compile(r"^(?:\.{0,2}/|~/)[\w./-]*$|^[a-z][\w.+-]*$")
# What follows a program's name on its line: an option, a path, a setting or an assignment
# ("--with-user=ups", "x = 1"; not a comparison: "string1 != string2" heads its definition
# in Bash's manual), owner:group.
_ARGUMENT = re.compile(r"^--?[A-Za-z0-9]|/|\w=|^=$|^\w+:\w+$")
# A line after a command that goes on in code: "plot for [i=2:4] DATA using 1:i".
_CODE_MARK = re.compile(r"[=\[\]{}()<>|$\"]")
# A title's word: letters and digits, perhaps hyphenated or with a comma after it.
_TITLE_WORD = re.compile(r"^[A-Za-z0-9][A-Za-z0-9'\u2019-]*,?$|^&$")
_BARE = re.compile(r"^[a-z0-9_.+-]+$")  # "upsd", "make install": after a colon only
# Closing punctuation of a sentence, or the colon that introduces what follows.
_ENDED = re.compile(r"[.!?:][\"'\u201d\u2019)\]]*$")
_CLOSING = re.compile(r"[.!?,:;][\"'\u201d\u2019)\]]*$")
# "6.2.5 Starting the data server", "F.2.2 Post a patch": two levels of numbering at least.
_SECTION_NUMBER = re.compile(r"^(?:[0-9]+|[A-Z])(?:\.[0-9]+)+\.?\s+[A-Z]")
_LOWER_SECTION = re.compile(r"^[0-9]+(?:\.[0-9]+)+\.?\s+[a-z]")
LOWER_TITLE_WORDS = 14  # "11.4 processing chain : 2 pages per sheet (2 A5 on 1 A4)"


def command_lines(texts: Sequence[str], kinds: Sequence[str]) -> set[int]:
    """The indexes of the prose lines that are commands: a prompt that names the shell, or
    a program's name with its arguments (no function word, no closing punctuation) on a line
    after one that ended a sentence or introduced it, or after another command."""
    found: set[int] = set()
    previous: int | None = None
    for i, (text, kind) in enumerate(zip(texts, kinds, strict=True)):
        if kind == "blank":
            continue
        if kind == "prose" and _is_command(text, previous, texts, kinds, found):
            found.add(i)
        previous = i
    return found


def _is_command(
    text: str, previous: int | None, texts: Sequence[str], kinds: Sequence[str], found: set[int]
) -> bool:
    tokens = text.split()
    if not tokens or len(tokens) > COMMAND_TOKENS:
        return False
    if _PROMPT_WORD.match(tokens[0]) and not tokens[0][0].isdigit():
        return True  # "shell% kinit", or the prompt alone that ends a session ("shell%")
    if not _PROGRAM.match(tokens[0]) or _CLOSING.search(text):
        return False
    if previous is None:  # a passage's first line: a program with arguments only
        return not _has_function_word(tokens) and _has_arguments(tokens)
    before = texts[previous]
    after_code = kinds[previous] == "code" or previous in found
    if _has_function_word(tokens):
        return after_code and _CODE_MARK.search(text) is not None
    if not (after_code or kinds[previous] == "heading" or _ENDED.search(before)):
        return False  # the line goes on with the sentence before it
    if _has_arguments(tokens):
        return True
    # a bare name or two ("upsd", "make install") where a colon introduces it, or after code
    introduced = before.endswith(":") or after_code
    return introduced and len(tokens) <= 3 and all(_BARE.match(t) for t in tokens)


def _has_function_word(tokens: Sequence[str]) -> bool:
    return any(t.lower() in FUNCTION_WORDS for t in tokens)


def _has_arguments(tokens: Sequence[str]) -> bool:
    return "/" in tokens[0] or any(_ARGUMENT.search(t) for t in tokens[1:])


def is_plain_title(line: str, before: str | None, after: str | None, short: bool) -> bool:
    """A title in sentence case ("State path creation", "Ownership and permissions"): a
    short line of a few words, with a capital and no closing punctuation, between a line
    that ended a sentence (or none) and one that starts a sentence with a capital. `short`:
    the line ends well short of the text's width (so it is not a sentence's line that
    wrapped)."""
    words = line.split()
    if not short or not 2 <= len(words) <= TITLE_WORDS or not line[:1].isupper():
        return False
    if _CLOSING.search(line) or not all(_TITLE_WORD.match(w) for w in words):
        return False
    if before is not None and not _ENDED.search(before):
        return False
    return after is not None and after[:1].isupper()


def is_numbered_section(line: str, after: str | None, before: str | None = None) -> bool:
    """A numbered section's title ("6.2.5 Starting the data server") before a line that
    starts a sentence: a title even after a line that does not end a sentence (a list of
    references, a command's output). One in lower case, often a program's name ("9.1.1
    aptitude" / "aptitude is the recommended ..."), only after a line that ends a sentence or
    introduces what follows ("... available for this purpose:"), and short: "1.5 inter-quartile
    ranges of q1 and q3. Beyond ..." is a sentence wrapped before its number."""
    if _SECTION_NUMBER.match(line):
        return after is not None and after[:1].isupper()
    return (
        _LOWER_SECTION.match(line) is not None
        and after is not None
        and (before is None or _ENDED.search(before) is not None)
        and len(line.split()) <= LOWER_TITLE_WORDS
        and not _CLOSING.search(line)
        and ". " not in line
    )


_PLAIN_WORD = re.compile(r"[(\"'\u2018\u201c]?[A-Za-z][A-Za-z'\u2019-]*[.,;:!?)\"'\u2019\u201d]*")


def is_data_line(stripped: str) -> bool:
    """A line that is data, not prose: a hex dump ("00000000 4d 49 4d 45 ..."), a row of
    numbers, a formula as PDF extraction leaves it ("(xB )1 = : : : + 1x"). Fewer than two
    in five of its (six or more) tokens are words."""
    tokens = stripped.split()
    if len(tokens) < 6:
        return False
    plain = sum(1 for t in tokens if _PLAIN_WORD.fullmatch(t) and len(t.strip("(),.;:")) > 1)
    return plain < 0.4 * len(tokens)


def is_title_tail(line: str, after: str | None) -> bool:
    """Whether `line`, just after a heading, is the end of its title wrapped onto a short line
    in lower case ("Keeping your Debian system" / "up-to-date"), before a sentence's start."""
    short = len(line.split()) <= 3 and not line.rstrip().endswith((".", "!", "?", ":", ";", ","))
    return line[:1].islower() and short and after is not None and after[:1].isupper()
