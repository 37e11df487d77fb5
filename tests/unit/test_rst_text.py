"""reStructuredText read as the Markdown Hearth reads (rag.rst_text)."""

from __future__ import annotations

from rag.markdown_text import read_markdown
from rag.rst_text import rst_as_markdown
from rag.sentences import split_sentences

RST = """\
==============
 Kestrel guide
==============

.. _install:

Installing
----------

Run ``kestrel init`` once; see :ref:`the cache <cache>` and
`the project site <https://example.org/kestrel>`_ for more. Call :func:`kestrel.open`.

.. note::
   Kestrel keeps its archives for a month.

.. toctree::
   :maxdepth: 2

   usage
   api

Configure it like this::

    [cache]
    dir = "/var/cache/kestrel"

    [log]
    level = 2

.. code-block:: python
   :linenos:

   import kestrel
   kestrel.open()

A literal block after an expanded form: ::

    kestrel --version

.. this comment
   spans two lines

The end.
"""


def test_rst_titles_code_and_inline_markup_read_as_markdown() -> None:
    got = rst_as_markdown(RST)
    assert "## Kestrel guide" in got and "## Installing" in got
    assert "Run `kestrel init` once; see `the cache` and\nthe project site for more." in got
    assert "Call `kestrel.open`." in got
    assert "\nNote: Kestrel keeps its archives for a month." in got
    assert "toctree" not in got and "usage" not in got and "maxdepth" not in got
    assert "Configure it like this:\n\n```\n[cache]\n" in got
    assert '```\n[cache]\ndir = "/var/cache/kestrel"\n\n[log]\nlevel = 2\n```' in got
    assert "```python\nimport kestrel\nkestrel.open()\n```" in got and "linenos" not in got
    assert "A literal block after an expanded form:\n" in got and "form: :" not in got
    assert "```\nkestrel --version\n```" in got
    assert "_install" not in got and "comment" not in got and "spans two lines" not in got
    assert got.rstrip().endswith("The end.")


def test_rst_sentences_and_headings_as_hearth_splits_them() -> None:
    sentences = split_sentences(read_markdown(rst_as_markdown(RST)))
    kinds = {(s.kind, s.text) for s in sentences}
    assert ("heading", "Kestrel guide") in kinds and ("heading", "Installing") in kinds
    assert ("prose", "Configure it like this:") in kinds
    assert ("prose", "Note: Kestrel keeps its archives for a month.") in kinds
    assert not any("====" in s.text or "----" in s.text or "::" in s.text for s in sentences)
    assert any(s.kind == "code" and s.text.startswith("[cache]") for s in sentences)


def test_a_title_in_lower_case_is_a_heading_too() -> None:
    """AWS CLI's topic pages title each setting by its name ("max_bandwidth" underlined):
    a section to cite, not a line of text (nor, shown after a quote, a line of code)."""
    text = "max_bandwidth\n-------------\n\nThe maximum bandwidth for uploads.\n"
    sentences = split_sentences(read_markdown(rst_as_markdown(text)))
    assert [(s.kind, s.text) for s in sentences] == [
        ("heading", "max_bandwidth"),
        ("prose", "The maximum bandwidth for uploads."),
    ]


def test_a_definition_lists_terms_each_open_an_item() -> None:
    """A term and its indented definition were read as one sentence, or the term as a line
    of code: each term now opens a list item with its definition."""
    rst = (
        "Settings\n========\n\nmax_attempts\n    How many attempts to make.\n"
        "``addressing_style``\n  Which addressing style to use. It controls\n"
        "  the bucket's place in the URL.\n\nA paragraph:\n\n    a block quote.\n"
    )
    kinds = [(s.kind, s.text) for s in split_sentences(read_markdown(rst_as_markdown(rst)))]
    assert kinds[1:4] == [
        ("list", "max_attempts: How many attempts to make."),
        ("list", "`addressing_style`: Which addressing style to use."),
        ("list", "It controls the bucket's place in the URL."),
    ]
    assert ("prose", "A paragraph: a block quote.") in kinds  # a block quote is no definition
