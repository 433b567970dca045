#!/usr/bin/env bash
# scripts/test.sh [STAGE...] -- set up this machine and run every test of the collection.
# Stages (default: all, in this order):
#   unit         pytest tests/unit (pure planning code, no root)
#   integration  pytest tests/integration in a throwaway sandbox (modules against the real kernel)
#   lab          pytest tests/lab in a sandbox (simulated hosts: isolation, leaks, restarts)
#   e2e          pytest tests/e2e in a sandbox (site.yml on simulated hosts: seed, scale, faults)
#   molecule     molecule test -s default in a sandbox (simulated hosts)
#   sanity       ansible-test sanity on a copy at ansible_collections/linuxnet/overlay
#   lint         ansible-lint, production profile
#   build        ansible-galaxy collection build + install into a scratch path + ansible-doc
#   vm           molecule test -s vm (QEMU guests with a stock Debian kernel: real ESP)
# Every stage that touches the kernel runs inside tests/sandbox.sh: its own network, mount and
# PID namespaces, so nothing reaches the root namespace and everything dies with it.
set -uo pipefail
ROOT=$(cd "$(dirname "$(readlink -f "$0")")/.." && pwd)
cd "$ROOT" || exit 1
bash scripts/setup.sh || exit 1
# shellcheck source=scripts/env.sh
source scripts/env.sh

ALL=(unit integration lab e2e molecule sanity lint build vm)
if [ "$#" -gt 0 ]; then STAGES=("$@"); else STAGES=("${ALL[@]}"); fi
passed=0; failed=0; skipped=0; report=()

run_stage() {
  local name=$1; shift
  local t0=$SECONDS rc
  echo; echo "=== stage $name: $*"
  "$@"; rc=$?
  if [ "$rc" -eq 0 ]; then passed=$((passed + 1)); report+=("ok      $name ($((SECONDS - t0)) s)")
  elif [ "$rc" -eq 77 ]; then skipped=$((skipped + 1)); report+=("skipped $name ($((SECONDS - t0)) s)")
  else failed=$((failed + 1)); report+=("FAILED  $name ($((SECONDS - t0)) s, exit $rc)"); fi
}

pytest_dir() {  # pytest on a folder; a folder with no tests yet is skipped, not failed
  local dir=$1; shift
  if ! compgen -G "$dir/test_*.py" >/dev/null; then echo "no tests in $dir yet"; return 77; fi
  "$@" python -m pytest -q -p no:cacheprovider "$dir"
}

for stage in "${STAGES[@]}"; do
  case $stage in
    unit)        run_stage unit pytest_dir tests/unit ;;
    integration) run_stage integration pytest_dir tests/integration tests/sandbox.sh ;;
    lab)         run_stage lab pytest_dir tests/lab tests/sandbox.sh ;;
    e2e)         run_stage e2e pytest_dir tests/e2e tests/sandbox.sh ;;
    molecule)    run_stage molecule scripts/molecule.sh default ;;
    sanity)      run_stage sanity bash scripts/sanity.sh ;;
    lint)        run_stage lint ansible-lint --profile production ;;
    build)       run_stage build bash scripts/build-check.sh ;;
    vm)          run_stage vm scripts/molecule.sh vm ;;
    *) echo "unknown stage $stage (known: ${ALL[*]})"; failed=$((failed + 1)) ;;
  esac
done

echo; echo "=== summary"
printf '  %s\n' "${report[@]}"
echo "stages: $passed passed, $failed failed, $skipped skipped"
[ "$failed" -eq 0 ]
