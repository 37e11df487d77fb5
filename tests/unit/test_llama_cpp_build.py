"""llama-cpp-python as the bootstrap installs it: the pinned release with Hearth's patches to
llama.cpp (packaging/llama_cpp_build.py, packaging/llama.cpp/*.patch)."""

from __future__ import annotations

import ctypes
import re
import subprocess
import sys
import tarfile
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "packaging"))
import llama_cpp_build as build  # noqa: E402


def _touched_files() -> set[str]:
    files: set[str] = set()
    for p in build.patches():
        files |= set(re.findall(r"^\+\+\+ b/(\S+)$", p.read_text(), flags=re.MULTILINE))
    return files


def test_the_build_is_the_release_pyproject_pins() -> None:
    deps = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    pins = [d for d in deps["dependencies"] if d.startswith("llama-cpp-python")]
    pins += [
        d
        for extra in deps["optional-dependencies"].values()
        for d in extra
        if d.startswith("llama-cpp-python")
    ]
    assert pins and all(d.endswith(f"=={build.VERSION}") for d in pins), pins
    assert f"{build.VERSION}+{build.LOCAL}" == build.PATCHED_VERSION
    assert len(build.patches()) == 5
    assert _touched_files() == {
        "ggml/src/ggml-cpu/ggml-cpu.cpp",  # 0005: AMX's buffer type left out
        "ggml/src/ggml-cpu/vec.h",
        "ggml/src/ggml-cpu/vec.cpp",
        "ggml/src/ggml-cpu/ops.cpp",
        "src/llama-graph.cpp",
    }


def test_the_environment_runs_the_patched_llama_cpp(patched_llama_cpp: str) -> None:
    """What the bootstrap installed: the patched version, and the patched library is the one
    llama_cpp loads (it exports the vectorised GELU the first patch adds). Skipped, with the
    reason, where the patched build failed and the release runs."""
    import importlib.metadata as md

    import llama_cpp

    assert md.version("llama_cpp_python") == build.PATCHED_VERSION
    assert llama_cpp.__version__ == build.PATCHED_VERSION
    lib_dir = Path(llama_cpp.llama_cpp._lib._name).parent  # where libllama was loaded from
    cpu = sorted(lib_dir.glob("*ggml-cpu*"))[0]
    assert hasattr(ctypes.CDLL(str(cpu)), "ggml_vec_gelu_f32_simd")


@pytest.fixture(scope="module")
def release_source(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The files of the pinned source release that the patches and set_version touch
    (pip download, from pip's cache after the bootstrap's own download)."""
    work = tmp_path_factory.mktemp("sdist")
    subprocess.run(
        [sys.executable, "-m", "pip", "download", "--no-deps", "--no-binary", ":all:",
         f"{build.DIST}=={build.VERSION}", "-d", str(work), "-q"],
        check=True,
    )  # fmt: skip
    sdist = next(work.glob("llama_cpp_python-*.tar.gz"))
    top = sdist.name.removesuffix(".tar.gz")
    wanted = {f"{top}/vendor/llama.cpp/{f}" for f in _touched_files()}
    wanted.add(f"{top}/llama_cpp/__init__.py")
    with tarfile.open(sdist) as tar:
        members = [m for m in tar.getmembers() if m.name in wanted]
        assert len(members) == len(wanted)
        tar.extractall(work, members=members, filter="data")
    return work / top


def _run(cmd: list[str]) -> None:
    subprocess.run(cmd, check=True, capture_output=True)


def test_the_patches_apply_to_the_pinned_release(release_source: Path) -> None:
    build.apply_patches(release_source, _run)
    llama = release_source / "vendor" / "llama.cpp"
    assert "void ggml_vec_gelu_f32_simd(" in (llama / "ggml/src/ggml-cpu/vec.cpp").read_text()
    assert (
        "ggml_cpu_fp16_to_fp32(mp_row + ic, m_row, kv_tile)"
        in (llama / "ggml/src/ggml-cpu/ops.cpp").read_text()
    )
    assert "llama_graph_cpu_only()" in (llama / "src/llama-graph.cpp").read_text()
    build.set_version(release_source)
    init = (release_source / "llama_cpp" / "__init__.py").read_text()
    assert f'__version__ = "{build.PATCHED_VERSION}"' in init
    # Applying twice fails (git apply refuses), and so does a release of another version.
    with pytest.raises(subprocess.CalledProcessError):
        build.apply_patches(release_source, _run)
    with pytest.raises(ValueError, match=build.VERSION):
        build.set_version(release_source)


def test_an_installed_build_is_not_built_or_installed_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The decision only: the commands are recorded, not run."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.delenv("CMAKE_ARGS", raising=False)
    ran: list[list[str]] = []
    record = tmp_path / "record"
    python = Path(sys.executable)
    # A wheel in the cache and no record of it in the environment: installed from the cache.
    wheel = build.wheel_dir("") / f"llama_cpp_python-{build.PATCHED_VERSION}-cp311-linux.whl"
    wheel.parent.mkdir(parents=True)
    wheel.write_bytes(b"")
    assert build.ensure(python, ran.append, record) == build.PATCHED_VERSION
    assert ran == [
        [str(python), "-m", "pip", "install", "--no-deps", "--force-reinstall", str(wheel)]
    ]
    assert build.read_record(record) == {
        "key": build.build_key(""), "cmake_args": "", "build": "patched"
    }  # fmt: skip
    # Recorded and installed (this environment runs the patched build): nothing to do.
    ran.clear()
    assert build.ensure(python, ran.append, record) == build.PATCHED_VERSION
    assert ran == []


def test_cmake_options_stay_those_of_the_last_build_until_set_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    record = tmp_path / "record"
    monkeypatch.delenv("CMAKE_ARGS", raising=False)
    assert build.cmake_args(record) == ""
    record.write_text('{"key": "x", "cmake_args": "-DGGML_CUDA=on"}')
    assert build.cmake_args(record) == "-DGGML_CUDA=on"  # a GPU build stays one
    monkeypatch.setenv("CMAKE_ARGS", "")
    assert build.cmake_args(record) == ""  # until CMAKE_ARGS says otherwise
    assert build.build_key("") != build.build_key("-DGGML_CUDA=on")
    record.write_text("not json")
    assert build.read_record(record) == {}


def test_without_the_patched_build_the_release_replaces_whatever_build_is_there() -> None:
    python = Path("/venv/bin/python")
    pip = [str(python), "-m", "pip", "install"]
    pin = f"{build.DIST}=={build.VERSION}"
    assert build.fallback_command(python, None, "") == [*pip, pin]
    assert build.fallback_command(python, build.VERSION, "") == [*pip, pin]
    # the patched build satisfies the pin: pip must be told to replace it
    assert build.fallback_command(python, build.PATCHED_VERSION, "") == [
        *pip, "--no-deps", "--force-reinstall", pin
    ]  # fmt: skip
    # a GPU build asked for must not come from pip's wheel cache of a CPU build
    assert build.fallback_command(python, build.VERSION, "-DGGML_CUDA=on") == [
        *pip, "--no-cache-dir", pin
    ]  # fmt: skip


def test_a_failed_patched_build_says_why_in_one_line_and_is_remembered(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """The compiler's output goes to a log file; the terminal gets one line with the first
    error and the log's name; the release is installed; the next set-up does not compile the
    same failing build again (HEARTH_LLAMA_REBUILD=1 does)."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.delenv("CMAKE_ARGS", raising=False)
    monkeypatch.delenv("HEARTH_LLAMA_REBUILD", raising=False)
    log = build.build_log("")
    error = (
        "/tmp/hearth-llama-x/llama_cpp_python-0.3.36/vendor/llama.cpp/ggml/src/ggml-cpu/"
        "vec.cpp:391:52: error: cannot convert '__m256' to '__m512'"
    )

    compiler = tmp_path / "compiler.py"
    compiler.write_text(f"print('compiling')\nprint({error!r})\nraise SystemExit(1)\n")

    def failing_build(python: Path, run: build.Runner, work: Path, args: str) -> Path:
        run([sys.executable, str(compiler)])
        raise AssertionError("the runner raises for a failed command")

    monkeypatch.setattr(build, "build_wheel", failing_build)
    installed: list[str | None] = [build.PATCHED_VERSION]  # an older patched build is there
    monkeypatch.setattr(build, "installed_version", lambda python: installed[0])
    ran: list[list[str]] = []

    def run(cmd: list[str]) -> None:
        ran.append(cmd)
        installed[0] = build.VERSION

    record = tmp_path / "record"
    python = Path(sys.executable)
    assert build.ensure(python, run, record) == build.VERSION
    out = capsys.readouterr().out
    assert "compiling" not in out  # the compiler's output is in the log, not the terminal
    line = next(x for x in out.splitlines() if "did not build" in x)
    assert "ggml/src/ggml-cpu/vec.cpp:391:52: error: cannot convert" in line
    assert str(log) in line and "compiling" in log.read_text()
    assert ran == [build.fallback_command(python, build.PATCHED_VERSION, "")]
    rec = build.read_record(record)
    assert rec["build"] == "release" and rec["log"] == str(log) and "vec.cpp" in rec["reason"]

    ran.clear()
    assert build.ensure(python, run, record) == build.VERSION  # remembered: no second compile
    assert ran == [] and "HEARTH_LLAMA_REBUILD=1" in capsys.readouterr().out
    monkeypatch.setenv("HEARTH_LLAMA_REBUILD", "1")
    assert build.ensure(python, run, record) == build.VERSION  # tried again on request
    assert len(ran) == 1


def test_the_app_names_the_build_it_runs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """engine.runtime.llama_cpp_build reads the version and, for the release, the record the
    bootstrap left beside the environment."""
    import importlib.metadata as md

    from engine import runtime

    monkeypatch.setattr(runtime.sys, "prefix", str(tmp_path))
    monkeypatch.setattr(md, "version", lambda dist: build.PATCHED_VERSION)
    assert runtime.llama_cpp_build() == build.PATCHED_VERSION and runtime.patched_build()
    monkeypatch.setattr(md, "version", lambda dist: build.VERSION)
    assert runtime.llama_cpp_build() == f"{build.VERSION} (release)"
    (tmp_path / runtime.BUILD_RECORD).write_text(
        '{"build": "release", "log": "/cache/llama.log", "reason": "x"}'
    )
    assert runtime.llama_cpp_build() == (
        f"{build.VERSION} (release; patched build failed: see /cache/llama.log)"
    )
    assert not runtime.patched_build()


def test_hearth_version_names_the_llama_cpp_build(capsys: pytest.CaptureFixture[str]) -> None:
    from app.cli import main
    from engine.runtime import llama_cpp_build

    assert main(["--version"]) == 0
    assert capsys.readouterr().out.splitlines() == [
        "Hearth 0.1.0", f"llama.cpp build: {llama_cpp_build()}"
    ]  # fmt: skip
