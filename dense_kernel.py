"""PC's inference loop on dense networks with small batches, as a C kernel (dense_kernel.c).

With one example per batch a step's products are matrix-vector products, which BLAS calls and the
compiled loop (fused.py) both pay for by the member and the layer: per call, or by streaming every
member's weights from memory twice per step once the members no longer fit in the cache. The kernel
runs the members one after another, all T-1 moves of a member while its weights are in the cache,
and sums weight rows with the outputs held in registers (mu from the rows of W's transpose, eps W
from W's), vectorised for the CPU it runs on. It computes what fused.inference computes (the same
moves and discount; sums in another order, so the same to rounding).

The C source is compiled on first use with the C compiler ($CC, else cc) into the persistent compile
cache (`compile_cache_dir`, shared with fused.py), keyed by the source, the compiler and its flags; on x86 the library
holds builds for AVX-512, AVX2 and plain x86-64 and picks one as it loads. Where it cannot be built,
`available()` is False (with a note once) and fused.py runs its compiled loop.
"""
import ctypes
import functools
import hashlib
import os
from pathlib import Path
import subprocess
import tempfile
import warnings

import torch

from network import ACTIVATIONS, Params, feedforward, output_errors, output_loss

SOURCE = Path(__file__).with_name("dense_kernel.c")
MAX_BATCH = 1   # batches up to this size run here; larger ones multiply matrices (BLAS) faster
CODES = {ACTIVATIONS[name]: code for code, name in enumerate(["identity", "sigmoid", "tanh", "relu", "leaky_relu"])}
TYPES = {torch.float32: "float", torch.float64: "double"}   # the C type of each dtype


def applies(params, s, act):
    """Whether the kernel computes this step: a dense network on the CPU, float32 or float64, a
    batch of at most MAX_BATCH, an activation of network.ACTIVATIONS."""
    w = params.weights[0]
    return (type(params) is Params and w.device.type == "cpu" and w.dtype in TYPES and s.shape[-2] <= MAX_BATCH
            and act.with_output(False) in CODES and len(params.weights) > 1)


def inference(params, s, t, act, output_mask, gamma, discount, steps):
    """(xs, mu_1, loss) as fused.inference gives them: the value nodes after `steps` moves from the
    feed-forward state, the first layer's prediction and the loss there [M]."""
    mus = feedforward(params, s, act)
    xs = [mu.clone(memory_format=torch.contiguous_format) for mu in mus[:-1]]   # moved in place
    loss = output_loss(output_errors(t, mus[-1], act, output_mask)[0])
    if steps > 0:
        run(params, xs, mus[0].contiguous(), t, act, output_mask, gamma, discount, steps)
    return xs, mus[0], loss


def run(params, xs, mu_1, t, act, output_mask, gamma, discount, steps):
    """Move the value nodes xs (the hidden layers', [M, B, n_l] each) in place."""
    dtype, (M, B, out) = xs[0].dtype, xs[0].shape[:2] + (params.weights[-1].shape[1],)
    kept = [w.contiguous() for w in params.weights] + [None if b is None else b.contiguous() for b in params.biases]
    target = t.to(dtype).expand(M, B, out).contiguous()
    mask = None if output_mask is None else output_mask.to(dtype).expand(M, B, out).contiguous()
    gamma, discount = gamma.to(dtype).contiguous(), discount.to(dtype).contiguous()
    L = len(params.weights)
    sizes = [params.weights[0].shape[2]] + [w.shape[1] for w in params.weights]
    pointers = ctypes.c_void_p * L
    status = kernel(dtype)(
        L, (ctypes.c_long * (L + 1))(*sizes), M, B, steps, CODES[act.with_output(False)], int(act.on_output),
        pointers(*[w.data_ptr() for w in kept[:L]]),
        pointers(*[None if b is None else b.data_ptr() for b in kept[L:]]),
        pointers(None, *[x.data_ptr() for x in xs]), mu_1.data_ptr(), target.data_ptr(),
        None if mask is None else mask.data_ptr(), gamma.data_ptr(), discount.data_ptr())
    if status != 0:
        raise MemoryError("dense_kernel: out of memory for its scratch arrays")


@functools.cache
def available():
    """Whether the kernel builds (or is built) here; where not, says why once."""
    try:
        kernel(torch.float32)
        kernel(torch.float64)
        return True
    except (OSError, subprocess.CalledProcessError) as error:
        detail = getattr(error, "stderr", None) or error
        warnings.warn(f"dense_kernel: cannot build the C kernel ({str(detail).strip()[:300]}), so dense networks "
                      "with small batches run fused.py's compiled loop", RuntimeWarning, stacklevel=2)
        return False


@functools.cache
def kernel(dtype):
    """The kernel's C function for `dtype`, compiled on first use into the compile cache."""
    real = TYPES[dtype]
    library = ctypes.CDLL(str(build(real)))
    function = getattr(library, f"pc_moves_{real}")
    function.restype = ctypes.c_int
    pointers, data, number = ctypes.POINTER(ctypes.c_void_p), ctypes.c_void_p, ctypes.c_int
    function.argtypes = [number, ctypes.POINTER(ctypes.c_long), number, number, number, number, number,
                         pointers, pointers, pointers, data, data, data, data, data]
    return function


def compile_cache_dir():
    """Where compiled code persists across processes (this kernel, fused.py's programs):
    $TORCHINDUCTOR_CACHE_DIR if set, else ~/.cache/prospective-configuration/inductor."""
    return Path(os.environ.get("TORCHINDUCTOR_CACHE_DIR",
                               Path.home() / ".cache" / "prospective-configuration" / "inductor"))


def build(real):
    """The shared library of the kernel for the C type `real`: from the cache, else compiled there (a
    library that someone else could have written is never loaded: OSError)."""
    compiler = os.environ.get("CC", "cc")
    command = [compiler, "-O3", "-shared", "-fPIC", "-Wno-psabi", f"-DREAL={real}", f"-DNAME=pc_moves_{real}"]
    version = subprocess.run([compiler, "--version"], capture_output=True, text=True, check=True).stdout   # in the key
    key = hashlib.sha256("\0".join([SOURCE.read_text(), version, *command]).encode()).hexdigest()[:20]
    folder = compile_cache_dir() / "dense_kernel"
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    library = folder / f"{real}-{key}.so"
    if not library.exists():
        with tempfile.TemporaryDirectory(dir=folder) as scratch:   # then renamed: no half-written library
            built = Path(scratch) / library.name
            subprocess.run(command + [str(SOURCE), "-o", str(built), "-lm"], check=True, capture_output=True)
            os.replace(built, library)
    for path in (folder, library):
        mode = path.stat()
        if mode.st_uid != os.getuid() or mode.st_mode & 0o022:
            raise OSError(f"{path} is not private to this user (owner or group/other write), so it is not loaded")
    return library
