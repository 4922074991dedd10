#!/usr/bin/env bash
# The trainers whose own loaders tests/trainers/ runs on dialogkit's outputs, each in its own
# virtual environment (.ci/venvs/NAME): their torch/transformers/datasets pins clash with each
# other and with dialogkit's dev extra. CPU torch is pinned as torch==2.13.0 (a CPU wheel on
# disk; any other spec pulls CUDA). The versions below are what the tests last passed with.
#
# Usage: bash .ci/frameworks.sh [NAME...]   (default: all, installed in parallel)
# A venv whose spec is unchanged is kept (its .spec stamp), so a second run costs nothing.
set -euo pipefail
cd "$(dirname "$0")"
mkdir -p venvs

TORCH="torch==2.13.0"
declare -A SPECS=(
  # verl installs on CPU; its trainers need GPUs, its dataset and reward code does not
  [verl]="$TORCH verl==0.9.1 transformers==5.10.4 datasets==5.2.0"
  # llamafactory pulls torchvision 0.28 (does not load beside CPU torch: "operator
  # torchvision::nms does not exist") and torchaudio 2.11.1 (built for torch 2.11, no 2.13
  # release): both are removed after the install; the test stubs torchaudio for text data
  [llamafactory]="$TORCH llamafactory==0.9.5 transformers==5.6.0 datasets==4.0.0"
  # openrlhf pins flash-attn==2.8.3 and deepspeed, which need CUDA to build: it goes in with
  # --no-deps (OPENRLHF_NODEPS) beside what openrlhf.datasets imports
  [openrlhf]="$TORCH transformers==5.15.0 datasets==5.2.0 pylatexenc==2.10 sympy"
  # torchtune 0.6.1 imports beside CPU torch with torchao 0.11.0 (newer torchao breaks it)
  [torchtune]="$TORCH torchtune==0.6.1 torchao==0.11.0 datasets==5.2.0"
)
OPENRLHF_NODEPS="openrlhf==0.11.2"

install() {
  local name=$1 venv="venvs/$1" spec="${SPECS[$1]}"
  local stamp="$spec ${name/openrlhf/$OPENRLHF_NODEPS}"
  if [[ -x "$venv/bin/python" && -f "$venv/.spec" && "$(cat "$venv/.spec")" == "$stamp" ]]; then
    echo "frameworks: $name up to date"
    return
  fi
  rm -rf "$venv"
  python3 -m venv "$venv"
  # shellcheck disable=SC2086  # the spec is a list of requirements
  "$venv/bin/pip" install -q $spec
  case $name in
    llamafactory) "$venv/bin/pip" uninstall -q -y torchvision torchaudio ;;
    openrlhf) "$venv/bin/pip" install -q --no-deps "$OPENRLHF_NODEPS" ;;
  esac
  echo "$stamp" > "$venv/.spec"
  echo "frameworks: $name installed"
}

names=("$@")
[[ ${#names[@]} -eq 0 ]] && names=(verl llamafactory openrlhf torchtune)
pids=()
for name in "${names[@]}"; do
  [[ -n "${SPECS[$name]:-}" ]] || { echo "frameworks: unknown framework $name" >&2; exit 2; }
  install "$name" > "venvs/$name.log" 2>&1 &
  pids+=($!)
done
status=0
for i in "${!pids[@]}"; do
  if ! wait "${pids[$i]}"; then
    echo "frameworks: installing ${names[$i]} failed; the end of venvs/${names[$i]}.log:" >&2
    tail -n 30 "venvs/${names[$i]}.log" >&2
    status=1
  else
    grep "^frameworks:" "venvs/${names[$i]}.log"
  fi
done
exit $status
