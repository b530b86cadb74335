#!/usr/bin/env bash
# Wheels the device image lacks, at the exact versions uv.lock pins, into .whl/ (ignored by git)
# for the device tool's `carry` (issue 19), in the form that tool documents for its H200 machines.
#
# The image has torch, JAX, numpyro, flax, optax, xarray, h5py, networkx, scikit-learn, scipy,
# matplotlib, tqdm, lazy-loader, opt-einsum and typing-extensions; it lacks pyro-ppl (and its
# pyro-api), arviz and its split packages (arviz-base, arviz-stats, arviz-plots, and
# xarray-einstats for arviz-stats' xarray extra), h5netcdf and POT. The check installs them there
# with --no-deps into /tmp/site and uses the image's own torch and JAX (no 3 GB download).
#
#   bash benchmarks/gpu_wheels.sh          # here, where PyPI is reachable
#
# then call the device tool with carry [".whl"], timeout_s 600 and the command printed last.
set -euo pipefail
cd "$(dirname "$0")/.."

PACKAGES=(pyro-ppl pyro-api arviz arviz-base arviz-stats arviz-plots xarray-einstats h5netcdf pot)
LIMIT_MIB=48 # what travels (working tree + wheels) may be 64 MiB; keep well under it
PYTHON=${PYTHON:-python3}

pins=$("$PYTHON" - "${PACKAGES[@]}" <<'EOF'
import sys, tomllib
lock = tomllib.load(open("uv.lock", "rb"))
versions = {p["name"]: p["version"] for p in lock["package"]}
missing = [n for n in sys.argv[1:] if n not in versions]
if missing:
    sys.exit(f"uv.lock pins no version of {missing}")
print(" ".join(f"{n}=={versions[n]}" for n in sys.argv[1:]))
EOF
)
echo "locked: $pins"

mkdir -p .whl
for name in "${PACKAGES[@]}"; do # one version of each: two would stop the install there
  rm -f .whl/"${name//-/_}"-*.whl .whl/"$name"-*.whl
done
# shellcheck disable=SC2086
"$PYTHON" -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 \
  --implementation cp --platform manylinux_2_28_x86_64 --platform manylinux_2_27_x86_64 \
  --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 \
  --platform manylinux1_x86_64 -d .whl $pins

count=$(ls .whl/*.whl | wc -l)
bytes=$(cat .whl/*.whl | wc -c)
tree=$( (git ls-files -z; git ls-files -z --others --exclude-standard) | xargs -0 cat 2>/dev/null | wc -c)
mib=$(((bytes + tree) / 1048576))
ls -l .whl/*.whl
echo "$count wheels, $bytes bytes in .whl/; with the working tree ($tree bytes): $mib MiB travel"
if [ "$count" -ne "${#PACKAGES[@]}" ]; then
  echo "expected ${#PACKAGES[@]} wheels in .whl/, found $count" >&2
  exit 1
fi
if [ "$mib" -ge "$LIMIT_MIB" ]; then
  echo "$mib MiB would travel, over the $LIMIT_MIB MiB this script allows (64 MiB at most)" >&2
  exit 1
fi
echo
echo "device tool call: carry [\".whl\"], timeout_s 600, command:"
PYTHONPATH=. "$PYTHON" -c "import benchmarks.gpu_check as g; print(g.DEVICE_COMMAND)"
