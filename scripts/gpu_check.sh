#!/usr/bin/env bash
# GPU check of the conv2d gate: one script, at most 5 minutes, for a machine with an NVIDIA GPU
# (H100/H200 or any CUDA device) and a CUDA build of torch already installed.
#
# How to run, from a copy of the checkout (no virtual environment needed; nothing is downloaded):
#
#     bash scripts/gpu_check.sh                      # writes ./gpu_check.log and ./gpu_check.json
#     OUT=/tmp/gpu bash scripts/gpu_check.sh         # writes them, and the gate's reports, under $OUT
#     PYTHON=/opt/env/bin/python bash scripts/gpu_check.sh   # choose the interpreter (default: python, else python3)
#
# Give it 5.5 minutes of wall time: every step runs under `timeout` and the steps together stop
# within BUDGET (275 s). Exit status: 0 every step ok, 1 some step failed or gave an unexpected
# verdict, 3 no CUDA device (or no torch) here: nothing else is run.
#
# Steps, in this order, each timed and under its own timeout (the log has their full output):
#   install          pip install --no-deps --no-build-isolation --no-index -e . (offline; when it
#                    fails the checkout is used through PYTHONPATH), after reporting which of torch,
#                    hypothesis, pytest and xdist are missing (none of them is installed)
#   a-device         nvidia-smi -L, torch / CUDA / cuDNN versions, compute capability, default TF32 flags
#   b-pytest-cuda    python -m pytest -m cuda -q: the suite's CUDA-marked tests (0 selected is ok)
#   c-core-all       python -m conv2d verify --device all --profile quick --json $OUT/core_cuda.json -n 8
#   d-<target>       the gate on F.conv2d on CUDA, --property matches-reference --property device-parity,
#                    quick profile, for each target of scripts/tf32_targets.py. Expected outcome:
#                      conv2d_default        F.conv2d as is: FAILS matches-reference (and likely
#                                            device-parity) on compute capability >= 8.0 (Ampere,
#                                            Hopper: H100, H200), because cuDNN's default
#                                            allow_tf32=True rounds float32 inputs to TF32 (10 mantissa
#                                            bits), far outside the float32 error bound; passes on
#                                            older GPUs, which have no TF32
#                      conv2d_tf32_declared  declare(tf32=True): PASSES, judged at TF32 precision
#                      conv2d_no_tf32        F.conv2d inside cudnn.flags(enabled=True, allow_tf32=False):
#                                            PASSES
#                    the step is ok when the verdict is the expected one
#   e-tf32-measure   a 3x3 conv, N=8, C=64, 56x56, float32 on CUDA against a float64 CPU reference,
#                    with cudnn.allow_tf32 True and False: the max error relative to max |reference|
#                    (expected on Ampere and later: about 1e-4 .. 1e-3 with TF32, about 1e-6 without)
#
# Outputs (in $OUT, else the current directory): gpu_check.log, gpu_check.json (the summary),
# device.json, core_cuda.json, tf32_<target>.json, tf32_measure.json.

set -u -o pipefail

BUDGET=275  # seconds for all steps; with the summary the script ends within 300 s
mkdir -p "${OUT:-.}"
DEST=$(cd "${OUT:-.}" && pwd)
LOG="$DEST/gpu_check.log"
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$REPO" || exit 3
: > "$LOG"
rm -f "$DEST"/{gpu_check,device,core_cuda,tf32_measure}.json "$DEST"/tf32_conv2d_*.json  # no stale results
export PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_INPUT=1 PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1

if [[ -n "${PYTHON:-}" ]]; then
    PY=$PYTHON
elif command -v python >/dev/null 2>&1; then
    PY=python
else
    PY=python3
fi

say() { printf '%s\n' "$*" | tee -a "$LOG"; }

# -- the steps' results, one line each: name, status, seconds, exit code, detail ------------------------
STEPS=""
record() { STEPS+="$1"$'\t'"$2"$'\t'"$3"$'\t'"$4"$'\t'"$5"$'\n'; }
amend() {  # amend NAME STATUS DETAIL: a recorded step's new status and detail (seconds and exit code kept)
    STEPS=$(printf '%s' "$STEPS" | awk -F'\t' -v OFS='\t' -v n="$1" -v s="$2" -v d="$3" '$1 == n { $2 = s; $5 = d } { print }')$'\n'
}

# run_step NAME CAP OK_CODES COMMAND...: run under timeout (CAP seconds, or what is left of BUDGET),
# output to the terminal and the log; record the status (ok, fail, timeout), seconds and exit code,
# and print them (unless ANNOUNCE=0: the caller judges the result and prints it).
LAST_RC=0
LAST_TOOK=0
run_step() {
    local name=$1 cap=$2 ok=$3
    shift 3
    local left=$((BUDGET - SECONDS))
    local limit=$((cap < left ? cap : left))
    if ((limit < 3)); then
        say "== $name: not run, the $BUDGET s budget is spent"
        record "$name" skip 0 -1 "budget spent"
        LAST_RC=-1
        return
    fi
    say ""
    local shown="$*"
    shown=${shown//$'\n'/ }
    ((${#shown} > 200)) && shown="${shown:0:200} ..."
    say "== $name (timeout $limit s): $shown"
    local start=$SECONDS
    timeout --kill-after=3 "$limit" "$@" 2>&1 | tee -a "$LOG"
    local rc=${PIPESTATUS[0]}
    local took=$((SECONDS - start))
    local status=fail
    if ((rc == 124 || rc == 137)); then
        status=timeout
    elif [[ " $ok " == *" $rc "* ]]; then
        status=ok
    fi
    [[ ${ANNOUNCE:-1} == 1 ]] && say "-- $name: $status (exit $rc, $took s)"
    record "$name" "$status" "$took" "$rc" "exit $rc"
    LAST_RC=$rc
    LAST_TOOK=$took
}

SUMMARY_PY=$(cat <<'EOF'
import json, os, sys
from pathlib import Path

dest = Path(sys.argv[1])


def load(name):
    try:
        return json.loads((dest / name).read_text())
    except (OSError, ValueError):
        return None


def gate(report):
    if report is None:
        return None
    keys = [(f"{r['property']}[{r['device']}]", r["status"]) for r in report["results"]]
    return {
        "verdict": report["verdict"],
        "results": dict(keys),
        "failing": [k for k, status in keys if status in ("fails", "error", "not run")],
    }


steps = []
for line in os.environ["STEPS"].splitlines():
    if line:
        name, status, seconds, rc, detail = (line.split("\t") + [""] * 5)[:5]
        steps.append({"name": name, "status": status, "seconds": int(seconds), "rc": int(rc), "detail": detail})
summary = {
    "exit_code": int(sys.argv[2]),
    "seconds": int(sys.argv[3]),
    "device": load("device.json"),
    "steps": steps,
    "core": gate(load("core_cuda.json")),
    "tf32_gate": {t: gate(load(f"tf32_{t}.json")) for t in ("conv2d_default", "conv2d_tf32_declared", "conv2d_no_tf32")},
    "tf32_measure": load("tf32_measure.json"),
}
(dest / "gpu_check.json").write_text(json.dumps(summary, indent=2) + "\n")
print(f"summary written to {dest / 'gpu_check.json'}")
EOF
)

DEVICE_PY=$(cat <<'EOF'
import json, sys
import torch

cudnn = torch.backends.cudnn
info = {
    "torch": torch.__version__,
    "cuda": torch.version.cuda,
    "cudnn": cudnn.version() if cudnn.is_available() else None,
    "gpu": torch.cuda.get_device_name(0),
    "capability": ".".join(map(str, torch.cuda.get_device_capability(0))),
    "device_count": torch.cuda.device_count(),
    "tf32_defaults": {
        "cudnn.allow_tf32": cudnn.allow_tf32,
        "cuda.matmul.allow_tf32": torch.backends.cuda.matmul.allow_tf32,
        "float32_matmul_precision": torch.get_float32_matmul_precision(),
        "cudnn.conv.fp32_precision": getattr(getattr(cudnn, "conv", None), "fp32_precision", None),
    },
}
text = json.dumps(info, indent=2)
print(text)
open(sys.argv[1] + "/device.json", "w").write(text + "\n")
EOF
)

MEASURE_PY=$(cat <<'EOF'
import json, sys
import torch
import torch.nn.functional as F

torch.manual_seed(0)
x = torch.randn(8, 64, 56, 56).cuda()
w = torch.randn(64, 64, 3, 3).cuda()
# the exact result for the float32 inputs: only the convolution's own rounding is measured
ref = F.conv2d(x.double().cpu(), w.double().cpu(), padding=1)
scale = ref.abs().max().item()
big = ref.abs() >= 0.01 * scale
result = {"problem": "input (8, 64, 56, 56), weight (64, 64, 3, 3), padding 1, float32 on CUDA", "max_abs_reference": scale}
saved = torch.backends.cudnn.allow_tf32
try:
    for allow in (True, False):
        torch.backends.cudnn.allow_tf32 = allow
        y = F.conv2d(x, w, padding=1)
        torch.cuda.synchronize()
        err = (y.double().cpu() - ref).abs()
        result[f"allow_tf32={allow}"] = {
            "max_abs_error": err.max().item(),
            "max_rel_error": err.max().item() / scale,
            "max_elementwise_rel_error_where_ref_ge_1pct": (err[big] / ref.abs()[big]).max().item(),
        }
finally:
    torch.backends.cudnn.allow_tf32 = saved
on, off = result["allow_tf32=True"]["max_rel_error"], result["allow_tf32=False"]["max_rel_error"]
result["max_rel_error_is_relative_to"] = "max |reference|"
result["ratio_on_to_off"] = on / off if off else None
result["unit_roundoff"] = {"tf32": 2.0**-11, "float32": 2.0**-24}
text = json.dumps(result, indent=2)
print(text)
open(sys.argv[1] + "/tf32_measure.json", "w").write(text + "\n")
EOF
)

finish() {  # finish EXIT_STATUS: print the summary table, write gpu_check.json, exit
    say ""
    say "== summary ($SECONDS s in all) =="
    printf '%-28s %-9s %5s  %s\n' step status s detail | tee -a "$LOG"
    while IFS=$'\t' read -r name status seconds _rc detail; do
        [[ -n "$name" ]] && printf '%-28s %-9s %5s  %s\n' "$name" "$status" "$seconds" "$detail" | tee -a "$LOG"
    done <<< "$STEPS"
    STEPS="$STEPS" timeout 15 "$PY" -c "$SUMMARY_PY" "$DEST" "$1" "$SECONDS" 2>&1 | tee -a "$LOG"
    say "exit $1"
    exit "$1"
}

say "conv2d GPU check: $(date -u '+%Y-%m-%dT%H:%M:%SZ') on $(hostname), repository $REPO, output $DEST"
say "python: $PY ($(command -v "$PY" || echo 'not found'))"

# -- CUDA present? Without it nothing else runs ---------------------------------------------------------
CUDA=$(timeout 60 "$PY" -c "import torch; print(torch.cuda.is_available())" 2>&1 | tail -n 1)
if [[ "$CUDA" != "True" ]]; then
    if [[ "$CUDA" == "False" ]]; then
        TORCH=$("$PY" -c "import torch; print(torch.__version__, '(CUDA build:', torch.version.cuda, end=')')" 2>&1)
        say "no CUDA: torch $TORCH sees no CUDA device here; this check needs an NVIDIA GPU and a CUDA build of torch."
    else
        say "no CUDA: cannot import torch with $PY ($CUDA); this check needs a CUDA build of torch."
    fi
    printf '{"exit_code": 3, "cuda": false, "python": "%s"}\n' "$PY" > "$DEST/gpu_check.json"
    say "exit 3"
    exit 3
fi
TF32_GPU=$("$PY" -c "import torch; print(int(torch.cuda.get_device_capability(0)[0] >= 8))" 2>/dev/null || echo 1)

# -- the package, and what is missing ------------------------------------------------------------------
MISSING=$("$PY" -c "
import importlib.util
print(' '.join(m for m in ('torch', 'hypothesis', 'pytest', 'xdist') if importlib.util.find_spec(m) is None))
")
say "missing modules: ${MISSING:-none}"
have() { [[ " $MISSING " != *" $1 "* ]]; }
# offline: no index, and the build uses the setuptools already installed
run_step install 30 "0" "$PY" -m pip install --no-deps --no-build-isolation --no-index -e .
if ((LAST_RC != 0)); then
    say "pip install failed: using the checkout through PYTHONPATH instead"
    export PYTHONPATH="$REPO${PYTHONPATH:+:$PYTHONPATH}"
    amend install fallback "pip failed (exit $LAST_RC): PYTHONPATH=$REPO"
fi

# -- a. device info ------------------------------------------------------------------------------------
run_step a-device 20 "0" bash -c '
nvidia-smi -L || echo "nvidia-smi is not available"
nvidia-smi --query-gpu=name,driver_version,memory.total,compute_cap --format=csv || true
"$1" -c "$2" "$3"' gpu_check "$PY" "$DEVICE_PY" "$DEST"

# -- b. the suite's CUDA-marked tests ------------------------------------------------------------------
if have pytest && have hypothesis; then
    run_step b-pytest-cuda 35 "0 5" "$PY" -m pytest -m cuda -q
    [[ $LAST_RC == 5 ]] && amend b-pytest-cuda ok "0 tests selected (exit 5)"
else
    record b-pytest-cuda skip 0 -1 "pytest or hypothesis is missing"
fi

# -- c. the gate on the built-in core, on CUDA and CPU -------------------------------------------------
if have hypothesis; then
    run_step c-core-all 80 "0" env OMP_NUM_THREADS=2 "$PY" -m conv2d verify --device all --profile quick \
        --json "$DEST/core_cuda.json" -n 8
    [[ -f "$DEST/core_cuda.json" ]] && amend c-core-all "$([[ $LAST_RC == 0 ]] && echo ok || echo fail)" \
        "exit $LAST_RC, verdict $(grep -o '"verdict": "[a-z]*"' "$DEST/core_cuda.json" | cut -d'"' -f4)"
else
    record c-core-all skip 0 -1 "hypothesis is missing"
fi

# -- d. the gate on F.conv2d on CUDA: TF32 as is, declared, switched off -------------------------------
for target in conv2d_default conv2d_tf32_declared conv2d_no_tf32; do
    want=pass
    [[ $target == conv2d_default && $TF32_GPU == 1 ]] && want=fail
    if ! have hypothesis; then
        record "d-$target" skip 0 -1 "hypothesis is missing"
        continue
    fi
    ANNOUNCE=0 run_step "d-$target" 30 "0 1" env PYTHONPATH="$REPO/scripts${PYTHONPATH:+:$PYTHONPATH}" \
        "$PY" -m conv2d verify "tf32_targets:$target" --device cuda --profile quick \
        --property matches-reference --property device-parity --json "$DEST/tf32_$target.json" -n 2
    if [[ $LAST_RC == 0 || $LAST_RC == 1 ]]; then
        got=$([[ $LAST_RC == 0 ]] && echo pass || echo fail)
        status=$([[ $got == "$want" ]] && echo ok || echo fail)
        amend "d-$target" "$status" "verdict $got, expected $want"
        say "-- d-$target: $status (exit $LAST_RC, $LAST_TOOK s): verdict $got, expected $want"
    elif [[ $LAST_RC != -1 ]]; then
        say "-- d-$target: $(printf '%s' "$STEPS" | awk -F'\t' -v n="d-$target" '$1 == n { print $2 }') (exit $LAST_RC, $LAST_TOOK s)"
    fi
done

# -- e. TF32 measured directly -------------------------------------------------------------------------
run_step e-tf32-measure 25 "0" "$PY" -c "$MEASURE_PY" "$DEST"

FAILED=$(printf '%s' "$STEPS" | awk -F'\t' '$1 != "" && $2 != "ok" && $2 != "fallback"' | wc -l)
finish $((FAILED > 0 ? 1 : 0))
