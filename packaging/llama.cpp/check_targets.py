#!/usr/bin/env python3
"""Compile Hearth's patched ggml CPU backend for every CPU Hearth's users have, and check the
patched kernels against double-precision references where this machine can run the target.

    python3 packaging/llama.cpp/check_targets.py                  # every target
    python3 packaging/llama.cpp/check_targets.py --targets avx512,aarch64-neon
    python3 packaging/llama.cpp/check_targets.py --compile-only --json

Each target is a configuration of llama.cpp's own CMake options with GGML_NATIVE=OFF (the
instruction sets spelled out, as a distribution or a CI build would), so a target compiles
the same code paths that a user's -march=native build on such a CPU compiles. Only the
`ggml-cpu` library (and `ggml-base`, which it needs) is built, not llama.cpp itself. aarch64
targets are cross-compiled with Debian's `aarch64-linux-gnu-g++` and run under `qemu-aarch64`
(Debian's `qemu-user`) when those are installed.

For every target that compiled, `check/kernel_check.c` is linked against its libraries and run
when this machine can execute it (its CPU has the target's instructions, or qemu emulates it):
GELU, softmax and flash attention (F16 and F32 K/V, several head sizes, 1 and 2 threads)
against references computed in double precision.

Standard library only. The patched source and the builds are kept in --work (default
`.cache/check-targets` in the repository), so a second run only rebuilds what changed.
Exit status: 0 when every target compiled and every check that ran passed.
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import json
import os
import platform
import shutil
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
sys.path.insert(0, str(HERE.parent))
import llama_cpp_build as build  # noqa: E402 - stdlib only, beside this folder

CHECK_SOURCE = HERE / "check" / "kernel_check.c"
AARCH64_PREFIX = "aarch64-linux-gnu-"
AARCH64_SYSROOT = "/usr/aarch64-linux-gnu"

_X86_OFF = {
    "GGML_SSE42": "OFF", "GGML_AVX": "OFF", "GGML_AVX2": "OFF", "GGML_FMA": "OFF",
    "GGML_F16C": "OFF", "GGML_BMI2": "OFF", "GGML_AVX_VNNI": "OFF", "GGML_AVX512": "OFF",
    "GGML_AVX512_VBMI": "OFF", "GGML_AVX512_VNNI": "OFF", "GGML_AVX512_BF16": "OFF",
    "GGML_AMX_TILE": "OFF", "GGML_AMX_INT8": "OFF", "GGML_AMX_BF16": "OFF",
}  # fmt: skip
_AVX2 = {"GGML_SSE42": "ON", "GGML_AVX": "ON", "GGML_AVX2": "ON", "GGML_FMA": "ON",
         "GGML_F16C": "ON", "GGML_BMI2": "ON"}  # fmt: skip


@dataclasses.dataclass(frozen=True)
class Target:
    name: str
    description: str
    arch: str  # "x86_64" or "aarch64"
    options: dict[str, str]
    cpu_flags: tuple[str, ...] = ()  # /proc/cpuinfo flags an x86 CPU needs to run it
    qemu_cpu: str = ""  # qemu-aarch64 -cpu (aarch64)


TARGETS = [
    Target("sse42", "x86-64 with SSE4.2 only (Nehalem and later, old Atoms)", "x86_64",
           {**_X86_OFF, "GGML_SSE42": "ON"}, ("sse4_2",)),
    Target("avx", "x86-64 with AVX and F16C, no AVX2/FMA (Sandy and Ivy Bridge)", "x86_64",
           {**_X86_OFF, "GGML_SSE42": "ON", "GGML_AVX": "ON", "GGML_F16C": "ON"},
           ("sse4_2", "avx", "f16c")),
    Target("avx2", "x86-64 with AVX2, FMA, F16C (Haswell and later, Zen 1-3)", "x86_64",
           {**_X86_OFF, **_AVX2}, ("avx2", "fma", "f16c", "bmi2")),
    Target("avx512", "AVX-512 F/CD/VL/DQ/BW (Skylake-X, Zen 4 without the extras)", "x86_64",
           {**_X86_OFF, **_AVX2, "GGML_AVX512": "ON"},
           ("avx2", "fma", "f16c", "bmi2", "avx512f", "avx512cd", "avx512vl", "avx512dq",
            "avx512bw")),
    Target("avx512-vnni-bf16", "AVX-512 with VBMI, VNNI and BF16 (Ice Lake and later, Zen 4/5)",
           "x86_64",
           {**_X86_OFF, **_AVX2, "GGML_AVX512": "ON", "GGML_AVX512_VBMI": "ON",
            "GGML_AVX512_VNNI": "ON", "GGML_AVX512_BF16": "ON"},
           ("avx2", "fma", "f16c", "bmi2", "avx512f", "avx512cd", "avx512vl", "avx512dq",
            "avx512bw", "avx512vbmi", "avx512_vnni", "avx512_bf16")),
    # AMX's own matrix kernels are compiled but not used (patch 0005: they crash in the
    # first decode on Sapphire Rapids); the patched kernels must still build beside them.
    Target("avx512-amx", "AVX-512 with VNNI, BF16 and AMX (Sapphire Rapids and later Xeons)",
           "x86_64",
           {**_X86_OFF, **_AVX2, "GGML_AVX512": "ON", "GGML_AVX512_VBMI": "ON",
            "GGML_AVX512_VNNI": "ON", "GGML_AVX512_BF16": "ON", "GGML_AMX_TILE": "ON",
            "GGML_AMX_INT8": "ON", "GGML_AMX_BF16": "ON"},
           ("avx2", "fma", "f16c", "bmi2", "avx512f", "avx512cd", "avx512vl", "avx512dq",
            "avx512bw", "avx512vbmi", "avx512_vnni", "avx512_bf16", "amx_tile", "amx_int8")),
    Target("aarch64-neon", "ARMv8-A with NEON only (Raspberry Pi 4, older ARM laptops)",
           "aarch64", {"GGML_CPU_ARM_ARCH": "armv8-a"}, qemu_cpu="cortex-a72"),
    Target("aarch64-apple-like", "ARMv8.2-A with dot product and FP16 (Apple M1 and later, "
           "Snapdragon X)", "aarch64", {"GGML_CPU_ARM_ARCH": "armv8.2-a+dotprod+fp16"},
           qemu_cpu="max"),
    Target("aarch64-sve", "ARMv8.2-A with SVE (Graviton 3, Grace)", "aarch64",
           {"GGML_CPU_ARM_ARCH": "armv8.2-a+dotprod+fp16+sve"}, qemu_cpu="max"),
]  # fmt: skip
BY_NAME = {t.name: t for t in TARGETS}

_COMMON = {
    "CMAKE_BUILD_TYPE": "Release", "BUILD_SHARED_LIBS": "OFF", "GGML_NATIVE": "OFF",
    "GGML_CCACHE": "OFF", "LLAMA_BUILD_TESTS": "OFF", "LLAMA_BUILD_EXAMPLES": "OFF",
    "LLAMA_BUILD_TOOLS": "OFF", "LLAMA_BUILD_SERVER": "OFF", "LLAMA_BUILD_COMMON": "OFF",
    "LLAMA_CURL": "OFF",
}  # fmt: skip


@dataclasses.dataclass
class Result:
    target: str
    description: str
    compiled: bool | None = None  # None: not tried (no compiler for it)
    compile_s: float = 0.0
    checks: str = "not run"  # "passed", "FAILED", "not run"
    reason: str = ""  # why not compiled / not run, or what failed
    log: str = ""


def host_arch() -> str:
    machine = platform.machine().lower()
    return {"amd64": "x86_64", "arm64": "aarch64"}.get(machine, machine)


def cpu_flags() -> set[str]:
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as f:
            for line in f:
                if line.startswith("flags"):
                    return set(line.split(":", 1)[1].split())
    except OSError:
        pass
    return set()


def compilers(target: Target) -> tuple[str, str] | None:
    """(C compiler, C++ compiler) for the target, or None when none is installed."""
    if target.arch == host_arch():
        cc, cxx = os.environ.get("CC", "cc"), os.environ.get("CXX", "c++")
    elif target.arch == "aarch64":
        cc, cxx = AARCH64_PREFIX + "gcc", AARCH64_PREFIX + "g++"
    else:
        return None
    return (cc, cxx) if shutil.which(cc) and shutil.which(cxx) else None


def runner(target: Target) -> tuple[list[str] | None, str]:
    """How to run a program built for the target here (a command prefix), or None and why."""
    if target.arch == host_arch():
        if host_arch() == "x86_64":
            missing = [f for f in target.cpu_flags if f not in cpu_flags()]
            if missing:
                return None, "this CPU lacks " + ", ".join(missing)
        return [], ""
    if target.arch == "aarch64":
        qemu = shutil.which("qemu-aarch64") or shutil.which("qemu-aarch64-static")
        if qemu is None:
            return None, "qemu-aarch64 is not installed (Debian: apt install qemu-user)"
        return [qemu, "-cpu", target.qemu_cpu or "max", "-L", AARCH64_SYSROOT], ""
    return None, f"no way to run {target.arch} programs here"


def _patch_digest() -> str:
    h = hashlib.sha256(build.PATCHED_VERSION.encode())
    for p in build.patches():
        h.update(p.name.encode() + p.read_bytes())
    return h.hexdigest()[:12]


def prepare_source(work: Path, patched: bool = True) -> Path:
    """The pinned release's llama.cpp with Hearth's patches applied (kept in `work`); with
    patched=False the release as it is, to see which checks only the patches meet."""
    folder = work / (f"src-{_patch_digest()}" if patched else f"src-release-{build.VERSION}")
    done = folder / ".patched"
    if not done.exists():
        shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir(parents=True)

        def run(cmd: list[str]) -> None:
            subprocess.run(cmd, check=True, capture_output=True)

        source = build.fetch_source(Path(sys.executable), run, folder)
        if patched:
            build.apply_patches(source, run)
        (folder / "llama.cpp").symlink_to(source / "vendor" / "llama.cpp")
        done.write_text(build.PATCHED_VERSION + "\n")
    return folder / "llama.cpp"


def _cmake_command(target: Target, source: Path, out: Path, cc: str, cxx: str) -> list[str]:
    options = {**_COMMON, **target.options, "CMAKE_C_COMPILER": cc, "CMAKE_CXX_COMPILER": cxx}
    if target.arch != host_arch():
        options |= {"CMAKE_SYSTEM_NAME": "Linux", "CMAKE_SYSTEM_PROCESSOR": target.arch}
    return ["cmake", "-S", str(source), "-B", str(out), *(f"-D{k}={v}" for k, v in options.items())]


def _static_libs(out: Path) -> list[str]:
    libs = []
    for name in ("libggml-cpu.a", "libggml-base.a"):
        found = sorted(out.rglob(name))
        if not found:
            raise FileNotFoundError(f"{name} was not built in {out}")
        libs.append(str(found[0]))
    return libs


def compile_target(target: Target, source: Path, work: Path, jobs: int) -> tuple[Result, Path]:
    result = Result(target.name, target.description)
    tools = compilers(target)
    exe = work / "build" / target.name / "kernel_check"
    if tools is None:
        hint = " (Debian: apt install g++-aarch64-linux-gnu)" if target.arch == "aarch64" else ""
        result.reason = f"no {target.arch} compiler installed{hint}"
        return result, exe
    cc, cxx = tools
    out = work / "build" / target.name
    out.mkdir(parents=True, exist_ok=True)
    log = out / "build.log"
    result.log = str(log)
    started = time.monotonic()
    steps = [
        _cmake_command(target, source, out / "cmake", cc, cxx),
        ["cmake", "--build", str(out / "cmake"), "--target", "ggml-cpu", "-j", str(jobs)],
    ]
    with log.open("w", encoding="utf-8") as f:
        for cmd in steps:
            f.write("+ " + " ".join(cmd) + "\n")
            f.flush()
            if subprocess.run(cmd, stdout=f, stderr=subprocess.STDOUT).returncode != 0:
                result.compiled, result.reason = False, f"compiler errors, see {log}"
                result.compile_s = time.monotonic() - started
                return result, exe
        try:
            libs = _static_libs(out / "cmake")
        except FileNotFoundError as exc:
            result.compiled, result.reason = False, str(exc)
            return result, exe
        link = [cc, "-O2", "-std=c11", "-I", str(source / "ggml" / "include"), str(CHECK_SOURCE),
                *libs, "-o", str(exe), "-lstdc++", "-lm", "-lpthread", "-fopenmp"]  # fmt: skip
        f.write("+ " + " ".join(link) + "\n")
        f.flush()
        linked = subprocess.run(link, stdout=f, stderr=subprocess.STDOUT).returncode == 0
    result.compile_s = round(time.monotonic() - started, 1)
    result.compiled = linked
    if not linked:
        result.reason = f"the kernel check did not link, see {log}"
    return result, exe


def run_checks(target: Target, exe: Path, result: Result) -> None:
    prefix, why = runner(target)
    if prefix is None:
        result.reason = why
        return
    emulated = bool(prefix)
    cmd = [*prefix, str(exe), *(["--quick"] if emulated else [])]
    done = subprocess.run(cmd, capture_output=True, text=True)
    output = done.stdout + done.stderr
    Path(result.log).with_name("checks.log").write_text(output, encoding="utf-8")
    result.checks = "passed" if done.returncode == 0 else "FAILED"
    failed = [line for line in output.splitlines() if "FAILED" in line]
    if done.returncode != 0:
        last = output.strip().splitlines()[-1:] or [f"exit status {done.returncode}"]
        more = f" and {len(failed) - 2} more" if len(failed) > 2 else ""
        result.reason = "; ".join(" ".join(f.split()) for f in failed[:2]) + more or last[0]
    elif emulated:
        result.reason = "ran under qemu-aarch64 -cpu " + prefix[2]


def check(
    names: list[str], work: Path, jobs: int, compile_only: bool, patched: bool = True
) -> list[Result]:
    source = prepare_source(work, patched)
    builds = work if patched else work / "release"
    results = []
    for name in names:
        target = BY_NAME[name]
        result, exe = compile_target(target, source, builds, jobs)
        if result.compiled and not compile_only:
            run_checks(target, exe, result)
        elif result.compiled:
            result.reason = "compile only"
        results.append(result)
        print(_line(result), file=sys.stderr, flush=True)
    return results


def _line(r: Result) -> str:
    compiled = {None: "not compiled", True: f"compiled ({r.compile_s:.0f} s)", False: "FAILED"}
    text = f"{r.target:20} {compiled[r.compiled]:16} checks {r.checks}"
    return text + (f"  ({r.reason})" if r.reason else "")


def ok(results: list[Result]) -> bool:
    return all(r.compiled is not False and r.checks != "FAILED" for r in results)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--targets", default=",".join(BY_NAME),
                        help="comma-separated, from: " + ", ".join(BY_NAME))  # fmt: skip
    parser.add_argument("--work", type=Path, default=ROOT / ".cache" / "check-targets")
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 2)
    parser.add_argument("--compile-only", action="store_true")
    parser.add_argument("--json", action="store_true", help="print the results as JSON")
    parser.add_argument(
        "--release",
        action="store_true",
        help="build the unpatched release instead (shows which checks only the patches meet)",
    )
    args = parser.parse_args(argv)
    names = [n.strip() for n in args.targets.split(",") if n.strip()]
    unknown = [n for n in names if n not in BY_NAME]
    if unknown:
        parser.error("unknown target(s): " + ", ".join(unknown))
    try:
        results = check(names, args.work.resolve(), args.jobs, args.compile_only, not args.release)
    except (subprocess.CalledProcessError, OSError) as exc:
        print(f"Could not prepare the patched llama.cpp source: {exc}", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps([dataclasses.asdict(r) for r in results], indent=2))
    else:
        print("\n".join(_line(r) for r in results))
    return 0 if ok(results) else 1


if __name__ == "__main__":
    sys.exit(main())
