"""minipaddle: a tiny example ML framework.

The heavy lifting happens in the compiled extension ``minipaddle._core``
(C++17 with AVX or scalar kernels, optional CUDA); this package re-exports
it and adds a few pure-Python helpers.
"""

from . import _core
from ._core import (
    SGD,
    Communicator,
    Dense,
    Tensor,
    TrainResult,
    __version__,
    add,
    dot,
    gpu_available,
    gpu_compiled,
    gpu_device_info,
    kernel,
    matmul,
    mse_loss,
    mse_loss_grad,
    mul,
    relu,
    saxpy_gpu,
    sum,
    train,
    version,
)

__all__ = [
    "SGD", "Communicator", "Dense", "allreduce", "init_distributed", "rank", "world_size", "Tensor", "TrainResult", "__version__", "add", "build_info", "dot",
    "gpu_available", "gpu_compiled", "gpu_device_info", "kernel", "matmul", "mse_loss",
    "mse_loss_grad", "mul", "relu", "saxpy_gpu", "sum", "tensor", "train", "version",
]


def _shape_and_values(data):
    """Shape and flat values of a number or (nested) list/tuple of numbers."""
    if isinstance(data, (list, tuple)):
        if not data:
            return [0], []
        parts = [_shape_and_values(item) for item in data]
        inner = parts[0][0]
        if any(shape != inner for shape, _ in parts):
            raise ValueError("tensor(): ragged nested sequence")
        return [len(data)] + inner, [v for _, values in parts for v in values]
    return [], [float(data)]


def tensor(data):
    """Build a :class:`Tensor` from a (nested) list, e.g. ``tensor([[1, 2], [3, 4]])``."""
    shape, values = _shape_and_values(data)
    return Tensor(shape, values)


def build_info():
    """Dictionary describing how this minipaddle was built."""
    return {
        "version": __version__,
        "kernel": kernel(),
        "gpu_compiled": gpu_compiled(),
        "gpu_available": gpu_available(),
    }


_communicator = None


def init_distributed():
    """The :class:`Communicator` of this process's data-parallel job, joined on first use.

    Read from the environment Kubernetes (or ``pipeline k8s --rehearse``) gives each worker: ``RANK``,
    ``WORLD_SIZE``, ``MASTER_ADDR``, ``MASTER_PORT``. Without them it is a group of one worker.
    """
    global _communicator
    if _communicator is None:
        _communicator = Communicator.from_env()
    return _communicator


def rank():
    """This worker's rank (0 when not distributed)."""
    return init_distributed().rank


def world_size():
    """How many workers the job has (1 when not distributed)."""
    return init_distributed().world_size


def allreduce(values, op="sum"):
    """The element-wise sum (``op="sum"``) or mean (``op="mean"``) of ``values`` over every worker."""
    if op not in ("sum", "mean"):
        raise ValueError("allreduce: op must be 'sum' or 'mean', got %r" % (op,))
    comm = init_distributed()
    out = comm.allreduce([float(v) for v in values])
    return [v / comm.world_size for v in out] if op == "mean" else out
