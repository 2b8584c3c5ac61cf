"""Measure (bisect) where two torch CPU convolution bugs show up on this host, and print the boundary.

Bugs: ``slice`` (float32 wrong values on a one-channel slice of a channels_last batch) and ``bf16-dilated``
(a bfloat16 segfault with dilation > 1, reported on an Intel Xeon with AMX). Each F.conv2d runs in a child
process (this script with ``--child``), many per child, one JSON line each; what a dead or hung child did
not finish is re-run one per child, pinning a crash to its configuration. Values are judged against a
float64 reference on contiguous copies, two seeded inputs, with a tolerance (``TOL[dtype]`` times |x| conv
|w|, plus 1e-6) that rounding never reaches. From each reproducer one factor at a time is varied, each
outcome printed with the oneDNN kernel that ran; then a seeded random sweep checks the bug's predicate over
the call's arguments (``slice_region``, ``bf16_region``) and lists every disagreement. One thread.

    python scripts/bisect_torch_bugs.py [--bug slice|bf16-dilated] [--json FILE]
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import json
import os
import random
import signal
import subprocess
import sys
from collections import Counter
from collections.abc import Callable
from importlib import metadata
from pathlib import Path
from typing import Any

# a configuration: one F.conv2d call as JSON (built by _tensors); a result: its status ("ok", "wrong",
# "invalid", "crash SIGSEGV", "timeout", "exit N"), err (in tolerances), region and impl (the oneDNN kernel)
Config = dict[str, Any]
Result = dict[str, Any]
TOL = {"float64": 1e-9, "float32": 1e-3, "float16": 1e-2, "bfloat16": 5e-2}
KEYS = ["dtype", "n", "c", "h", "w", "layout", "start", "spare", "wlayout", "oc", "groups", "k"]
KEYS += ["stride", "padding", "dilation", "bias", "mkldnn"]
LAYOUTS = ["contiguous", "cl_api", "nhwc", "cl_slice", "w_strided", "batch_strided", "hw_swapped"]
CHUNK, SWEEP, SEED = 120, 300, 20240613  # configurations per child, random ones per bug, the sweep's seed


def _registered(name: str, measured: str) -> Callable[..., bool]:
    """The region of the registry's entry ``name`` (``conv2d.gate.upstream``) over one F.conv2d call: the sweep
    checks the very predicate the gate labels failures with."""

    def region(x: Any, w: Any, bias: Any, stride: Any, padding: Any, dilation: Any, groups: int) -> bool:
        from conv2d.gate.case import Args
        from conv2d.gate.upstream import entry

        return entry(name).affects(Args(x, w, bias, stride, padding, dilation, groups))

    region.__name__, region.__doc__ = name, measured
    return region


slice_region = _registered(
    "float32-channels-last-slice-wrong-values",
    """As measured here: float32 with one input channel (and torch routing it to oneDNN), or bfloat16 with one
    input channel per group (not depthwise); x or w on torch's channels_last path; height stride 1 < width
    stride; one output column, >= 2 output rows; kernel width >= 2; width dilation 1; not a one-row kernel
    with height padding. No misses; inside it the bug shows where oneDNN picks its kernel
    brg_conv_fwd:avx512_core[_bf16] (a cost-model choice), clean where it picks another.""",
)
bf16_region = _registered(
    "bfloat16-dilated-segfault",
    "As reported (a host without the bug cannot measure it): bfloat16, dilation > 1.",
)


# ---- the child: build each configuration's tensors, run F.conv2d, judge it ------------------------------
def _tensors(cfg: Config, seed: int) -> tuple[Any, Any, Any]:
    import torch

    gen = torch.Generator().manual_seed(seed)
    n, c, h, w, start = cfg["n"], cfg["c"], cfg["h"], cfg["w"], cfg["start"]

    def rnd(*shape: int) -> torch.Tensor:  # the same values whatever the dtype, up to rounding
        return torch.randn(*shape, generator=gen, dtype=torch.float64).to(getattr(torch, cfg["dtype"]))

    views: dict[str, Callable[[], torch.Tensor]] = {
        "contiguous": lambda: rnd(n, c, h, w),
        "cl_api": lambda: rnd(n, c, h, w).contiguous(memory_format=torch.channels_last),
        "nhwc": lambda: rnd(n, h, w, c).permute(0, 3, 1, 2),  # channel stride 1, even for one channel
        "cl_slice": lambda: rnd(n, h, w, start + c + cfg["spare"]).permute(0, 3, 1, 2)[:, start : start + c],
        "w_strided": lambda: rnd(n, h, 2 * w, c).permute(0, 3, 1, 2)[..., ::2],
        "batch_strided": lambda: rnd(2 * n, h, w, c).permute(0, 3, 1, 2)[::2],
        "hw_swapped": lambda: rnd(n, c, w, h).transpose(2, 3),
    }
    x, (kh, kw), cin, oc = views[cfg["layout"]](), cfg["k"], c // cfg["groups"], cfg["oc"]
    cl = cfg["wlayout"] == "channels_last"
    weight = rnd(oc, kh, kw, cin).permute(0, 3, 1, 2) if cl else rnd(oc, cin, kh, kw)
    return x, weight, rnd(oc) if cfg["bias"] else None


def _judge(cfg: Config, region: Callable[..., bool]) -> float:
    """Worst error of two seeds in units of the tolerance (> 1: wrong); prints first whether region holds."""
    import torch

    conv, worst = torch.ops.aten.convolution.default, 0.0
    args = (cfg["stride"], cfg["padding"], cfg["dilation"])
    for seed in (0, 1):
        x, w, b = _tensors(cfg, seed)
        d = [None if t is None else t.double().contiguous() for t in (x, w, b)]
        ref = conv(*d, *args, False, [0, 0], cfg["groups"])
        scale = conv(*[None if t is None else t.abs() for t in d], *args, False, [0, 0], cfg["groups"])
        with contextlib.nullcontext() if cfg["mkldnn"] else torch.backends.mkldnn.flags(enabled=False):
            if seed == 0:  # before the call, which may crash
                print(json.dumps({"region": region(x, w, b, *args, cfg["groups"])}), flush=True)
            with torch.backends.mkldnn.verbose(torch.backends.mkldnn.VERBOSE_ON):
                got = torch.nn.functional.conv2d(x, w, b, *args, cfg["groups"])
        err = (got.double() - ref).abs() / (TOL[cfg["dtype"]] * scale + 1e-6)
        worst = max(worst, float(err.nan_to_num(float("inf")).max()) if err.numel() else 0.0)
    return worst


def _child(bug: str) -> None:
    """Judge each configuration read from stdin: print its region, then (oneDNN's lines and) its result."""
    import ctypes
    import warnings

    import torch

    warnings.simplefilter("ignore")
    torch.set_num_threads(1)
    libc = ctypes.CDLL(None)
    for cfg in json.loads(sys.stdin.read()):
        try:
            err = _judge(cfg, BUGS[bug].region)
            res = {"status": "wrong" if err > 1 else "ok", "err": err}
        except (RuntimeError, ValueError) as exc:  # torch refuses the configuration
            res = {"status": "invalid", "err": None, "why": str(exc).splitlines()[0][:80]}
        libc.fflush(None)  # oneDNN's verbose lines (C stdio) before the result line
        print(json.dumps(res), flush=True)


# ---- the parent: run configurations in children, recover from crashes ------------------------------------
def _spawn(bug: str, cfgs: list[Config], limit: float) -> tuple[list[Result], str | None]:
    """Run cfgs in one child: what it printed per configuration (the last may lack a status), how it died."""
    cmd, env = [sys.executable, __file__, "--child", bug], dict(os.environ, OMP_NUM_THREADS="1")
    data = json.dumps(cfgs)
    try:
        done = subprocess.run(cmd, input=data, capture_output=True, text=True, timeout=limit, env=env)
        out, rc = done.stdout, done.returncode
        death = None if rc == 0 else f"crash {signal.Signals(-rc).name}" if rc < 0 else f"exit {rc}"
    except subprocess.TimeoutExpired as exc:
        out, death = exc.stdout.decode() if isinstance(exc.stdout, bytes) else exc.stdout or "", "timeout"
    results: list[Result] = []
    for line in out.splitlines():
        if ",exec,cpu,convolution," in line:  # oneDNN's verbose line: the kernel that ran
            results[-1]["impl"] = line.split(",")[6]
        elif line.startswith("{"):
            if not results or "status" in results[-1]:
                results.append({"region": None, "impl": "-"})  # "-": torch's own kernel, not oneDNN
            results[-1].update(json.loads(line))
    return results, death


def run(bug: str, cfgs: list[Config]) -> list[Result]:
    """Each configuration's result; where a child dies, its unfinished configurations go one per child."""
    out: list[Result] = []
    for i in range(0, len(cfgs), CHUNK):
        chunk = cfgs[i : i + CHUNK]
        got, _ = _spawn(bug, chunk, 60 + len(chunk))
        out += [r for r in got if "status" in r]
        for cfg in chunk[len(out) - i :]:
            one, death = _spawn(bug, [cfg], 60)
            ok = one and "status" in one[0]
            out.append(one[0] if ok else {**(one or [{"region": None}])[0], "impl": "?", "status": death})
    return out


# ---- the two bugs: reproducer, one-factor grid, random sweep ----------------------------------------------
@dataclasses.dataclass(frozen=True)
class Bug:
    summary: str
    crash: bool  # the bug is a crash (else wrong values)
    base: Config  # the reproducer
    region: Callable[..., bool]  # the predicate over the call's arguments that the sweep checks
    extra: dict[str, list[Config]]  # the one-factor grid's own rows (batch, channels, ...)
    draw: tuple[list[str], list[int], list[int], float]  # the sweep's dtypes, channels, dilations, `near`

    def shows(self, r: Result) -> bool:
        return r["status"] not in ("ok", "wrong", "invalid") if self.crash else r["status"] == "wrong"


def _keep_out(base: Config, k: list[int], dil: list[int]) -> Config:
    """Overrides setting kernel k and dilation dil, the input resized to keep the base's output size."""
    size = {}
    for i, key in enumerate("hw"):
        s, p, k0, d0 = base["stride"][i], base["padding"][i], base["k"][i], base["dilation"][i]
        o = (base[key] + 2 * p - d0 * (k0 - 1) - 1) // s + 1
        size[key] = max(1, (o - 1) * s + dil[i] * (k[i] - 1) + 1 - 2 * p)
    return {"k": k, "dilation": dil, **size}


def _grid(bug: Bug) -> list[tuple[str, Config]]:
    """(factor, overrides of the reproducer) for each configuration of the one-factor grid."""
    base, pairs = bug.base, [(1, 1), (1, 2), (1, 3), (1, 4), (2, 1), (2, 2), (3, 1), (3, 2)]
    slices = [{"layout": "cl_slice", "start": a, "spare": b} for a, b in ((0, 0), (0, 1), (1, 0), (3, 1))]
    grid: dict[str, list[Config]] = {
        "dtype": [{"dtype": t} for t in TOL],
        "layout": [{"layout": v} for v in LAYOUTS if v != "cl_slice"] + slices,
        "weight layout": [{"wlayout": v} for v in ("contiguous", "channels_last")],
        "stride": [{"stride": list(p)} for p in pairs],
        "padding": [{"padding": list(p)} for p in [(0, 0), (1, 0), (0, 1), (1, 1), (2, 0), (2, 1), (2, 2)]],
        "dilation (output size kept)": [_keep_out(base, base["k"], [a, b]) for a, b in pairs if a * b < 5],
        "kernel (output size kept)": [_keep_out(base, [a, b], base["dilation"]) for a, b in [*pairs, (3, 3)]],
        "bias": [{"bias": v} for v in (False, True)],
        "mkldnn": [{"mkldnn": v} for v in (True, False)],
        **bug.extra,
    }
    return [(factor, override) for factor, overrides in grid.items() for override in overrides]


def _draw(rng: random.Random, dtypes: list[str], chans: list[int], dil: list[int], near: float) -> Config:
    """A small random configuration; with probability near, one close to bug ``slice``'s region."""
    kh, kw, sh, sw = rng.randint(1, 4), rng.randint(1, 5), rng.choice([1, 1, 2]), rng.randint(1, 4)
    dh, dw, c, close = rng.choice(dil), rng.choice(dil), rng.choice(chans), rng.random() < near
    g = rng.choice([d for d in (1, 2, 4, 8) if c % d == 0])
    cfg = dict(dtype=rng.choice(dtypes), n=rng.randint(1, 16), c=c, groups=g, oc=g * rng.randint(1, 2))
    cfg.update(layout=rng.choice(LAYOUTS), wlayout=rng.choice(["contiguous", "channels_last"]))
    cfg.update(bias=rng.random() < 0.3, mkldnn=rng.random() < 0.9)
    cfg.update(start=rng.randint(0, 2), spare=rng.randint(0, 2))  # used by layout cl_slice
    if close:
        sh, sw, g = 1, rng.randint(2, 4), rng.choice([1, 1, 1, 2, 4])
        cfg.update(dtype=rng.choice(["float32", "float32", "bfloat16"]), c=g, groups=g, mkldnn=True)
        cfg.update(oc=g * rng.choice([1, 2, 16]), layout=rng.choice(LAYOUTS[2:6]))
    ekh, ekw = dh * (kh - 1) + 1, dw * (kw - 1) + 1
    ph, pw = min(rng.randint(0, 2), ekh // 2), min(rng.randint(0, 2), ekw // 2)
    wide = rng.randint(0, sw - 1) if close or rng.random() < 0.5 else rng.randint(0, 6)  # 1 output column?
    cfg.update(h=max(1, ekh - 2 * ph + rng.randint(0, 8)), w=max(1, ekw - 2 * pw + wide))
    return {**cfg, "k": [kh, kw], "stride": [sh, sw], "padding": [ph, pw], "dilation": [dh, dw]}


# fmt: off
SLICE = ["float32", 8, 1, 3, 3, "cl_slice", 1, 0, "contiguous", 1, 1,  # the two reproducers, in KEYS's order
         [2, 3], [1, 2], [0, 0], [1, 1], False, True]
BF16 = ["bfloat16", 2, 32, 1, 7, "contiguous", 0, 0, "contiguous", 16, 8,
        [2, 2], [2, 1], [2, 1], [3, 1], False, True]
SLICE_CHANS = [(1, 1, 1), (2, 1, 1), (4, 1, 1), (1, 1, 2), (1, 1, 16), (2, 2, 2), (2, 2, 4), (4, 4, 8),
               (4, 2, 2)]  # (input channels, groups, output channels)
BF16_CHANS = [(32, 8, 16), (32, 1, 16), (32, 32, 32), (16, 8, 16), (8, 8, 8), (64, 8, 16)]
# fmt: on
BUGS: dict[str, Bug] = {
    "slice": Bug(
        "float32 wrong values on a one-channel slice of a channels_last batch",
        False,
        dict(zip(KEYS, SLICE, strict=True)),
        slice_region,
        {
            "batch": [{"n": n} for n in (1, 2, 4, 7, 8, 9, 16)],
            "channels, groups, out channels": [{"c": c, "groups": g, "oc": o} for c, g, o in SLICE_CHANS],
            "input size": [{"h": h, "w": w} for h in (2, 3, 6) for w in (2, 3, 4, 5, 6)],
            "dtype (bigger shape)": [dict(dtype=t, k=[1, 3], stride=[1, 4], h=7, w=6) for t in TOL],
        },
        (["float32"] * 5 + ["float64", "float16", "bfloat16"], [1, 1, 1, 2, 3], [1, 1, 1, 2], 0.5),
    ),
    "bf16-dilated": Bug(
        "bfloat16 segfault with dilation > 1",
        True,
        dict(zip(KEYS, BF16, strict=True)),
        bf16_region,
        {
            "batch": [{"n": n} for n in (1, 2, 4)],
            "channels, groups, out channels": [{"c": c, "groups": g, "oc": o} for c, g, o in BF16_CHANS],
            "input size": [{"h": h, "w": w} for h in (1, 2, 5) for w in (3, 7, 16)],
        },
        (["bfloat16"] * 3 + ["float32"], [1, 4, 8, 16, 32], [1, 2, 3], 0.0),
    ),
}


def _show(r: Result) -> str:
    """Status, error in tolerances (a bound where wrong: wrong values come from stale memory), kernel."""
    e = r.get("err")
    err = "" if e is None else f"{e:.3g}" if e <= 1 else "> 10" if e > 10 else "> 1"
    return f"{r['status']:<13} err/tol {err:>9}  {r['impl']}"


def _brief(cfg: Config) -> str:
    skip = () if cfg["layout"] == "cl_slice" else ("start", "spare")
    return ", ".join(f"{k}={cfg[k]}" for k in KEYS if k not in skip)


def bisect(name: str) -> dict[str, Any]:
    """Run a bug's reproducer, one-factor grid and sweep; print them; return every result."""
    bug, grid = BUGS[name], _grid(BUGS[name])
    repro, *results = run(name, [bug.base] + [{**bug.base, **o} for _, o in grid])
    here = bug.shows(repro)
    print(f"\n=== {name}: {bug.summary}\nreproducer: {_brief(bug.base)}")
    print(f"  -> {_show(repro)}: {'PRESENT' if here else 'ABSENT'} on this host")
    print("one factor at a time (BUG: it shows; err/tol: the worst error in tolerances; last: the oneDNN")
    print("kernel that ran, '-' for torch's own; exact errors of wrong results vary run to run, see --json):")
    for i, ((factor, override), r) in enumerate(zip(grid, results, strict=True)):
        if i == 0 or grid[i - 1][0] != factor:
            print(f"  {factor}:")
        label = ", ".join(f"{k}={v}" for k, v in override.items())
        print(f"    {'BUG' if bug.shows(r) else '   '} {label:<48} {_show(r)}")
    rng = random.Random(SEED)
    sweep = [_draw(rng, *bug.draw) for _ in range(SWEEP)]
    valid = [(c, r) for c, r in zip(sweep, run(name, sweep), strict=True) if r["status"] != "invalid"]
    pairs = [(bool(r["region"]), bug.shows(r)) for _, r in valid]
    counts = Counter(f"{'in' if p else 'out of'} region, {'shows' if s else 'clean'}" for p, s in pairs)
    print(f"predicate {bug.region.__name__}: {' '.join((bug.region.__doc__ or '').split())}")
    print(f"sweep of {len(valid)} valid random configurations (seed {SEED}): {dict(sorted(counts.items()))}")
    if not here and not any(s for _, s in pairs) and not any(map(bug.shows, results)):
        print(f"{name} is ABSENT on this host: its reproducer, one-factor grid and sweep all ran clean")
        print(f"  ({counts['in region, clean']} sweep configurations inside the reported region among them).")
    else:
        for c, r in [(c, r) for (c, r), (p, s) in zip(valid, pairs, strict=True) if p != s]:
            print(f"  DISAGREE ({'in' if r['region'] else 'out of'} region) {_show(r)}\n      {_brief(c)}")
    rows = [{"factor": f, "config": {**bug.base, **o}, **r} for (f, o), r in zip(grid, results, strict=True)]
    return {"present": here, "repro": repro, "grid": rows, "sweep": [{"config": c, **r} for c, r in valid]}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bug", choices=sorted(BUGS), help="one bug only (default: both)")
    parser.add_argument("--json", metavar="FILE", help="write every configuration and its result here")
    parser.add_argument("--child", metavar="BUG", help=argparse.SUPPRESS)
    ns = parser.parse_args(argv)
    if ns.child:
        _child(ns.child)
        return 0
    lines, version = Path("/proc/cpuinfo").read_text().splitlines(), metadata.version("torch")
    cpu = next((ln.split(":", 1)[1].strip() for ln in lines if ln.startswith("model name")), "unknown")
    print(f"CPU: {cpu}\ntorch {version}, one thread")
    report = {name: bisect(name) for name in ([ns.bug] if ns.bug else BUGS)}
    if ns.json:
        Path(ns.json).write_text(json.dumps({"cpu": cpu, "torch": version, "bugs": report}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
