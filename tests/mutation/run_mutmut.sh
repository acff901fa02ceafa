#!/usr/bin/env bash
# Mutation testing of planning/ with mutmut (docs/generated-installations.md, "Mutation score").
# mutmut mutates a copy of the package: it runs in a scratch folder laid out as it expects
# (the package at the top, tests beside it), never in the repository.
#   tests/mutation/run_mutmut.sh [FILES_GLOB...]   (default: every file of planning/)
# MUTATION_TESTS='"tests/a.py", "tests/b.py"' picks the tests; MUTANT_NAMES='pkg.mod.x_f*' the mutants.
set -euo pipefail
repo="$(cd "$(dirname "$0")/../.." && pwd)"
scratch="${MUTATION_DIR:-/tmp/groupid-mutation}"
rm -rf "$scratch" && mkdir -p "$scratch"
cp -r "$repo/engine/groupid_upgrade" "$scratch/groupid_upgrade"
cp -r "$repo/tests" "$scratch/tests"
only=("$@")
[ ${#only[@]} -eq 0 ] && only=("groupid_upgrade/planning/*")
{
  sed '/^\[tool.mutmut\]/,$d' "$repo/pyproject.toml"
  echo '[tool.mutmut]'
  echo 'source_paths = ["groupid_upgrade"]'
  printf 'only_mutate = [%s]\n' "$(printf '"%s",' "${only[@]}" | sed 's/,$//')"
  printf 'pytest_add_cli_args_test_selection = [%s]\n' "${MUTATION_TESTS:-"\"tests/test_plan_rules_regressions.py\", \"tests/test_generated_installations.py\", \"tests/test_plan_rules.py\", \"tests/test_plan_golden.py\""}"
  echo 'pytest_add_cli_args = ["-p", "no:cacheprovider", "-q", "-x", "-k", "not one_run"]'
} > "$scratch/pyproject.toml"
cd "$scratch"
# plans only (no upgrade.run), 25 generated installations per test run: the tests that need no server
export GROUPID_GENERATED_RUN=0 GROUPID_GENERATED_SHRINK=0 GROUPID_GENERATED_EXAMPLES="${GROUPID_GENERATED_EXAMPLES:-25}" TMPDIR=/dev/shm
# shellcheck disable=SC2086  # MUTANT_NAMES is a list of patterns
"$repo/.venv/bin/mutmut" run --max-children "${MUTATION_CHILDREN:-2}" ${MUTANT_NAMES:-} || true
"$repo/.venv/bin/mutmut" results --all true > results.txt || true
echo "results in $scratch/results.txt"
