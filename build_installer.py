#!/usr/bin/env python3
"""Build Hearth's installer for the OS this runs on, from the project's own environment.

    python3 build_installer.py [--with-models] [--out DIR] [--check] [--force]

1. PyInstaller (packaging/hearth.spec) makes a self-contained one-folder bundle: Python,
   Qt with its plugins, llama.cpp's shared libraries, chromadb's Rust engine, pypdf, Hearth
   and its resources, and the licences of everything in it. `--with-models` adds the default
   models (SmolLM2 135M GGUF, Gemma 3 270M in parts, all-MiniLM-L6-v2 safetensors+tokenizer).
2. The OS's usual package is made from it:
   Linux    <out>/hearth-<ver>-linux-<arch>[-models].tar.gz (the folder is also an AppDir)
            <out>/hearth_<ver>[+models]_<debarch>.deb (dpkg-deb; installs to /opt/hearth)
            an AppImage too, when `appimagetool` is already installed (nothing is downloaded)
   macOS    <out>/Hearth-<ver>-macos-<arch>[-models].dmg holding Hearth.app (hdiutil)
   Windows  <out>/Hearth-<ver>-windows-<arch>[-models].zip of the program folder
   (the macOS and Windows branches have not been run: only Linux was available.)
3. `--check` runs the built program's `--self-test` in a clean environment (no Python, no
   virtualenv, an empty home folder, Qt offscreen).

Nothing is fetched from the network: everything comes from the virtual environment that
`python3 bootstrap.py test` set up (plus PyInstaller, from the dev extras). A build whose
inputs (sources, packaging files, installed package versions, options) are unchanged since
the last one in the same --out folder is reused; --force rebuilds.
"""

from __future__ import annotations

import argparse
import hashlib
import importlib.metadata as md
import json
import os
import platform
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
import zipfile
from dataclasses import asdict, dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent
PACKAGING = ROOT / "packaging"
SPEC = PACKAGING / "hearth.spec"
VENV = ROOT / ".venv"
SOURCE_DIRS = ["app", "ui", "engine", "rag", "resources", "packaging"]
SOURCE_FILES = ["build_installer.py", "pyproject.toml"]
STAMP_NAME = "build-info.json"
IS_WINDOWS = sys.platform == "win32"
IS_MAC = sys.platform == "darwin"
OS_NAME = "windows" if IS_WINDOWS else ("macos" if IS_MAC else "linux")

# Libraries the Qt xcb platform plugin needs from the system on Debian/Ubuntu (X11, OpenGL
# loaders, fonts, keyboard); Qt itself is in the bundle.
DEB_GUI_DEPENDS = [
    "libgl1",
    "libegl1",
    "libfontconfig1",
    "libfreetype6",
    "libdbus-1-3",
    "libxkbcommon0",
    "libxkbcommon-x11-0",
    "libxcb-cursor0",
    "libxcb-icccm4",
    "libxcb-keysyms1",
    "libxcb-shape0",
]


class BuildError(RuntimeError):
    pass


def log(msg: str) -> None:
    print(f"[build_installer] {msg}", flush=True)


# -- environment -------------------------------------------------------------------------------


def venv_python() -> Path:
    return VENV / ("Scripts/python.exe" if IS_WINDOWS else "bin/python")


def in_project_venv() -> bool:
    try:
        return Path(sys.prefix).resolve() == VENV.resolve()
    except OSError:
        return False


def reexec_in_venv(argv: list[str]) -> int | None:
    """Run this script again with the project's environment (PyInstaller must analyse the
    interpreter that has Hearth's dependencies). None when already there."""
    if in_project_venv() or os.environ.get("HEARTH_BUILD_ANY_PYTHON") == "1":
        return None
    python = venv_python()
    if not python.exists():
        raise BuildError(
            f"No project environment at {VENV}. Run `python3 bootstrap.py test` first, then "
            "`.venv/bin/pip install -e .[dev]` (PyInstaller is a dev dependency)."
        )
    log(f"using the project environment: {python}")
    return subprocess.call([str(python), str(Path(__file__).resolve()), *argv])


def require_pyinstaller() -> str:
    try:
        return md.version("pyinstaller")
    except md.PackageNotFoundError as exc:
        raise BuildError(
            "PyInstaller is not installed in the project environment: "
            f"`{venv_python()} -m pip install -e .[dev]` (or `pip install pyinstaller`)."
        ) from exc


def hearth_version() -> str:
    import tomllib

    return str(tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"])


def machine() -> str:
    m = platform.machine().lower()
    return {"amd64": "x86_64", "x64": "x86_64", "aarch64": "arm64"}.get(m, m)


def deb_arch() -> str:
    try:
        out = subprocess.run(
            ["dpkg", "--print-architecture"], capture_output=True, text=True, check=True
        )
        return out.stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return {"x86_64": "amd64", "arm64": "arm64"}.get(machine(), machine())


def glibc_version() -> str | None:
    try:
        text = os.confstr("CS_GNU_LIBC_VERSION") or ""
    except (ValueError, OSError, AttributeError):
        return None
    parts = text.split()
    return parts[1] if len(parts) == 2 and parts[0] == "glibc" else None


# -- inputs, reuse ---------------------------------------------------------------------------


def _source_files() -> list[Path]:
    files = [ROOT / f for f in SOURCE_FILES]
    for d in SOURCE_DIRS:
        for p in sorted((ROOT / d).rglob("*")):
            if p.is_file() and "__pycache__" not in p.parts and p.suffix not in (".pyc", ".pyo"):
                files.append(p)
    return files


def input_fingerprint(with_models: bool) -> str:
    """Everything the bundle is made of: Hearth's sources and packaging files, every installed
    distribution and version (model packages included), Python, the OS, the options."""
    h = hashlib.sha256()
    h.update(f"{sys.version}|{sys.platform}|{machine()}|models={with_models}\n".encode())
    for p in _source_files():
        h.update(str(p.relative_to(ROOT)).encode() + b"\0")
        h.update(hashlib.sha256(p.read_bytes()).digest())
    dists = sorted(f"{(d.metadata['Name'] or '').lower()}=={d.version}" for d in md.distributions())
    h.update("\n".join(dists).encode())
    return h.hexdigest()


@dataclass
class BuildInfo:
    version: str
    os: str
    arch: str
    with_models: bool
    fingerprint: str
    bundle: str  # the program folder (or Hearth.app)
    executable: str
    bundle_bytes: int = 0
    build_s: float = 0.0  # PyInstaller
    package_s: float = 0.0
    packages: dict[str, int] = field(default_factory=dict)  # file -> bytes
    pyinstaller: str = ""
    built_at: str = ""
    reused: bool = False

    def save(self, path: Path) -> None:
        path.write_text(json.dumps(asdict(self), indent=2) + "\n")

    @classmethod
    def load(cls, path: Path) -> BuildInfo | None:
        try:
            raw = json.loads(path.read_text())
            return cls(**raw)
        except (OSError, ValueError, TypeError):
            return None


def tree_size(path: Path) -> int:
    """Bytes of regular files under path (symbolic links counted once, as links)."""
    if path.is_file():
        return path.stat().st_size
    total = 0
    for p in path.rglob("*"):
        if p.is_file() and not p.is_symlink():
            total += p.stat().st_size
    return total


def human(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} GiB"


# -- PyInstaller -----------------------------------------------------------------------------


def variant_name(version: str, with_models: bool) -> str:
    return f"hearth-{version}-{OS_NAME}-{machine()}" + ("-models" if with_models else "")


def run_pyinstaller(variant_dir: Path, with_models: bool, clean: bool) -> Path:
    dist = variant_dir / "dist"
    work = variant_dir / "work"
    if dist.exists():
        shutil.rmtree(dist)
    env = dict(os.environ)
    env["HEARTH_BUNDLE_MODELS"] = "1" if with_models else "0"
    env["HEARTH_LICENSES_TXT"] = str(work / "THIRD-PARTY.txt")
    cmd = [
        sys.executable,
        "-m",
        "PyInstaller",
        str(SPEC),
        "--noconfirm",
        "--log-level",
        "WARN",
        "--distpath",
        str(dist),
        "--workpath",
        str(work),
    ]
    if clean:
        cmd.append("--clean")
    log("PyInstaller: " + " ".join(cmd[3:]))
    result = subprocess.run(cmd, cwd=ROOT, env=env)
    if result.returncode != 0:
        raise BuildError(f"PyInstaller failed (exit {result.returncode}); see its output above.")
    bundle = dist / ("Hearth.app" if IS_MAC else "hearth")
    if not bundle.exists():
        raise BuildError(f"PyInstaller finished but {bundle} is missing.")
    return bundle


def internal_dir(bundle: Path) -> Path:
    if IS_MAC:
        return bundle / "Contents" / "Frameworks"  # PyInstaller's .app layout (sys._MEIPASS)
    return bundle / "_internal"


def executable_in(bundle: Path) -> Path:
    if IS_MAC:
        return bundle / "Contents" / "MacOS" / "hearth"
    return bundle / ("hearth.exe" if IS_WINDOWS else "hearth")


def verify_bundle(bundle: Path, with_models: bool) -> list[str]:
    """What must be inside, checked by name; returns problems (empty when complete)."""
    sys.path.insert(0, str(PACKAGING))
    try:
        import bundle_plan as plan
    finally:
        sys.path.remove(str(PACKAGING))
    inner = internal_dir(bundle)
    problems: list[str] = []
    if not executable_in(bundle).exists():
        problems.append(f"program {executable_in(bundle)} missing")
    lib_glob = "*.dll" if IS_WINDOWS else ("*.dylib" if IS_MAC else "*.so*")
    libs = {p.name for p in (inner / "llama_cpp" / "lib").glob(lib_glob)}
    if IS_WINDOWS:
        libs |= {p.name for p in (inner / "llama_cpp" / "bin").glob(lib_glob)}
    for stem in ("llama", "ggml", "ggml-base"):
        if not any(n.startswith((f"lib{stem}.", f"{stem}.")) for n in libs):
            problems.append(f"llama.cpp library {stem} missing")
    plat_key = "win32" if IS_WINDOWS else ("darwin" if IS_MAC else "linux")
    qt_plugins = [p for p in inner.rglob("plugins/platforms/*") if p.is_file()]
    for name in plan.QT_PLATFORM_PLUGINS_REQUIRED[plat_key]:
        if not any(name in p.name for p in qt_plugins):
            problems.append(f"Qt platform plugin {name} missing")
    if not list(inner.rglob("plugins/imageformats/*")):
        problems.append("Qt imageformats plugins missing")
    if not list((inner / "chromadb_rust_bindings").glob("chromadb_rust_bindings*")):
        problems.append("chromadb_rust_bindings (Chroma's engine) missing")
    resources = inner / "resources"
    if IS_MAC and not resources.exists():
        resources = bundle / "Contents" / "Resources" / "resources"
    if not (resources / "selftest" / "hearth-selftest.pdf").exists():
        problems.append("resources/selftest/hearth-selftest.pdf missing")
    licenses = inner / "LICENSES"
    if IS_MAC and not licenses.exists():
        licenses = bundle / "Contents" / "Resources" / "LICENSES"
    if not (licenses / "THIRD-PARTY.txt").exists():
        problems.append("LICENSES/THIRD-PARTY.txt missing")
    if not list(licenses.glob("models/*/*")):
        problems.append("model licences (LICENSES/models) missing")
    if with_models:
        for part in plan.model_parts():
            if not (inner / part.relpath).exists() and not (
                IS_MAC and (bundle / "Contents" / "Resources" / part.relpath).exists()
            ):
                problems.append(f"model file {part.relpath} missing")
    return problems


# -- packages --------------------------------------------------------------------------------


def _add_tree_to_tar(tar: tarfile.TarFile, src: Path, arcname: str) -> None:
    def norm(info: tarfile.TarInfo) -> tarfile.TarInfo:
        info.uid = info.gid = 0
        info.uname = info.gname = "root"
        return info

    tar.add(src, arcname=arcname, filter=norm)


def package_linux_tar(bundle: Path, out: Path, name: str) -> Path:
    """The bundle as <name>/ (also an AppDir: AppRun, hearth.desktop, hearth.png)."""
    target = out / f"{name}.tar.gz"
    tmp = target.with_suffix(".tmp")
    with tarfile.open(tmp, "w:gz", compresslevel=6) as tar:
        _add_tree_to_tar(tar, bundle, name)
        for extra, arc in (
            (PACKAGING / "linux" / "AppRun", "AppRun"),
            (PACKAGING / "linux" / "hearth.desktop", "hearth.desktop"),
            (PACKAGING / "icons" / "hearth.png", "hearth.png"),
            (PACKAGING / "icons" / "hearth.png", ".DirIcon"),
        ):
            _add_tree_to_tar(tar, extra, f"{name}/{arc}")
    os.replace(tmp, target)
    return target


def _link_or_copy_tree(src: Path, dst: Path) -> None:
    """Hard links where the file system allows (no second copy of the models), else copies."""

    def link(s: str, d: str) -> None:
        try:
            os.link(s, d)
        except OSError:
            shutil.copy2(s, d)

    shutil.copytree(src, dst, symlinks=True, copy_function=link)


def deb_control(version: str, installed_kib: int, with_models: bool) -> str:
    glibc = glibc_version()
    depends = [f"libc6 (>= {glibc})" if glibc else "libc6", *DEB_GUI_DEPENDS]
    text = (PACKAGING / "linux" / "control.in").read_text()
    return (
        text.replace("@VERSION@", version)
        .replace("@ARCH@", deb_arch())
        .replace("@INSTALLED_SIZE@", str(installed_kib))
        .replace("@DEPENDS@", ", ".join(depends))
        .replace(
            "@VARIANT@",
            "with the default models" if with_models else "models are added after install",
        )
    )


def package_deb(bundle: Path, out: Path, work: Path, version: str, with_models: bool) -> Path:
    """/opt/hearth (the bundle), /usr/bin/hearth, a desktop entry and icon; dpkg-deb only."""
    if shutil.which("dpkg-deb") is None:
        raise BuildError("dpkg-deb is not installed (Debian package `dpkg`).")
    deb_version = version + ("+models" if with_models else "")
    root = work / "deb-root"
    if root.exists():
        shutil.rmtree(root)
    (root / "opt").mkdir(parents=True)
    _link_or_copy_tree(bundle, root / "opt" / "hearth")
    (root / "usr" / "bin").mkdir(parents=True)
    os.symlink("../../opt/hearth/hearth", root / "usr" / "bin" / "hearth")
    apps = root / "usr" / "share" / "applications"
    apps.mkdir(parents=True)
    shutil.copyfile(PACKAGING / "linux" / "hearth.desktop", apps / "hearth.desktop")
    icons = root / "usr" / "share" / "icons" / "hicolor" / "256x256" / "apps"
    icons.mkdir(parents=True)
    shutil.copyfile(PACKAGING / "icons" / "hearth.png", icons / "hearth.png")
    doc = root / "usr" / "share" / "doc" / "hearth"
    doc.mkdir(parents=True)
    shutil.copyfile(PACKAGING / "linux" / "copyright.in", doc / "copyright")
    debian = root / "DEBIAN"
    debian.mkdir()
    installed_kib = (tree_size(root) + 1023) // 1024
    (debian / "control").write_text(deb_control(deb_version, installed_kib, with_models))
    for p in [root, *root.rglob("*")]:  # dpkg-deb wants no group/world-writable files
        if not p.is_symlink():
            p.chmod(p.stat().st_mode & 0o755 | (0o755 if p.is_dir() else 0))
    target = out / f"hearth_{deb_version}_{deb_arch()}.deb"
    cmd = ["dpkg-deb", "--root-owner-group", "-Zgzip", "-z6", "--build", str(root), str(target)]
    log("dpkg-deb: " + " ".join(cmd[1:]))
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
    shutil.rmtree(root)
    return target


def package_appimage(out: Path, tarball: Path, name: str, work: Path) -> Path | None:
    """Only with an appimagetool the user installed: no tool is ever downloaded."""
    tool = shutil.which("appimagetool")
    if tool is None:
        log("AppImage: skipped (no `appimagetool` installed; the .tar.gz folder is an AppDir)")
        return None
    appdir = work / "AppDir"
    if appdir.exists():
        shutil.rmtree(appdir)
    with tarfile.open(tarball) as tar:
        tar.extractall(work / "appdir-unpack", filter="tar")
    shutil.move(str(work / "appdir-unpack" / name), appdir)
    target = out / f"{name}.AppImage"
    env = dict(os.environ, ARCH=machine())
    subprocess.run([tool, "--no-appstream", str(appdir), str(target)], check=True, env=env)
    shutil.rmtree(appdir, ignore_errors=True)
    return target


def package_dmg(bundle: Path, out: Path, work: Path, name: str) -> Path:  # untested
    """Hearth.app and a link to /Applications in a compressed disk image (hdiutil)."""
    stage = work / "dmg"
    if stage.exists():
        shutil.rmtree(stage)
    stage.mkdir(parents=True)
    shutil.copytree(bundle, stage / bundle.name, symlinks=True)
    os.symlink("/Applications", stage / "Applications")
    target = out / f"{name}.dmg"
    target.unlink(missing_ok=True)
    subprocess.run(
        [
            "hdiutil",
            "create",
            "-volname",
            "Hearth",
            "-srcfolder",
            str(stage),
            "-ov",
            "-format",
            "UDZO",
            str(target),
        ],
        check=True,
    )
    shutil.rmtree(stage)
    return target


def package_zip(bundle: Path, out: Path, name: str) -> Path:  # untested on Windows
    """The program folder (hearth.exe, hearth-gui.exe, _internal) as <name>/ in a zip."""
    target = out / f"{name}.zip"
    tmp = target.with_suffix(".tmp")
    with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=6) as zf:
        for p in sorted(bundle.rglob("*")):
            if p.is_file():
                zf.write(p, f"{name}/{p.relative_to(bundle).as_posix()}")
    os.replace(tmp, target)
    return target


def make_packages(
    bundle: Path, out: Path, work: Path, version: str, name: str, with_models: bool
) -> list[Path]:
    made: list[Path] = []
    if IS_MAC:
        made.append(package_dmg(bundle, out, work, name))
    elif IS_WINDOWS:
        made.append(package_zip(bundle, out, name))
    else:
        tarball = package_linux_tar(bundle, out, name)
        made.append(tarball)
        made.append(package_deb(bundle, out, work, version, with_models))
        appimage = package_appimage(out, tarball, name, work)
        if appimage:
            made.append(appimage)
    return made


# -- checking the result ---------------------------------------------------------------------


def clean_env(home: Path) -> dict[str, str]:
    """An environment with no Python and no virtualenv: what a fresh user session has."""
    if IS_WINDOWS:
        keep = ("SYSTEMROOT", "WINDIR", "COMSPEC", "PATHEXT", "NUMBER_OF_PROCESSORS")
        env = {k: os.environ[k] for k in keep if k in os.environ}
        env.update(
            PATH=os.path.join(os.environ.get("SYSTEMROOT", r"C:\Windows"), "System32"),
            USERPROFILE=str(home),
            APPDATA=str(home / "AppData" / "Roaming"),
            LOCALAPPDATA=str(home / "AppData" / "Local"),
            TEMP=str(home / "Temp"),
            TMP=str(home / "Temp"),
        )
        (home / "Temp").mkdir(parents=True, exist_ok=True)
    else:
        env = {"PATH": "/usr/bin:/bin", "HOME": str(home)}
    env["QT_QPA_PLATFORM"] = "offscreen"
    return env


def run_self_test(executable: Path, timeout_s: float = 900) -> tuple[int, str, float]:
    """The built program's `--self-test` in a clean environment; (exit code, stdout, seconds)."""
    with tempfile.TemporaryDirectory(prefix="hearth-selftest-home-") as home:
        t0 = time.perf_counter()
        proc = subprocess.run(
            [str(executable), "--self-test"],
            env=clean_env(Path(home)),
            cwd=home,
            capture_output=True,
            text=True,
            timeout=timeout_s,
        )
        elapsed = time.perf_counter() - t0
    if proc.returncode != 0 and proc.stderr:
        sys.stderr.write(proc.stderr[-4000:])
    return proc.returncode, proc.stdout.strip(), elapsed


# -- main ------------------------------------------------------------------------------------


def build(out: Path, with_models: bool, force: bool = False, clean: bool = False) -> BuildInfo:
    version = hearth_version()
    name = variant_name(version, with_models)
    out.mkdir(parents=True, exist_ok=True)
    variant_dir = out / f".{name}"
    variant_dir.mkdir(exist_ok=True)
    stamp = variant_dir / STAMP_NAME
    fingerprint = input_fingerprint(with_models)
    previous = BuildInfo.load(stamp)
    if (
        not force
        and previous is not None
        and previous.fingerprint == fingerprint
        and Path(previous.executable).exists()
        and all((out / f).exists() for f in previous.packages)
    ):
        previous.reused = True
        log(f"inputs unchanged since {previous.built_at}: reusing {previous.bundle}")
        return previous

    pyinstaller = require_pyinstaller()
    if with_models:
        sys.path.insert(0, str(PACKAGING))
        try:
            import bundle_plan as plan

            plan.model_datas()  # fails early, naming the missing model package
        finally:
            sys.path.remove(str(PACKAGING))
    t0 = time.perf_counter()
    bundle = run_pyinstaller(variant_dir, with_models, clean)
    build_s = time.perf_counter() - t0
    problems = verify_bundle(bundle, with_models)
    if problems:
        raise BuildError("The bundle is incomplete: " + "; ".join(problems))
    info = BuildInfo(
        version=version,
        os=OS_NAME,
        arch=machine(),
        with_models=with_models,
        fingerprint=fingerprint,
        bundle=str(bundle),
        executable=str(executable_in(bundle)),
        bundle_bytes=tree_size(bundle),
        build_s=round(build_s, 1),
        pyinstaller=pyinstaller,
        built_at=time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    )
    log(f"bundle: {bundle} ({human(info.bundle_bytes)}) in {build_s:.0f} s")
    t1 = time.perf_counter()
    for old in previous.packages if previous else {}:
        (out / old).unlink(missing_ok=True)
    made = make_packages(bundle, out, variant_dir, version, name, with_models)
    info.package_s = round(time.perf_counter() - t1, 1)
    info.packages = {p.name: p.stat().st_size for p in made}
    info.save(stamp)
    return info


def main(argv: list[str] | None = None) -> int:
    args_list = sys.argv[1:] if argv is None else argv
    parser = argparse.ArgumentParser(
        description="Build Hearth's installer for this OS (see the module docstring)."
    )
    parser.add_argument(
        "--with-models", action="store_true", help="put the default models into the bundle"
    )
    parser.add_argument(
        "--out", type=Path, default=ROOT / "dist", help="output folder (default: dist/)"
    )
    parser.add_argument(
        "--check", action="store_true", help="run the built program's --self-test afterwards"
    )
    parser.add_argument("--force", action="store_true", help="rebuild even if nothing changed")
    parser.add_argument("--clean", action="store_true", help="empty PyInstaller's cache first")
    parser.add_argument("--json", action="store_true", help="print the build summary as JSON")
    args = parser.parse_args(args_list)
    try:
        rc = reexec_in_venv(args_list)
        if rc is not None:
            return rc
        info = build(args.out.resolve(), args.with_models, force=args.force, clean=args.clean)
    except BuildError as exc:
        print(f"build_installer: {exc}", file=sys.stderr)
        return 1
    except subprocess.CalledProcessError as exc:
        print(f"build_installer: {exc}", file=sys.stderr)
        return 1
    summary: dict[str, object] = asdict(info)
    rc = 0
    if args.check:
        code, line, seconds = run_self_test(Path(info.executable))
        summary["self_test"] = {"exit_code": code, "report": line, "seconds": round(seconds, 1)}
        log(f"self-test (clean environment, {seconds:.0f} s): {line}")
        rc = 0 if code == 0 else 1
    if args.json:
        print(json.dumps(summary, indent=2))
    else:
        state = "reused" if info.reused else f"built in {info.build_s:.0f} s"
        log(f"program: {info.executable} ({human(info.bundle_bytes)}, {state})")
        for fname, size in info.packages.items():
            log(f"package: {args.out.resolve() / fname} ({human(size)})")
        if not info.reused:
            log(f"packaging took {info.package_s:.0f} s")
    return rc


if __name__ == "__main__":
    sys.exit(main())
