"""Real-world PDFs used by the integration tests, the retrieval evaluation
(resources/eval/questions.json) and the indexing benchmark.

None of them is written by us and none is stored in this repository: they are manuals that
Debian packages install under /usr/share (the machines are Debian 12 "bookworm"). PyPI was
looked at first: of the candidates checked, the pdfplumber, pdfminer.six and camelot-py
source distributions hold no PDF, and pikepdf's test PDFs are in its source distribution,
which pip does not install.
`tests/data-packages.txt` lists the packages; install them with

    apt-get install -y --no-install-recommends $(grep -v '^#' tests/data-packages.txt)

Each PDF has a stable id, "<debian package>/<file name>", which questions.json uses.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
PACKAGES_FILE = REPO / "tests" / "data-packages.txt"


class MissingTestData(RuntimeError):
    """A test PDF is not installed."""


@dataclass(frozen=True)
class DataPdf:
    id: str  # "<package>/<file name>", as used in resources/eval/questions.json
    package: str  # Debian package that installs it
    version: str  # package version the page numbers in questions.json were checked against
    path: Path
    pages: int
    licence: str
    about: str


DATA_PDFS: dict[str, DataPdf] = {
    d.id: d
    for d in (
        DataPdf(
            "r-doc-pdf/R-intro.pdf",
            "r-doc-pdf",
            "4.2.2.20221110-2",
            Path("/usr/share/R/doc/manual/R-intro.pdf"),
            113,
            "GPL-2 (R manuals; verbatim copying permitted)",
            "An Introduction to R: Texinfo manual, single column, code examples",
        ),
        DataPdf(
            "r-doc-pdf/fullrefman.pdf",
            "r-doc-pdf",
            "4.2.2.20221110-2",
            Path("/usr/share/R/doc/manual/fullrefman.pdf"),
            2415,
            "GPL-2",
            "The R Reference Index: 2,415 pages of LaTeX (Rd) help pages; the large file",
        ),
        DataPdf(
            "glpk-doc/glpk.pdf",
            "glpk-doc",
            "5.0-1",
            Path("/usr/share/doc/glpk-doc/glpk.pdf"),
            177,
            "GFDL-1.3+ (no invariant sections) / GPL-3+",
            "GLPK reference manual: LaTeX via dvipdfmx, API synopses, maths, OT1 ligatures",
        ),
        DataPdf(
            "gnuplot-doc/gnuplot.pdf",
            "gnuplot-doc",
            "5.4.4+dfsg1-2",
            Path("/usr/share/doc/gnuplot/gnuplot.pdf"),
            311,
            "gnuplot licence (free to copy and distribute unmodified)",
            "gnuplot 5.4 manual: LaTeX, figures, wide pages, dense cross references",
        ),
        DataPdf(
            "libtasn1-doc/libtasn1.pdf",
            "libtasn1-doc",
            "4.19.0-2+deb12u1",
            Path("/usr/share/doc/libtasn1-doc/libtasn1.pdf"),
            36,
            "GFDL-1.3+",
            "GNU Libtasn1 manual: short Texinfo manual with an API reference",
        ),
        DataPdf(
            "shared-mime-info/shared-mime-info-spec.pdf",
            "shared-mime-info",
            "2.2-1",
            Path("/usr/share/doc/shared-mime-info/shared-mime-info-spec.pdf"),
            17,
            "GPL-2+",
            "freedesktop.org Shared MIME-info Database specification: DocBook, tables",
        ),
        DataPdf(
            "bash-doc/bashref.pdf",
            "bash-doc",
            "5.2.15-2",
            Path("/usr/share/doc/bash/bashref.pdf"),
            196,
            "GFDL-1.3+",
            "Bash Reference Manual: Texinfo; the out-of-sample split of the evaluation",
        ),
        DataPdf(
            "krb5-doc/user.pdf.gz",
            "krb5-doc",
            "1.20.1-2+deb12u5",
            Path("/usr/share/doc/krb5-doc/user.pdf.gz"),
            35,
            "MIT (Kerberos licence)",
            "MIT Kerberos User Guide: Sphinx's LaTeX, TeX Gyre fonts whose code 32 is no space "
            "(rag.space_width); Debian installs it gzipped: `gunzipped` gives the PDF",
        ),
    )
}

LARGE_PDF_ID = "r-doc-pdf/fullrefman.pdf"


def _install_hint(packages: list[str]) -> str:
    return (
        "Install the test documents (Debian packages) with:\n"
        f"    apt-get install -y --no-install-recommends {' '.join(sorted(set(packages)))}\n"
        f"(the full list is in {PACKAGES_FILE.relative_to(REPO)})"
    )


def data_pdf(pdf_id: str) -> Path:
    """Path of one test PDF; MissingTestData (with the command that installs it) if absent."""
    try:
        entry = DATA_PDFS[pdf_id]
    except KeyError:
        raise MissingTestData(
            f"unknown test PDF id {pdf_id!r}; known: {sorted(DATA_PDFS)}"
        ) from None
    if not entry.path.is_file():
        raise MissingTestData(f"{entry.path} is missing.\n" + _install_hint([entry.package]))
    return entry.path


def data_pdfs(ids: list[str] | None = None) -> dict[str, Path]:
    """Paths of the given test PDFs (all by default), failing with one message that names
    every missing package."""
    wanted = ids if ids is not None else list(DATA_PDFS)
    missing = [DATA_PDFS[i] for i in wanted if i in DATA_PDFS and not DATA_PDFS[i].path.is_file()]
    if missing:
        paths = ", ".join(str(m.path) for m in missing)
        raise MissingTestData(f"missing: {paths}\n" + _install_hint([m.package for m in missing]))
    return {i: data_pdf(i) for i in wanted}


def gunzipped(pdf_id: str, folder: Path) -> Path:
    """A test PDF that Debian installs gzipped, decompressed into `folder`."""
    import gzip

    source = data_pdf(pdf_id)
    target = folder / source.name.removesuffix(".gz")
    target.write_bytes(gzip.decompress(source.read_bytes()))
    return target


def resolve_eval_file(file_id: str) -> Path:
    """Path for a questions.json "file" id."""
    return data_pdf(file_id)
