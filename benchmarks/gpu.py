"""Training and prediction throughput, and model FLOPs utilisation, on a GPU (or the CPU).

For each backbone size (the default 2 x 128 GPT-2 and a Pythia-160m-sized GPT-NeoX, 12 x 768,
randomly initialised: throughput does not depend on the weights) it builds the model on the
simulated data, takes ready training minibatches from the model's own data path and times:

* **training**: forward, loss, backward and an AdamW step per minibatch, in bf16 autocast on a
  GPU (float32 on the CPU), attention as transformers runs it (PyTorch's fused
  scaled-dot-product kernels, SDPA, by default; the table says which), optionally under
  ``torch.compile``; cells/s, tokens/s and model FLOPs utilisation
  ``MFU = 6 x non-embedding parameters x tokens / time / peak`` (the peak is the GPU's dense
  bf16 rate, from the table below; none on a CPU);
* **prediction**: :meth:`~calmflow_sc.CaLMFlowPerturb.predict` of control cells (KV-cached
  rollout and decoding), cells/s.

Writes one CSV row per (backbone, phase), with the device's name. Usage::

    python benchmarks/gpu.py --out benchmarks/results/gpu.csv            # on a GPU machine
    python benchmarks/gpu.py --sizes default --steps 2 --cells 64 --out /tmp/gpu.csv  # CPU check
"""

from __future__ import annotations

import argparse
import contextlib
import platform
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import torch

#: Dense bf16 peak FLOP/s of GPUs, by a substring of ``torch.cuda.get_device_name()``.
PEAK_BF16 = {
    "H200": 989e12,
    "H100": 989e12,
    "A100": 312e12,
    "L40S": 362e12,
    "A10G": 70e12,
    "L4": 121e12,
}

SIZES = ("default", "pythia-160m")


def peak_flops(device: torch.device) -> float | None:
    """The device's dense bf16 peak, or ``None`` when it is not known (e.g. a CPU)."""
    if device.type != "cuda":
        return None
    name = torch.cuda.get_device_name(device)
    return next((peak for key, peak in PEAK_BF16.items() if key in name), None)


def backbone_directory(size: str, root: Path) -> Path | None:
    """A randomly initialised checkpoint of the named size (``None``: the default backbone)."""
    if size == "default":
        return None
    from transformers import GPTNeoXConfig, GPTNeoXForCausalLM

    from calmflow_sc.nn import load_gpt2_tokenizer

    directory = root / size
    config = GPTNeoXConfig(  # Pythia-160m's shape
        vocab_size=50304,
        hidden_size=768,
        num_hidden_layers=12,
        num_attention_heads=12,
        intermediate_size=3072,
        rotary_pct=0.25,
        use_parallel_residual=True,
        tie_word_embeddings=False,
        max_position_embeddings=2048,
    )
    GPTNeoXForCausalLM(config).save_pretrained(directory)
    load_gpt2_tokenizer().save_pretrained(directory)
    return directory


def non_embedding_parameters(model) -> int:
    """Parameters of the backbone's transformer blocks and of the model's own maps."""
    total = sum(p.numel() for p in model.module.parameters())
    embeddings = sum(
        m.weight.numel() for m in model.module.modules() if isinstance(m, torch.nn.Embedding)
    )
    return total - embeddings


def measure(
    size: str,
    root: Path,
    device: torch.device,
    steps: int,
    batch_size: int,
    n_cells: int,
    compile_model: bool,
) -> list[dict]:
    """Training and prediction rows for one backbone size."""
    import calmflow_sc as cfs

    adata = cfs.datasets.simulated(n_cells_per_group=max(4, n_cells // 12), n_genes=500)
    cfs.CaLMFlowPerturb.setup_anndata(
        adata, perturbation_key="condition", control_value="control", cell_type_key="cell_type"
    )
    language_model = backbone_directory(size, root)
    model = cfs.CaLMFlowPerturb(adata, language_model=language_model)
    builder, targets = model._fit_to_training_cells()
    module = model.module.to(device)
    module.train()
    # transformers runs attention through PyTorch's fused SDPA kernels by default; say which
    attention = getattr(module.backbone.transformer.config, "_attn_implementation", "unknown")
    step = module
    if compile_model:
        step = torch.compile(module)
    optimizer = torch.optim.AdamW(module.parameters(), lr=1e-4)
    tokens_seen = []

    def count_tokens(_module, args, kwargs, _output) -> None:
        embeds = kwargs.get("inputs_embeds", args[0] if args else None)
        tokens_seen.append(int(np.prod(embeds.shape[:2])))

    hook = module.backbone.register_forward_hook(count_tokens, with_kwargs=True)
    autocast = (
        torch.autocast("cuda", dtype=torch.bfloat16)
        if device.type == "cuda"
        else contextlib.nullcontext()
    )
    rng = np.random.default_rng(0)

    def one_step() -> int:
        cells = rng.choice(targets, size=min(batch_size, len(targets)), replace=False)
        batch = {k: v.to(device) for k, v in builder(cells).items()}
        with autocast:
            _, _, losses = step(batch)
        losses.loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        return len(cells)

    for _ in range(2):  # warm up (and compile)
        one_step()
    if device.type == "cuda":
        torch.cuda.synchronize()
    tokens_seen.clear()
    start = time.perf_counter()
    n_trained = sum(one_step() for _ in range(steps))
    if device.type == "cuda":
        torch.cuda.synchronize()
    seconds = time.perf_counter() - start
    hook.remove()
    tokens = sum(tokens_seen)
    peak = peak_flops(device)
    n_params = non_embedding_parameters(model)
    mfu = 6 * n_params * tokens / seconds / peak if peak else float("nan")
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else platform.processor()
    common = {
        "backbone": size,
        "device": name or device.type,
        "precision": "bf16-autocast" if device.type == "cuda" else "float32",
        "compiled": compile_model,
        "attention": attention,
        "non_embedding_parameters": n_params,
    }
    rows = [
        common
        | {
            "phase": "train",
            "cells_per_second": n_trained / seconds,
            "tokens_per_second": tokens / seconds,
            "mfu": mfu,
            "batch_size": batch_size,
            "steps": steps,
        }
    ]
    model.is_trained_ = True
    module.eval()
    controls = adata[adata.obs["condition"] == "control"].copy()
    model.predict(controls[: min(32, controls.n_obs)].copy(), "IFNB")  # warm up
    if device.type == "cuda":
        torch.cuda.synchronize()
    start = time.perf_counter()
    model.predict(controls, "IFNB", batch_size=4096)
    if device.type == "cuda":
        torch.cuda.synchronize()
    seconds = time.perf_counter() - start
    rows.append(
        common
        | {
            "phase": "predict",
            "cells_per_second": controls.n_obs / seconds,
            "tokens_per_second": float("nan"),
            "mfu": float("nan"),
            "batch_size": 4096,
            "steps": 1,
        }
    )
    return rows


def main(argv: list[str] | None = None) -> pd.DataFrame:
    """Command-line entry point; returns the table it wrote."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", nargs="+", choices=SIZES, default=list(SIZES))
    parser.add_argument("--steps", type=int, default=20, help="timed training steps")
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--cells", type=int, default=6000, help="simulated cells")
    parser.add_argument("--compile", action="store_true", help="also under torch.compile")
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/gpu.csv"))
    args = parser.parse_args(argv)
    warnings.filterwarnings("ignore")
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device.type == "cuda":
        torch.backends.cuda.matmul.allow_tf32 = True
    rows = []
    with tempfile.TemporaryDirectory() as root:
        for size in args.sizes:
            for compiled in [False, True] if args.compile else [False]:
                rows += measure(
                    size,
                    Path(root),
                    device,
                    args.steps,
                    args.batch_size,
                    args.cells,
                    compiled,
                )
                table = pd.DataFrame(rows)
                args.out.parent.mkdir(parents=True, exist_ok=True)
                table.to_csv(args.out, index=False)  # after every size
                print(table.to_string(index=False), flush=True)
    return pd.DataFrame(rows)


if __name__ == "__main__":
    main()
