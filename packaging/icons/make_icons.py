"""Render hearth.svg into the icon files the installers use (run after editing the SVG):

    .venv/bin/python packaging/icons/make_icons.py

hearth.png (256 px, Linux .desktop and AppImage), hearth.ico (Windows, several sizes),
hearth.icns (macOS). Uses Qt's own SVG renderer and image writers (PySide6), nothing else."""

from __future__ import annotations

import os
import sys
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

HERE = Path(__file__).resolve().parent


def render(size: int):  # -> QImage
    from PySide6.QtCore import Qt
    from PySide6.QtGui import QImage, QPainter
    from PySide6.QtSvg import QSvgRenderer

    image = QImage(size, size, QImage.Format.Format_ARGB32)
    image.fill(Qt.GlobalColor.transparent)
    painter = QPainter(image)
    QSvgRenderer(str(HERE / "hearth.svg")).render(painter)
    painter.end()
    return image


def main() -> int:
    from PySide6.QtGui import QGuiApplication, QImageWriter

    app = QGuiApplication(sys.argv)  # noqa: F841 - image plugins need an application object
    if not render(256).save(str(HERE / "hearth.png")):
        return 1
    for suffix in ("ico", "icns"):
        writer = QImageWriter(str(HERE / f"hearth.{suffix}"), suffix.encode())
        if not writer.write(render(256)):
            sys.stderr.write(f"hearth.{suffix}: {writer.errorString()}\n")
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
