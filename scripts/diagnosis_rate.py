"""How many zoo bugs the diagnosis catalogue names, on each bug's witness input.

python scripts/diagnosis_rate.py                          # print the rate and the misses
python scripts/diagnosis_rate.py --write-readme README.md # refresh the README's block "diagnosis"

:func:`hit_rate` is the measurement: every zoo mutant whose category the catalogue
covers is called on its witness input, and its result judged by the gate's bound and
named by :mod:`conv2d.gate.diagnosis`.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

if TYPE_CHECKING:
    from torch import Tensor

    from conv2d.gate.case import Args
    from conv2d.gate.diagnosis import GradientVariant, Match, Variant
    from conv2d.gate.diagnosis.gradients import Which

#: A zoo witness: ``() -> (tensors, parameters)`` of a call that shows the bug.
Witness = Callable[[], tuple[tuple[Any, ...], dict[str, Any]]]


def witness_args(entry: Any, witness: Witness) -> Args:
    """The arguments of a zoo entry's witness call."""
    from conv2d.gate.case import Args

    tensors, params = witness()
    if entry.kind == "corr2d":
        return Args(tensors[0], tensors[1], None)
    bias = tensors[2] if len(tensors) > 2 else params.pop("bias", None)
    return Args(tensors[0], tensors[1], bias, **params)


def call_entry(entry: Any, args: Args) -> Tensor:
    """A zoo entry called on ``args`` (``corr2d(X, K)`` for the corr2d kind)."""
    if entry.kind == "corr2d":
        return entry.fn(args.input, args.weight)
    return entry.fn(args.input, args.weight, args.bias, **args.params())


def _diagnosed_gradients(args: Args, out: Tensor) -> tuple[bool, Match | None]:
    """Whether a gradient of ``<out, g>`` (a fixed random ``g``) is wrong, and what the catalogue names."""
    import torch

    from conv2d.gate.diagnosis import case_of, gradient_fits, identify_gradient
    from conv2d.gate.tolerance import precision_for

    case = case_of(args)
    names: list[tuple[Which, Tensor | None]] = [
        ("input", args.input),
        ("weight", args.weight),
        ("bias", args.bias),
    ]
    leaves = [(which, t) for which, t in names if t is not None and t.requires_grad]
    if not leaves or not out.requires_grad:
        return False, None
    generator = torch.Generator().manual_seed(17)
    g = (torch.rand(out.shape, generator=generator, dtype=torch.float64) * 2 - 1).to(out.dtype)
    grads = torch.autograd.grad(out, [t for _, t in leaves], g, allow_unused=True)
    backward = precision_for(case.torch_dtype, backward=True)
    deviates = False
    for (which, _), grad in zip(leaves, grads, strict=True):
        if grad is None:  # no gradient at all: the law's own message says so, nothing to compare
            continue
        if not gradient_fits(which, grad, case, args, g, backward):
            deviates = True
            found = identify_gradient(which, grad, case, args, g)
            if found is not None:
                return True, found
    return deviates, None


def diagnosed(entry: Any, args: Args) -> tuple[bool, Match | None]:
    """Whether a zoo entry's result on ``args`` is wrong beyond the gate's bound, and what the catalogue names.

    The output is judged first; for witnesses with tensors that require grad, the
    gradients of ``<output, g>`` for a fixed random ``g`` too.
    """
    import torch

    from conv2d.gate.diagnosis import case_of, identify, output_fits
    from conv2d.gate.tolerance import precision_for

    case = case_of(args)
    contract = precision_for(case.torch_dtype)
    try:
        with torch.enable_grad():
            out = call_entry(entry, args)
    except Exception:  # a mutant that raises computed nothing to diagnose
        return False, None
    if not output_fits(out.detach(), case, args, contract):
        return True, identify(out.detach(), case, args)
    return _diagnosed_gradients(args, out)


def hit_rate() -> tuple[int, int, list[str]]:
    """How many zoo mutants the catalogue names correctly, on each mutant's witness input.

    Counts every mutant (conv2d and corr2d kinds) whose category some variant
    corresponds to and whose witness result the gate rejects (a witness result
    within the gate's bound, a call that raises or a ``None`` gradient has nothing to diagnose); a hit is a diagnosis naming
    a variant of the mutant's category.

    Returns:
        ``(hits, total, missed)``: ``missed`` lists the mutants not named, each as
        ``"name (category): what was named instead"``.
    """
    from conv2d.gate.diagnosis import GRADIENT_VARIANTS, PARTIAL_VARIANTS, VARIANTS
    from conv2d.zoo import MUTANTS
    from conv2d.zoo.corr2d import WITNESSES as CORR2D_WITNESSES
    from conv2d.zoo.mutants import WITNESSES

    catalogue: list[Variant | GradientVariant] = [*VARIANTS, *GRADIENT_VARIANTS]
    covered = {c for v in catalogue for c in v.categories} | {v.category for v in PARTIAL_VARIANTS}
    witnesses = {**WITNESSES, **CORR2D_WITNESSES}
    hits, total, missed = 0, 0, []
    for entry in MUTANTS:
        if entry.category not in covered:
            continue
        deviates, found = diagnosed(entry, witness_args(entry, witnesses[entry.name]))
        if not deviates:
            continue
        total += 1
        if found is not None and entry.category in found.variant.categories:
            hits += 1
        else:
            named = "nothing" if found is None else f"variant {found.variant.name}"
            missed.append(f"{entry.name} ({entry.category}): {named}")
    return hits, total, missed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--write-readme", metavar="README")
    ns = parser.parse_args(argv)
    import torch

    from conv2d.gate.environment import cpu_model

    hits, total, missed = hit_rate()
    lines = [
        f"**{hits} of {total}** zoo bugs whose class the catalogue has are named by it ({hits / total:.0%}); "
        f"not named: {', '.join(f'`{m}`' for m in missed) or 'none'}.",
        f"Measured by `python scripts/diagnosis_rate.py`, torch {torch.__version__}, CPU: {cpu_model()}.",
    ]
    text = "\n".join(lines)
    print(text)
    if ns.write_readme:
        from benchmarks._readme import replace_block

        replace_block(Path(ns.write_readme), "diagnosis", text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
