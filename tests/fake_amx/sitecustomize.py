"""Make torch report a CPU with AMX, so ``--dtype auto`` picks bfloat16 as it does on such CI
machines (``make test-fake-amx`` puts this directory on PYTHONPATH; every Python process the
tests start, servers included, imports it). bfloat16 is then emulated: slower, same rounding."""

import os

os.environ["FAKE_AMX"] = "1"  # for tests that mean to run once, on the real CPU (servers inherit it)

try:
    import torch
except ImportError:  # a venv without torch (the client libraries' one): nothing to fake
    torch = None

if torch is not None:
    _capabilities = torch.cpu.get_capabilities
    torch.cpu.get_capabilities = lambda: {**_capabilities(), "amx_bf16": True, "avx512_bf16": True}
    torch.ops.mkldnn._is_mkldnn_bf16_supported = lambda: True
