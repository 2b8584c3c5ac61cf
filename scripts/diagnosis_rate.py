"""How many zoo bugs the diagnosis catalogue names, on each bug's witness input.

python scripts/diagnosis_rate.py                          # print the rate and the misses
python scripts/diagnosis_rate.py --names                  # and what each mutant is diagnosed as
python scripts/diagnosis_rate.py --write-readme README.md # refresh the README's block "diagnosis"

:func:`hit_rate` is the measurement: every zoo mutant whose category the catalogue
covers is called on its witness input, and its result judged by the gate's bound and
named by :mod:`conv2d.gate.diagnosis`, with the mutant as the target, as the gate's
explanation of a counterexample has it: candidates the witness cannot tell apart are
checked on a second case, and a diagnosis that stays ambiguous names nothing.
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


def _diagnosed_gradients(entry: Any, args: Args, out: Tensor) -> tuple[bool, Match | None]:
    """Whether a gradient of ``<out, g>`` (a fixed random ``g``) is wrong, and what the catalogue names."""
    import torch

    from conv2d.gate.diagnosis import case_of, gradient_fits, identify_gradient
    from conv2d.gate.diagnosis.confirm import as_target
    from conv2d.gate.tolerance import precision_for

    case = case_of(args)
    names: list[tuple[Which, Tensor | None]] = [
        ("input", args.input),
        ("weight", args.weight),
        ("bias", args.bias),
    ]
    leaves = [(which, t) for which, t in names if t is not None and t.requires_grad]
    target = as_target(entry.fn, case.kind)
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
            found = identify_gradient(which, grad, case, args, g, target=target)
            if found is not None:
                return True, found
    return deviates, None


def diagnosed(entry: Any, args: Args) -> tuple[bool, Match | None]:
    """Whether a zoo entry's result on ``args`` is wrong beyond the gate's bound, and what the catalogue names.

    The output is judged first; for witnesses with tensors that require grad, the
    gradients of ``<output, g>`` for a fixed random ``g`` too. The entry is the
    diagnosis's target: it is called once more on a second case.
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
        return True, identify(out.detach(), case, args, target=entry.fn)
    return _diagnosed_gradients(entry, args, out)


def diagnoses() -> list[tuple[Any, Match | None]]:
    """Every zoo mutant whose category the catalogue covers and whose witness result the gate rejects, and its diagnosis.

    A witness result within the gate's bound, a call that raises or a ``None``
    gradient has nothing to diagnose, and its mutant is left out.
    """
    from conv2d.gate.diagnosis import GRADIENT_VARIANTS, PARTIAL_VARIANTS, VARIANTS
    from conv2d.zoo import MUTANTS
    from conv2d.zoo.corr2d import WITNESSES as CORR2D_WITNESSES
    from conv2d.zoo.mutants import WITNESSES

    catalogue: list[Variant | GradientVariant] = [*VARIANTS, *GRADIENT_VARIANTS]
    covered = {c for v in catalogue for c in v.categories} | {v.category for v in PARTIAL_VARIANTS}
    witnesses = {**WITNESSES, **CORR2D_WITNESSES}
    found = []
    for entry in MUTANTS:
        # the other kinds have their own variants (conv2d.gate.diagnosis.transposed and .spatial,
        # tests/test_transposed.py and tests/test_spatial.py)
        if entry.category not in covered or entry.kind not in ("conv2d", "corr2d"):
            continue
        deviates, match = diagnosed(entry, witness_args(entry, witnesses[entry.name]))
        if deviates:
            found.append((entry, match))
    return found


def named(match: Match | None) -> str:
    """What a diagnosis names: ``"variant NAME"``, ``"ambiguous: A, B"`` or ``"nothing"``."""
    if match is None:
        return "nothing"
    if match.ambiguous:
        return "ambiguous: " + ", ".join(v.name for v in match.candidates)
    return f"variant {match.variant.name}"


def hit_rate() -> tuple[int, int, list[str]]:
    """How many zoo mutants the catalogue names correctly, on each mutant's witness input.

    Counts every mutant (conv2d and corr2d kinds) of :func:`diagnoses`; a hit is a
    diagnosis naming one variant (not an ambiguous one) of the mutant's category.

    Returns:
        ``(hits, total, missed)``: ``missed`` lists the mutants not named, each as
        ``"name (category): what was named instead"``.
    """
    hits, total, missed = 0, 0, []
    for entry, match in diagnoses():
        total += 1
        if match is not None and not match.ambiguous and entry.category in match.variant.categories:
            hits += 1
        else:
            missed.append(f"{entry.name} ({entry.category}): {named(match)}")
    return hits, total, missed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--write-readme", metavar="README")
    parser.add_argument("--names", action="store_true", help="print what each mutant is diagnosed as")
    ns = parser.parse_args(argv)
    import torch

    from conv2d.gate.environment import cpu_model

    if ns.names:
        for entry, match in diagnoses():
            print(f"{entry.name} ({entry.category}): {named(match)}")

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
