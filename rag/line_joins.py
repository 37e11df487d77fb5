"""A sentence's lines joined as one text (pure, for `rag.sentences`): a word hyphenated at a
line's end is one word again ("docu-" + "ment"), a link or a file name wrapped at a dot or a
slash is one word ("https://CRAN." + "R-project.org/", "ldap." + "conf,"), and every other
line break is a space."""

from __future__ import annotations

import re
from collections.abc import Sequence

_HYPHEN_END = re.compile(r"([A-Za-z]{2,})-$")
_WS = re.compile(r"\s+")
# A link wrapped at a dot or slash ("https://CRAN.\nR-project.org/web/views/"): one word.
_URL_WRAPPED = re.compile(r"(?:https?://|ftp://|www\.)[^\s]*[./_-]$")
# ... when the next line's first word is the rest of a link ("R-project.org/web/views/)."),
# not a sentence after a link that ended one ("copyleft/." + "Each version of ...").
_URL_GOES_ON = re.compile(r"[\w~%#+-]*(?:[./=?&][\w~%#+-]+)+/?[).,;:\]]*(?:\s|$)")
_URL_EXTENSION = re.compile(r"(?:html?|php|aspx?|pdf|txt|xml)[).,;:\]]*(?:\s|$)")  # "msg1." "html"
# A file's name wrapped before its extension ("add SASL_NOCANON on to ldap." / "conf, or set
# ...", Sphinx's PDFs break names at a dot): a lower-case name, then one of these extensions
# with punctuation right after it ("conf file" may be a sentence's start, "conf," is not).
_FILE_STEM = re.compile(r"[a-z0-9_~/-]*[a-z0-9_]\.$")
_FILE_EXTENSION = re.compile(
    r"(?:conf|cfg|ini|txt|json|ya?ml|xml|html?|log|pem|crt|keytab|py|sh|rst|md)[).,;:\]](?:\s|$)"
)


def join_lines(parts: Sequence[str]) -> str:
    """Lines of one sentence joined: hyphenation at a line end undone, else a space."""
    out = ""
    for part in parts:
        piece = part.strip()
        if not piece:
            continue
        # the word the line ended with, from its last 400 characters (a search of all of `out`
        last = out[max(out.rfind(" ", max(0, len(out) - 400)) + 1, len(out) - 400) :]
        m = _HYPHEN_END.search(last)  # made a long sentence, or word, quadratic)
        extension = last.endswith(".") and _URL_EXTENSION.match(piece)
        if _URL_WRAPPED.search(last) and (_URL_GOES_ON.match(piece) or extension):
            out += piece  # "https://www." + "gnu.org/philosophy/free-sw.html"
        elif _FILE_STEM.fullmatch(last) and _FILE_EXTENSION.match(piece):
            out += piece  # "ldap." + "conf,"
        elif m and piece[:1].islower():
            out = out[:-1] + piece  # "docu-" + "ment"
        elif out.endswith("-") and piece[:1].isupper():
            out += piece  # "X-" + "Window": the hyphen is the word's own
        else:
            out = f"{out} {piece}" if out else piece
    return _WS.sub(" ", out).strip()
