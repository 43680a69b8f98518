#!/usr/bin/env bash
# Install mlinfra for the head and the base branch of a pull request (used by action.yml).
# With REQUIREMENTS set, each side gets its own virtualenv from its own requirements file, so a
# pull request that bumps the pinned mlinfra plans the base with the old version and the head
# with the new one. Otherwise one virtualenv (MLINFRA_SPEC, else the action's checkout) serves both.
set -euo pipefail
spec="${MLINFRA_SPEC:-${ACTION_PATH}[all]}"
head="$RUNNER_TEMP/mlinfra-head"
base="$RUNNER_TEMP/mlinfra-base"
python -m venv "$head"
"$head/bin/pip" install --quiet "$spec"
if [[ -n "${REQUIREMENTS:-}" ]]; then
  "$head/bin/pip" install --quiet -r "$REQUIREMENTS"
  python -m venv "$base"
  if [[ -f "$BASE_DIR/$REQUIREMENTS" ]]; then
    "$base/bin/pip" install --quiet -r "$BASE_DIR/$REQUIREMENTS"
  else
    "$base/bin/pip" install --quiet "$spec"
  fi
elif [[ -z "${MLINFRA_SPEC:-}" && -f "$BASE_DIR/pyproject.toml" && -f "$BASE_DIR/mlinfra/__init__.py" ]]; then
  # The repository is mlinfra itself: the base commit's stacks are planned with the base commit's
  # library, so a pull request that changes mlinfra/ shows what the change does to every stack.
  python -m venv "$base"
  "$base/bin/pip" install --quiet "${BASE_DIR}[all]"
else
  # One library for both sides: a team repository that wants library upgrades in the diff sets
  # the action's `requirements` input (each side installs its own pinned mlinfra-platform).
  ln -sfn "$head" "$base"
fi
"$head/bin/mlinfra" --help > /dev/null
