#!/bin/sh
# Rebuild hearth-selftest.pdf from its PostScript source with Ghostscript's ps2pdf
# (Debian package `ghostscript`). The PDF is committed; this is only needed after editing.
set -eu
cd "$(dirname "$0")"
ps2pdf -dPDFSETTINGS=/prepress -dCompatibilityLevel=1.4 hearth-selftest.ps hearth-selftest.pdf
