"""The window names the system libraries Qt's X11 plugin is missing, and the command that
installs them, instead of Qt's abort (app/qt_deps.py)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from app import qt_deps


def test_a_missing_library_is_found_through_the_libraries_that_need_it(tmp_path: Path) -> None:
    """A real ldd on real ELF files: the plugin needs a library that needs one that is gone."""
    cc = shutil.which("cc") or shutil.which("gcc")
    if cc is None or shutil.which("ldd") is None:
        pytest.skip("needs a C compiler and ldd")
    (tmp_path / "a.c").write_text("int a(void) { return 1; }\n")
    (tmp_path / "b.c").write_text("int a(void);\nint b(void) { return a(); }\n")
    (tmp_path / "p.c").write_text("int b(void);\nint p(void) { return b(); }\n")

    def shared(name: str, *libs: str) -> None:
        cmd = [cc, "-shared", "-fPIC", "-o", f"lib{name}.so", f"{name}.c", "-L.", *libs]
        subprocess.run([*cmd, "-Wl,-rpath,$ORIGIN"], cwd=tmp_path, check=True)

    shared("a")
    shared("b", "-la")
    shared("p", "-lb")
    assert qt_deps.missing_libraries(tmp_path / "libp.so") == []
    (tmp_path / "liba.so").unlink()
    assert qt_deps.missing_libraries(tmp_path / "libp.so") == ["liba.so"]


def test_the_message_names_the_packages_for_apt_and_dnf() -> None:
    text = qt_deps.install_hint(["libxcb-icccm.so.4", "libxcb-keysyms.so.1", "libfoo.so.9"])
    assert "libxcb-icccm.so.4, libxcb-keysyms.so.1, libfoo.so.9" in text
    assert "sudo apt install libxcb-icccm4 libxcb-keysyms1\n" in text
    assert "sudo dnf install xcb-util-wm xcb-util-keysyms)" in text
    assert "provides libfoo.so.9" in text


def test_only_the_x11_platform_is_checked(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(qt_deps.sys, "platform", "linux")
    assert qt_deps.uses_xcb({})
    assert qt_deps.uses_xcb({"QT_QPA_PLATFORM": "xcb"})
    assert not qt_deps.uses_xcb({"QT_QPA_PLATFORM": "offscreen"})
    assert not qt_deps.uses_xcb({"WAYLAND_DISPLAY": "wayland-0"})
    monkeypatch.setattr(qt_deps.sys, "platform", "darwin")
    assert not qt_deps.uses_xcb({})


def test_pyside6s_own_plugin_is_found_and_checked(monkeypatch: pytest.MonkeyPatch) -> None:
    """Whatever this machine lacks, the message lists exactly what ldd reports missing."""
    plugin = qt_deps.xcb_plugin()
    assert plugin is not None and plugin.name == "libqxcb.so"
    monkeypatch.setenv("QT_QPA_PLATFORM", "xcb")
    missing = qt_deps.missing_libraries(plugin)
    message = qt_deps.check_window_libraries()
    if missing:
        assert message is not None and ", ".join(missing) in message
    else:
        assert message is None
