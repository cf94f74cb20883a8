"""The CPU a figure was measured on, without importing TensorFlow.

Training and scoring speed depend on the CPU's vector units far more than on its
clock: TensorFlow's CPU kernels (Eigen, and oneDNN where it is on) use AVX2,
AVX-512 or AMX when present. TensorFlow's Linux x86 builds turn oneDNN on by
default only on CPUs with AVX-512 VNNI/BF16, AVX-VNNI or AMX features (the
"oneDNN custom operations are on" notice); ``TF_ENABLE_ONEDNN_OPTS=0/1``
overrides that, and ``ONEDNN_MAX_CPU_ISA`` (or ``DNNL_MAX_CPU_ISA``) caps the
kernels oneDNN picks, e.g. ``AVX2`` to mimic an AVX2-only machine.

:func:`describe` gives one line for benchmark output, e.g.::

    CPU: AMD EPYC, 2 cores, SIMD AVX-512 (avx512_vnni, avx512_bf16), oneDNN on (default ...)
"""

from __future__ import annotations

import os
import platform
import subprocess
import sys
from dataclasses import dataclass, field

#: CPU flags (Linux /proc/cpuinfo names) for which TensorFlow turns oneDNN on by default.
ONEDNN_DEFAULT_FLAGS = (
    "avx512_vnni",
    "avx512_bf16",
    "avx_vnni",
    "amx_tile",
    "amx_int8",
    "amx_bf16",
)
#: Flags listed beside the SIMD level when present (the ones that change TensorFlow's kernels).
NOTABLE_FLAGS = ("avx512_vnni", "avx512_bf16", "avx_vnni", "amx_tile", "amx_bf16", "amx_int8")


@dataclass
class CpuInfo:
    """What :func:`cpu_info` found.

    Attributes
    ----------
    model : str
        CPU model name (``platform.processor()`` or "unknown" if none is found).
    cores : int
        CPUs this process may run on (affinity), else ``os.cpu_count()``.
    machine : str
        ``platform.machine()``, e.g. ``x86_64``, ``arm64``.
    flags : set of str
        Lower-case feature flags (Linux /proc/cpuinfo names; macOS sysctl names mapped
        to them where they exist); empty if unknown.
    """

    model: str
    cores: int
    machine: str
    flags: set = field(default_factory=set)


def _read_proc_cpuinfo(path="/proc/cpuinfo") -> tuple[str | None, set]:
    """Model name and flags of the first processor in a /proc/cpuinfo file."""
    model, flags = None, set()
    try:
        with open(path) as fh:
            for line in fh:
                key, _, value = line.partition(":")
                key = key.strip().lower()
                if key in ("model name", "hardware", "cpu model") and model is None:
                    model = value.strip()
                elif key in ("flags", "features") and not flags:
                    flags = set(value.lower().split())
                if model and flags:
                    break
    except OSError:
        pass
    return model, flags


def _sysctl(name: str) -> str | None:
    try:
        out = subprocess.run(
            ["sysctl", "-n", name], capture_output=True, text=True, timeout=5, check=False
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None if out.returncode == 0 else None


def _macos_flags() -> set:
    """macOS (Intel): sysctl feature lists mapped to Linux flag names; Apple silicon: asimd."""
    flags = set()
    for name in ("machdep.cpu.features", "machdep.cpu.leaf7_features"):
        value = _sysctl(name)
        if value:
            flags |= {f.lower().replace(".", "_") for f in value.split()}
    # Intel macOS spells AVX-512 features AVX512F, AVX512VNNI...; Linux avx512f, avx512_vnni.
    renamed = {"avx512vnni": "avx512_vnni", "avx512bf16": "avx512_bf16", "avx2_0": "avx2"}
    flags = {renamed.get(f, f) for f in flags}
    if platform.machine().lower() in ("arm64", "aarch64"):
        flags.add("asimd")
    return flags


def cpu_info() -> CpuInfo:
    """Model, usable cores and feature flags of this machine's CPU (best effort)."""
    system = platform.system()
    model, flags = None, set()
    if system == "Linux":
        model, flags = _read_proc_cpuinfo()
    elif system == "Darwin":
        model = _sysctl("machdep.cpu.brand_string")
        flags = _macos_flags()
    try:
        cores = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        cores = os.cpu_count() or 1
    return CpuInfo(model or platform.processor() or "unknown", cores, platform.machine(), flags)


def simd_level(flags) -> str:
    """The widest vector extension in ``flags``: AMX, AVX-512, AVX2, AVX, SSE4.2, NEON/SVE.

    Returns "unknown" for an empty flag set.
    """
    flags = set(flags)
    if not flags:
        return "unknown"
    if flags & {"amx_tile", "amx_bf16", "amx_int8"}:
        return "AMX"
    if "avx512f" in flags:
        return "AVX-512"
    if "avx2" in flags:
        return "AVX2"
    if "avx" in flags or "avx1_0" in flags:
        return "AVX"
    if "sse4_2" in flags or "sse4.2" in flags:
        return "SSE4.2"
    if "sve" in flags:
        return "SVE"
    if "asimd" in flags or "neon" in flags:
        return "NEON"
    return "other"


def onednn_state(flags, environ=None) -> tuple[bool, str]:
    """Whether TensorFlow will use oneDNN on this CPU, and why.

    Parameters
    ----------
    flags : set of str
        CPU flags (:attr:`CpuInfo.flags`).
    environ : mapping, optional
        Environment (default ``os.environ``): ``TF_ENABLE_ONEDNN_OPTS`` overrides
        the CPU-based default.

    Returns
    -------
    on : bool
    reason : str
        E.g. ``"default for this CPU"``, ``"TF_ENABLE_ONEDNN_OPTS=0"``.
    """
    env = os.environ if environ is None else environ
    value = env.get("TF_ENABLE_ONEDNN_OPTS")
    if value is not None and value.strip():
        on = value.strip().lower() in ("1", "true", "yes", "on")
        return on, f"TF_ENABLE_ONEDNN_OPTS={value.strip()}"
    x86 = bool(set(flags) & {"sse2", "avx", "avx2", "avx512f"})
    if x86 and set(flags) & set(ONEDNN_DEFAULT_FLAGS):
        return True, "default for this CPU"
    return False, "default for this CPU" if x86 else "not an x86 CPU"


def prefer_onednn(info: CpuInfo | None = None, environ=None) -> bool:
    """Ask TensorFlow for its oneDNN kernels on any AVX2 x86 CPU, unless the user chose.

    TensorFlow turns oneDNN on by default only on CPUs with AVX-512 VNNI/BF16 or
    AMX; elsewhere (AVX2-only CPUs, many laptops and cloud machines) it runs its
    Eigen kernels, which train the CRNNs here several times slower than oneDNN's
    AVX2 kernels (``docs/performance.md`` cost tables). This sets
    ``TF_ENABLE_ONEDNN_OPTS=1`` when the variable is unset, the CPU has AVX2 and
    TensorFlow is not imported yet (the variable is read once, at import).

    Parameters
    ----------
    info : CpuInfo, optional
        Default: :func:`cpu_info`.
    environ : dict, optional
        Environment to read and update (default ``os.environ``).

    Returns
    -------
    bool
        Whether TensorFlow will use (or, if already imported, was told to use) oneDNN.
    """
    env = os.environ if environ is None else environ
    info = info or cpu_info()
    if (
        env.get("TF_ENABLE_ONEDNN_OPTS") is None
        and "avx2" in info.flags
        and "tensorflow" not in sys.modules
    ):
        env["TF_ENABLE_ONEDNN_OPTS"] = "1"
    return onednn_state(info.flags, env)[0]


def describe(info: CpuInfo | None = None, environ=None) -> str:
    """One line: CPU model, cores, SIMD level (with notable flags) and oneDNN state."""
    info = info or cpu_info()
    env = os.environ if environ is None else environ
    notable = [f for f in NOTABLE_FLAGS if f in info.flags]
    simd = simd_level(info.flags) + (f" ({', '.join(notable)})" if notable else "")
    on, reason = onednn_state(info.flags, env)
    onednn = f"oneDNN {'on' if on else 'off'} ({reason})"
    cap = env.get("ONEDNN_MAX_CPU_ISA") or env.get("DNNL_MAX_CPU_ISA")
    if on and cap:
        onednn += f", kernels capped at {cap}"
    return f"CPU: {info.model}, {info.cores} cores, SIMD {simd}, {onednn}"


def peak_rss_mb() -> float:
    """Peak resident memory of this process so far, MB (the kernel's ``ru_maxrss``)."""
    import resource

    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    # Linux counts kilobytes, macOS bytes.
    return round(rss / (2**20 if sys.platform == "darwin" else 2**10), 1)


def cpu_s(own: bool = True, children: bool = True) -> float:
    """CPU seconds (user + system) used so far by this process and/or its waited-for
    children (ffmpeg, a measured command), from ``getrusage``: microseconds, where
    ``os.times`` counts 10-ms clock ticks."""
    import resource

    total = 0.0
    for who, wanted in ((resource.RUSAGE_SELF, own), (resource.RUSAGE_CHILDREN, children)):
        if wanted:
            u = resource.getrusage(who)
            total += u.ru_utime + u.ru_stime
    return total


if __name__ == "__main__":
    print(describe())
