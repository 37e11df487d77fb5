"""Before the window opens on Linux: are the system libraries that Qt's X11 platform plugin
(xcb) loads installed? PySide6's wheels carry Qt itself but not these; without one of them
Qt aborts with "Could not load the Qt platform plugin" and a list of plugin names, which tells
a user nothing about what to install. Here the plugin's missing libraries are found with `ldd`
(which follows every library the plugin needs), and named with the one command that installs
them (apt and dnf).

Standard library only, and nothing of Qt is loaded: `bootstrap.py run` runs this module with
the environment's Python before starting the window, and the window's entry point calls
`check_window_libraries` before it creates the QApplication.
"""

from __future__ import annotations

import importlib.util
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

# soname -> (Debian/Ubuntu package, Fedora package)
PACKAGES: dict[str, tuple[str, str]] = {
    "libxcb-cursor.so.0": ("libxcb-cursor0", "xcb-util-cursor"),
    "libxcb-icccm.so.4": ("libxcb-icccm4", "xcb-util-wm"),
    "libxcb-keysyms.so.1": ("libxcb-keysyms1", "xcb-util-keysyms"),
    "libxcb-image.so.0": ("libxcb-image0", "xcb-util-image"),
    "libxcb-render-util.so.0": ("libxcb-render-util0", "xcb-util-renderutil"),
    "libxcb-util.so.1": ("libxcb-util1", "xcb-util"),
    "libxkbcommon-x11.so.0": ("libxkbcommon-x11-0", "libxkbcommon-x11"),
    "libxkbcommon.so.0": ("libxkbcommon0", "libxkbcommon"),
    "libxcb-randr.so.0": ("libxcb-randr0", "libxcb"),
    "libxcb-shape.so.0": ("libxcb-shape0", "libxcb"),
    "libxcb-shm.so.0": ("libxcb-shm0", "libxcb"),
    "libxcb-sync.so.1": ("libxcb-sync1", "libxcb"),
    "libxcb-xfixes.so.0": ("libxcb-xfixes0", "libxcb"),
    "libxcb-xkb.so.1": ("libxcb-xkb1", "libxcb"),
    "libxcb-render.so.0": ("libxcb-render0", "libxcb"),
    "libxcb-glx.so.0": ("libxcb-glx0", "libxcb"),
    "libxcb-xinput.so.0": ("libxcb-xinput0", "libxcb"),
    "libxcb.so.1": ("libxcb1", "libxcb"),
    "libX11-xcb.so.1": ("libx11-xcb1", "libX11-xcb"),
    "libX11.so.6": ("libx11-6", "libX11"),
    "libSM.so.6": ("libsm6", "libSM"),
    "libICE.so.6": ("libice6", "libICE"),
    "libEGL.so.1": ("libegl1", "libglvnd-egl"),
    "libGL.so.1": ("libgl1", "libglvnd-glx"),
    "libOpenGL.so.0": ("libopengl0", "libglvnd-opengl"),
    "libfontconfig.so.1": ("libfontconfig1", "fontconfig"),
    "libfreetype.so.6": ("libfreetype6", "freetype"),
    "libdbus-1.so.3": ("libdbus-1-3", "dbus-libs"),
    "libglib-2.0.so.0": ("libglib2.0-0", "glib2"),
}

_NOT_FOUND = re.compile(r"^\s*(\S+)\s+=>\s+not found", re.MULTILINE)


def xcb_plugin() -> Path | None:
    """PySide6's xcb platform plugin, found without importing PySide6."""
    spec = importlib.util.find_spec("PySide6")
    if spec is None or not spec.submodule_search_locations:
        return None
    for folder in spec.submodule_search_locations:
        plugin = Path(folder) / "Qt" / "plugins" / "platforms" / "libqxcb.so"
        if plugin.exists():
            return plugin
    return None


def missing_libraries(plugin: Path) -> list[str]:
    """The sonames `ldd` cannot find for the plugin (and what it loads), in order, once each;
    [] when nothing is missing or ldd is not available."""
    ldd = shutil.which("ldd")
    if ldd is None:
        return []
    try:
        out = subprocess.run(
            [ldd, str(plugin)], capture_output=True, text=True, timeout=20, check=False
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return []
    return list(dict.fromkeys(_NOT_FOUND.findall(out)))


def install_hint(missing: list[str]) -> str:
    """What to tell the user: the missing libraries and the command that installs them."""
    debian = [PACKAGES[m][0] for m in missing if m in PACKAGES]
    fedora = [PACKAGES[m][1] for m in missing if m in PACKAGES]
    unknown = [m for m in missing if m not in PACKAGES]
    lines = [
        "Hearth's window cannot open: Qt's X11 plugin needs system libraries that are not "
        "installed: " + ", ".join(missing) + "."
    ]
    if debian:
        lines.append("Install them with:")
        lines.append("  sudo apt install " + " ".join(dict.fromkeys(debian)))
        lines.append("  (Fedora: sudo dnf install " + " ".join(dict.fromkeys(fedora)) + ")")
    if unknown:
        lines.append(
            "Install the package that provides " + ", ".join(unknown) + " (your distribution's "
            "package search, e.g. `apt-file search` or `dnf provides`, names it)."
        )
    lines.append("The command line (`hearth chat`, `hearth ask`, ...) works without them.")
    return "\n".join(lines)


def uses_xcb(environ: dict[str, str] | os._Environ[str] = os.environ) -> bool:
    """Whether Qt will load its xcb plugin: Linux, and no other platform chosen."""
    if not sys.platform.startswith("linux"):
        return False
    chosen = environ.get("QT_QPA_PLATFORM", "")
    if chosen:
        return chosen.split(":", 1)[0].split(";", 1)[0] == "xcb"
    # In a Wayland session Qt tries its Wayland plugin first and needs xcb only as a fallback.
    return not environ.get("WAYLAND_DISPLAY")


def check_window_libraries() -> str | None:
    """None when the window can open as far as system libraries go, else the message."""
    if not uses_xcb():
        return None
    plugin = xcb_plugin()
    if plugin is None:
        return None
    missing = missing_libraries(plugin)
    return install_hint(missing) if missing else None


def main() -> int:
    message = check_window_libraries()
    if message:
        sys.stderr.write(message + "\n")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
