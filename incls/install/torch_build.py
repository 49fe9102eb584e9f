"""Which PyTorch build is installed, and a warning when a CUDA build sits on a machine without a GPU.

incls runs on the CPU. From an ordinary package index `torch==2.13.0` on Linux is the
CUDA build (gigabytes, with about 20 nvidia-* packages); PyTorch's CPU wheel index has
the same version as a CPU build of a few hundred megabytes.
"""

from __future__ import annotations

CPU_INDEX = "https://download.pytorch.org/whl/cpu"
CPU_FIX = (
    f"pip install --force-reinstall --no-deps torch==2.13.0 --index-url {CPU_INDEX} "
    "(then the nvidia-* packages can be uninstalled)"
)


def describe(torch) -> str:
    """One line: the version and whether it is a CPU or a CUDA build."""
    cuda = getattr(torch.version, "cuda", None)
    return f"{torch.__version__} ({'CUDA ' + cuda if cuda else 'CPU'} build)"


def cuda_without_gpu(torch) -> str | None:
    """A warning if this is a CUDA build and no GPU can be used, else None."""
    cuda = getattr(torch.version, "cuda", None)
    if not cuda or torch.cuda.is_available():
        return None
    return (
        f"PyTorch {torch.__version__} is a CUDA {cuda} build but this machine has no usable GPU; "
        f"incls runs on the CPU, and the CPU build is far smaller: {CPU_FIX}"
    )
