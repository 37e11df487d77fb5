"""What a reader of a reStructuredText file (.rst: Sphinx docs, Python projects' READMEs) sees,
written as the Markdown that `rag.markdown_text.read_markdown` reads (pure; no imports but
`re`): its titles become "## Title" headings (cited as a Markdown file's are), literal blocks
("Example::" and an indented block; ".. code-block:: python") become fenced code, inline
literals (``x``) and roles (:func:`open`) become code spans, links (`text <url>`_) their
text; comments, link targets and directives that show no text (toctree, image, index ...) are
left out, an admonition's body (".. note::") stays as text after "Note:".

docutils parses the full grammar, but gives a document tree without the source offsets that
citations and the sentence splitter need, and it is one more dependency for a format whose
common forms these few rules cover (the way `rag.markdown_text` reads Markdown).
"""

from __future__ import annotations

import re

from rag.text_titles import underlined_titles

_DIRECTIVE = re.compile(r"^(\s*)\.\.\s+([\w:-]+)::\s*(.*)$")
_COMMENT = re.compile(r"^(\s*)\.\.(?:\s|$)")  # ".. _label:", ".. a comment", ".. |sub| ..."
_CODE_DIRECTIVES = frozenset({"code-block", "code", "sourcecode", "highlight-block"})
# Directives whose body is no text a reader reads as such: navigation, pictures, index entries
_HIDDEN_DIRECTIVES = frozenset({
    "toctree", "contents", "index", "image", "figure", "highlight", "include",
    "literalinclude", "raw", "only", "tabularcolumns", "sectnum", "autosummary",
    "automodule", "autoclass", "autofunction", "meta", "currentmodule", "module",
})  # fmt: skip
_LITERAL_LEAD = re.compile(r"(\s?)::$")  # "Example::" (reads "Example:"), or " ::" (nothing)
_INLINE_LITERAL = re.compile(r"``(.+?)``")
_ROLE = re.compile(r":[\w:+.-]+:`([^`<]*?)(?:\s*<[^>`]*>)?`")
_LINK = re.compile(r"`([^`<]+?)\s*<[^>`]*>`__?")
_REFERENCE = re.compile(r"`([^`]+)`__?(?!\w)")
_OPTION = re.compile(r"^\s*:[\w-]+:")  # a directive's option line (":linenos:")
TERM_WORDS = 8  # a definition list's term is this long at most ("``addressing_style``")
# ... and is no bullet, field (":param x:"), title, fence, quote or directive, and ends no clause
_NOT_TERM = re.compile(r"^\s*(?:[-*+\u2022]\s|[0-9]+[.)]\s|#|:|```|>|\.\.|\|)|.*[.:;,]\s*$")


def rst_as_markdown(text: str) -> str:
    """The reStructuredText as Markdown text (see the module docstring)."""
    lines = underlined_titles(text, rst=True).split("\n")
    out: list[str] = []
    i = 0
    while i < len(lines):
        line = lines[i]
        directive = _DIRECTIVE.match(line)
        if directive is not None:
            i = _directive(lines, i, directive, out)
            continue
        if _COMMENT.match(line):
            i = _block_end(lines, i, _indent(line))  # a comment and its indented lines
            continue
        literal = _LITERAL_LEAD.search(line.rstrip())
        if literal is not None and not line.lstrip().startswith("#"):
            head = line.rstrip()[: literal.start()]
            out.append(_inline(head + (":" if head and not literal.group(1) else "")))
            i = _fence_block(lines, i + 1, _indent(line), out)
            continue
        if _is_term(lines, i):  # "max_attempts" / "    How many attempts to make."
            out.append(f"- {_inline(line.strip())}: {_inline(lines[i + 1].strip())}")
            i += 2
            continue
        out.append(_inline(line))
        i += 1
    return "\n".join(out)


def _is_term(lines: list[str], i: int) -> bool:
    """Whether line i is a definition list's term: a short line after a blank line (or a
    definition's end) with its definition indented on the next line. Read as a list item
    ("- term: its definition"), each term opens an item of its own: read as prose, the whole
    list was one sentence or the term a line of code on its own."""
    line, before = lines[i], lines[i - 1] if i > 0 else ""
    nxt = lines[i + 1] if i + 1 < len(lines) else ""
    after_block = not before.strip() or _indent(before) > _indent(line)
    return (
        after_block
        and bool(line.strip())
        and bool(nxt.strip())
        and _indent(nxt) > _indent(line)
        and len(line.split()) <= TERM_WORDS
        and not _NOT_TERM.match(line)
        and not nxt.rstrip().endswith("::")
        and _DIRECTIVE.match(nxt) is None
        and _COMMENT.match(nxt) is None
    )


def _directive(lines: list[str], i: int, m: re.Match[str], out: list[str]) -> int:
    indent, name, argument = len(m.group(1)), m.group(2).lower(), m.group(3).strip()
    if name in _CODE_DIRECTIVES:
        return _fence_block(lines, i + 1, indent, out, argument)
    end = _block_end(lines, i, indent)
    if name in _HIDDEN_DIRECTIVES:
        return end
    # an admonition: "Note: <its text>", as it is shown ("Warning", "See also" ...)
    title = argument if name == "admonition" else name.replace("seealso", "see also")
    body = [_inline(ln.strip()) for ln in lines[i + 1 : end] if not _OPTION.match(ln)]
    if argument and name != "admonition":
        body.insert(0, _inline(argument))
    while body and not body[0]:
        body.pop(0)
    lead = title[:1].upper() + title[1:] + ":"
    out.extend(["", f"{lead} {body[0]}" if body else lead, *body[1:]])
    return end


def _fence_block(
    lines: list[str], start: int, indent: int, out: list[str], language: str = ""
) -> int:
    """The indented block from `start` (options and blank lines before it skipped) as a
    fenced block; the index of the line after it."""
    j = start
    while j < len(lines) and (not lines[j].strip() or _OPTION.match(lines[j])):
        j += 1
    end = _block_end(lines, j - 1, indent)  # no blank line at its end
    body = lines[j:end]
    if not body:
        return max(end, start)
    cut = min(_indent(ln) for ln in body if ln.strip())
    out.extend(["", f"```{language}", *(ln[cut:] for ln in body), "```", ""])
    return end


def _block_end(lines: list[str], i: int, indent: int) -> int:
    """The index after the block of lines indented deeper than `indent` that follows line i
    (blank lines inside it included, those after it not)."""
    j = i + 1
    last = i
    while j < len(lines):
        if lines[j].strip():
            if _indent(lines[j]) <= indent:
                break
            last = j
        j += 1
    return last + 1


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip())


def _inline(line: str) -> str:
    line = _INLINE_LITERAL.sub(lambda m: f"`{m.group(1)}`", line)
    line = _ROLE.sub(lambda m: f"`{m.group(1).strip()}`", line)
    line = _LINK.sub(r"\1", line)
    return _REFERENCE.sub(r"\1", line)
