"""divconq.shared.sysinfo: CPU model, SIMD level and TensorFlow's oneDNN state, without
TensorFlow."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

from divconq.shared import sysinfo

AVX2_EPYC = """processor	: 0
vendor_id	: AuthenticAMD
model name	: AMD EPYC 7B12
flags		: fpu sse2 ssse3 fma sse4_1 sse4_2 avx f16c avx2 bmi2

processor	: 1
model name	: AMD EPYC 7B12
flags		: fpu sse2 ssse3 fma sse4_1 sse4_2 avx f16c avx2 bmi2
"""
AVX512_EPYC = """processor	: 0
model name	: AMD EPYC
flags		: fpu sse2 avx avx2 avx512f avx512bw avx512_vnni avx512_bf16
"""
SAPPHIRE = """processor	: 0
model name	: Intel(R) Xeon(R) Platinum 8480+
flags		: sse2 avx avx2 avx512f avx512_vnni avx512_bf16 amx_bf16 amx_tile amx_int8
"""
SKYLAKE = """processor	: 0
model name	: Intel(R) Xeon(R) Gold 6148
flags		: sse2 avx avx2 avx512f avx512bw avx512cd
"""
GRAVITON = """processor	: 0
BogoMIPS	: 243.75
Features	: fp asimd evtstrm aes pmull sha1 sha2 crc32 atomics sve
CPU implementer	: 0x41
"""


def _info(tmp_path, text, name="cpuinfo"):
    path = tmp_path / name
    path.write_text(text)
    model, flags = sysinfo._read_proc_cpuinfo(path)
    return sysinfo.CpuInfo(model or "unknown", 2, "x86_64", flags)


@pytest.mark.parametrize(
    "text, simd, onednn",
    [
        (AVX2_EPYC, "AVX2", False),
        (AVX512_EPYC, "AVX-512", True),
        (SAPPHIRE, "AMX", True),
        # AVX-512 without VNNI/BF16: TensorFlow leaves oneDNN off by default.
        (SKYLAKE, "AVX-512", False),
        (GRAVITON, "SVE", False),
    ],
)
def test_simd_level_and_onednn_default(tmp_path, text, simd, onednn):
    info = _info(tmp_path, text)
    assert sysinfo.simd_level(info.flags) == simd
    on, reason = sysinfo.onednn_state(info.flags, environ={})
    assert on is onednn
    assert "default" in reason or "not an x86" in reason


def test_first_processor_model_and_flags(tmp_path):
    info = _info(tmp_path, AVX2_EPYC)
    assert info.model == "AMD EPYC 7B12"
    assert {"avx2", "fma"} <= info.flags
    assert "avx512f" not in info.flags


def test_environment_overrides_onednn_default(tmp_path):
    flags = _info(tmp_path, AVX512_EPYC).flags
    assert sysinfo.onednn_state(flags, {"TF_ENABLE_ONEDNN_OPTS": "0"}) == (
        False,
        "TF_ENABLE_ONEDNN_OPTS=0",
    )
    avx2 = _info(tmp_path, AVX2_EPYC, "avx2").flags
    assert sysinfo.onednn_state(avx2, {"TF_ENABLE_ONEDNN_OPTS": "1"})[0] is True


def test_describe_names_cpu_simd_and_onednn(tmp_path):
    info = _info(tmp_path, AVX512_EPYC)
    line = sysinfo.describe(info, environ={"ONEDNN_MAX_CPU_ISA": "AVX2"})
    assert line == (
        "CPU: AMD EPYC, 2 cores, SIMD AVX-512 (avx512_vnni, avx512_bf16), "
        "oneDNN on (default for this CPU), kernels capped at AVX2"
    )
    off = sysinfo.describe(_info(tmp_path, AVX2_EPYC, "b"), environ={})
    assert off.endswith("SIMD AVX2, oneDNN off (default for this CPU)")


def test_unreadable_or_empty_cpuinfo_degrades_gracefully(tmp_path):
    model, flags = sysinfo._read_proc_cpuinfo(tmp_path / "missing")
    assert (model, flags) == (None, set())
    info = sysinfo.CpuInfo("unknown", 1, "riscv64", set())
    assert sysinfo.simd_level(info.flags) == "unknown"
    assert "SIMD unknown, oneDNN off (not an x86 CPU)" in sysinfo.describe(info, environ={})


def test_this_machine_without_importing_tensorflow():
    code = (
        "import sys; from divconq.shared.sysinfo import cpu_info, describe; "
        "i = cpu_info(); print(describe()); "
        "assert i.cores >= 1; assert 'tensorflow' not in sys.modules"
    )
    # This checkout's package first, whatever the environment's install points at.
    src = str(Path(__file__).resolve().parents[1] / "src")
    env = dict(
        os.environ, PYTHONPATH=os.pathsep.join(filter(None, [src, os.environ.get("PYTHONPATH")]))
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, env=env
    )
    assert out.stdout.startswith("CPU: ")
    assert " cores, SIMD " in out.stdout


def test_prefer_onednn_sets_the_variable_only_when_unset(tmp_path):
    avx2 = _info(tmp_path, AVX2_EPYC)
    env = {}
    assert sysinfo.prefer_onednn(avx2, env) is ("tensorflow" not in sys.modules)
    if "tensorflow" not in sys.modules:
        assert env == {"TF_ENABLE_ONEDNN_OPTS": "1"}
    # A user's choice is kept.
    env = {"TF_ENABLE_ONEDNN_OPTS": "0"}
    assert sysinfo.prefer_onednn(avx2, env) is False
    assert env == {"TF_ENABLE_ONEDNN_OPTS": "0"}
    # Not x86 with AVX2 (e.g. ARM): left alone.
    env = {}
    assert sysinfo.prefer_onednn(_info(tmp_path, GRAVITON, "arm"), env) is False
    assert env == {}
