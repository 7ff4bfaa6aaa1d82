"""Rollout speed with and without the key/value cache.

Times ``CaLMFlowModule.rollout`` for a batch of cells at several numbers of steps ``K``,
once reusing the cache (linear in ``K``) and once recomputing the whole sequence at every
step (quadratic in ``K``, as the reference implementation does), and checks both give the same
states. Writes a markdown table.

Usage::

    python benchmarks/rollout_speed.py --out benchmarks/results/rollout_speed.md
"""

from __future__ import annotations

import argparse
import platform
import time
from pathlib import Path

import torch

from calmflow_sc.module import CaLMFlowModule
from calmflow_sc.nn import CausalLMBackbone, default_backbone_config


def build(n_steps: int, n_components: int = 50) -> CaLMFlowModule:
    """A module of the default size (untrained: speed does not depend on the weights)."""
    torch.manual_seed(0)
    backbone = CausalLMBackbone(default_backbone_config(n_layers=2, hidden_size=128, n_heads=4))
    ids, mask = backbone.tokenize(["Generate a CD14+Mono cell under stimulated: "])
    return CaLMFlowModule(
        n_genes=100,
        n_components=n_components,
        backbone=backbone,
        prompt_inputs=ids,
        prompt_mask=mask,
        context_sizes=[1],
        n_steps=n_steps,
    ).eval()


def time_rollout(module: CaLMFlowModule, n_cells: int, use_cache: bool, repeats: int = 3):
    """Best wall time of a rollout of ``n_cells`` cells, and its states."""
    ids, mask = module.backbone.tokenize(["Generate a CD14+Mono cell under stimulated: "] * n_cells)
    source = torch.randn(
        n_cells, 1, module.n_components, generator=torch.Generator().manual_seed(0)
    )
    best, states = float("inf"), None
    for _ in range(repeats):
        start = time.perf_counter()
        states = module.rollout(
            ids, mask, source, generator=torch.Generator().manual_seed(1), use_cache=use_cache
        )
        best = min(best, time.perf_counter() - start)
    return best, states


def main(argv: list[str] | None = None) -> None:
    """Command-line entry point."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-cells", type=int, default=1000)
    parser.add_argument("--steps", type=int, nargs="+", default=[4, 8, 16, 32])
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args(argv)
    lines = [
        "| K | cells | cached (s) | recomputed (s) | speed-up | max abs difference |",
        "|---|---|---|---|---|---|",
    ]
    for n_steps in args.steps:
        module = build(n_steps)
        cached, a = time_rollout(module, args.n_cells, use_cache=True)
        recomputed, b = time_rollout(module, args.n_cells, use_cache=False)
        difference = float((a - b).abs().max())
        lines.append(
            f"| {n_steps} | {args.n_cells} | {cached:.3f} | {recomputed:.3f} | "
            f"{recomputed / cached:.1f}x | {difference:.1e} |"
        )
        print(lines[-1], flush=True)
    header = [
        "# Rollout speed: key/value cache vs recomputation",
        "",
        f"Command: `python benchmarks/rollout_speed.py --n-cells {args.n_cells}`; default "
        f"backbone (GPT-2, 2 layers x 128), 50 components, S = P = 1; "
        f"{platform.processor() or platform.machine()}, {torch.get_num_threads()} threads, "
        f"torch {torch.__version__}.",
        "",
    ]
    text = "\n".join(header + lines) + "\n"
    if args.out is not None:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text)
    print(text)


if __name__ == "__main__":
    main()
