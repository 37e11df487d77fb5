"""Markdown read as a reader sees its words: link targets, reference definitions and HTML
comments are no text; code is left as written."""

from __future__ import annotations

from rag.markdown_text import read_markdown


def test_links_read_as_their_text() -> None:
    text = (
        "See [the streaming reference](references/streaming.md) and [Streaming]"
        '(#streaming-json-lines-sse-bytes "title"). Use [`fs.ReadStream`][] or [a stream]'
        "[readable]. Docs: <https://nodejs.org/api/fs.html>. "
        "[![build](https://ci.example/badge.svg)](https://ci.example) ok.\n"
        "[readable]: stream.md#readable-streams\n"
        '[`fs.ReadStream`]: fs.md#class-fsreadstream "The class"\n'
        "Last line.\n"
    )
    assert read_markdown(text) == (
        "See the streaming reference and Streaming. Use `fs.ReadStream` or a stream. "
        "Docs: https://nodejs.org/api/fs.html. build ok.\nLast line.\n"
    )


def test_code_is_left_as_written() -> None:
    text = (
        "Call `[x](y)` like `a[0](b)`:\n\n"
        "```js\nconst link = '[text](url)'; // <!-- not a comment -->\n```\n\n"
        "Plain [brackets] and (parentheses) <!-- gone --> stay.\n"
    )
    assert read_markdown(text) == (
        "Call `[x](y)` like `a[0](b)`:\n\n"
        "```js\nconst link = '[text](url)'; // <!-- not a comment -->\n```\n\n"
        "Plain [brackets] and (parentheses)  stay.\n"
    )


def test_hostile_markdown_is_read_quickly_and_loses_no_words() -> None:
    """Unbalanced brackets, backticks and parentheses by the thousand: the patterns have
    nothing nested to backtrack over, and every word outside a link target stays."""
    junk = "[" * 5000 + "(" * 5000 + "`" * 3 + "](" * 5000 + "word " * 1000 + "<!--"
    out = read_markdown(junk)
    assert out.count("word") == 1000
    ticks = "".join("`" * (1 + i % 7) + "x " for i in range(200_000)) + "``````` end"
    assert read_markdown(ticks).endswith("end")  # unmatched runs: linear, not quadratic
    assert read_markdown("<!--" * 200_000 + " end").endswith("end")  # none closed
    for shape in ("[a", "[a](", "[a][", "<http://", "Title\n---\n"):
        assert read_markdown(shape * 100_000 + " end").endswith("end")
    assert read_markdown("a <!-- b --> c <!-- d") == "a  c <!-- d"
    assert read_markdown("") == ""


def test_underlined_titles_are_headings_and_breaks_are_no_text() -> None:
    assert read_markdown("# File system\n\n## fs.open()\n#hashtag\n") == (
        "## File system\n\n## fs.open()\n#hashtag\n"
    )
    text = (
        "---\ntitle: Keeper notes\n---\n"
        "Lighthouse\n==========\n\nThe lamp turns.\n\n"
        "Contributing\n------------\nAPT is maintained in git.\n\n"
        "* an item\n---\n\n***\n\nLast words.\n\n"
        "```\nnot a title\n-----------\n```\n"
    )
    assert read_markdown(text) == (
        "title: Keeper notes\n"
        "## Lighthouse\n\nThe lamp turns.\n\n"
        "## Contributing\nAPT is maintained in git.\n\n"
        "* an item\n\n\n\n\nLast words.\n\n"
        "```\nnot a title\n-----------\n```\n"
    )


def test_strong_emphasis_reads_without_its_markers() -> None:
    text = "* **apt-get** for __retrieval__; `**kept**`, *.txt, snake_case__name, 2 ** 3 ** 4\n"
    assert read_markdown(text) == (
        "* apt-get for retrieval; `**kept**`, *.txt, snake_case__name, 2 ** 3 ** 4\n"
    )
    assert read_markdown("**a" * 100_000 + " end").endswith("end")


def test_emphasis_around_words_reads_without_its_markers() -> None:
    """Black's docs write their tool's name "_Black_": quoted, it showed as "\\_Black\\_"."""
    text = "_Black_ will *not* wrap it. *Note:* my_var_name, *.txt, src/*, `_x_`, a*b*c\n"
    assert read_markdown(text) == (
        "Black will not wrap it. Note: my_var_name, *.txt, src/*, `_x_`, a*b*c\n"
    )
    assert read_markdown("_a" * 100_000 + " end").endswith("end")


def test_backslash_escapes_read_as_the_character() -> None:
    """Rendered Markdown shows an escaped character alone, and it starts no link or
    emphasis; in code the backslash stays (Node's API docs write "{string\\[]}")."""
    text = "* `args` {string\\[]} List. \\[not a link\\](x) \\*\\*kept\\*\\* C:\\\\temp `a\\[b`\n"
    assert read_markdown(text) == (
        "* `args` {string[]} List. [not a link](x) **kept** C:\\temp `a\\[b`\n"
    )
    assert read_markdown("\\a \\1 \\\n") == "\\a \\1 \\\n"  # not punctuation: as written


def test_private_use_characters_in_the_file_are_text_not_placeholders() -> None:
    """The placeholders that stand for code spans while links are rewritten are characters
    the file does not hold: a file holding the usual ones is read as written (it failed to
    read, as "the PDF is damaged", or had another code span's text put in their place)."""
    marks = "\ue000" + "0" + "\ue001"
    text = f"Safe {marks} here and `secret code`. Also \ue0007\ue001 [a](b).\n"
    assert read_markdown(text) == (f"Safe {marks} here and `secret code`. Also \ue0007\ue001 a.\n")
    every = "".join(map(chr, range(0xE000, 0xF900)))
    out = read_markdown(every + " `code` [link](x) end")
    assert out.endswith(" `code` link end")
    assert out.startswith("\ufffd\ufffd\ue002")  # only the two placeholders were replaced


def test_a_table_of_contents_is_no_text() -> None:
    """pyenv's README: its contents' entries were quoted as sentences ("Install Python build
    dependencies" for "What do I need installed before building Python?"). A list item that
    only links to a heading of the file goes; a link elsewhere, or with words around it,
    stays."""
    text = (
        "## Table of Contents\n\n"
        "* **[Installation](#installation)**\n"
        "  * [Set up your shell](#b-set-up-your-shell)\n"
        "  1. [Install build dependencies](#d-install-python-build-dependencies)\n"
        "- [Wiki: build dependencies](https://github.com/pyenv/pyenv/wiki)\n"
        "- See [Usage](#usage) for more.\n\n"
        "## Installation\n"
    )
    assert read_markdown(text) == (
        "## Table of Contents\n\n"
        "- Wiki: build dependencies\n"
        "- See Usage for more.\n\n"
        "## Installation\n"
    )
    hostile = "* [" + "a" * 100_000 + "](#" + "b" * 100_000 + "\n"  # never closed
    assert read_markdown(hostile * 3).count("a" * 100_000) == 3


def test_a_footnote_is_text_and_its_marks_are_not() -> None:
    """Node's BUILDING.md: "[^6]: Binaries produced on these systems ..." was read as a link
    definition and lost "Binaries"; the mark after "4.18[^1]" is no text either."""
    text = (
        "| x64 | kernel >= 4.18[^1], glibc >= 2.28 |\n\n"
        "[^1]: Binaries produced on these systems are compatible with glibc.\n"
        "[docs]: https://nodejs.org/docs\n"
        "Keep `a[^1]` as written.\n"
    )
    assert read_markdown(text) == (
        "| x64 | kernel >= 4.18, glibc >= 2.28 |\n\n"
        "Binaries produced on these systems are compatible with glibc.\n"
        "Keep `a[^1]` as written.\n"
    )
