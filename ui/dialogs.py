"""Small dialogs shared by the window's pages."""

from __future__ import annotations

from collections.abc import Sequence

from PySide6.QtWidgets import QMessageBox, QWidget


def confirm(parent: QWidget, title: str, text: str, action: str) -> bool:
    """Ask before something that cannot be undone; Cancel is the default button."""
    box = QMessageBox(
        QMessageBox.Icon.Warning, title, text, QMessageBox.StandardButton.Cancel, parent
    )
    button = box.addButton(action, QMessageBox.ButtonRole.DestructiveRole)
    box.setDefaultButton(QMessageBox.StandardButton.Cancel)
    box.exec()
    return box.clickedButton() is button


def confirm_large_text(parent: QWidget, paths: Sequence[str]) -> bool:
    """Text files of hours of indexing are added only when the user says so (app.text_size);
    True when there are none, or when the user wants them indexed."""
    from app.paths import get_paths
    from app.text_size import describe, large_text_files, passages_per_second

    large = large_text_files(paths)
    if not large:
        return True
    said = describe(large, passages_per_second(get_paths().models))
    return confirm(parent, "Large text files", f"{said}\n\nIndex them anyway?", "Index them")
