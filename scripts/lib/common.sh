# Shared by scripts/test, scripts/demo and scripts/bench: locate the repository and make
# sure the Debian/Ubuntu packages a command needs are installed.

EIGENREC_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
EIGENREC_JOBS=${EIGENREC_JOBS:-$(nproc 2>/dev/null || echo 2)}

package_installed() {
  dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q "install ok installed"
}

# ensure_packages pkg...: installs the missing ones with apt-get (as root, or through
# sudo when it needs no password); otherwise prints the command to run and exits 1.
ensure_packages() {
  if ! command -v dpkg-query >/dev/null 2>&1; then
    echo "eigenrec: this script installs dependencies with apt-get (Debian/Ubuntu)." >&2
    echo "eigenrec: on another system install: CMake >= 3.20, a C++17 compiler, Eigen 3.4, Catch2 2.13," >&2
    echo "          Google Benchmark, nlohmann/json; then configure with CMake directly (see README.md)." >&2
    exit 1
  fi
  local missing=()
  for pkg in "$@"; do
    package_installed "$pkg" || missing+=("$pkg")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  echo "eigenrec: installing missing packages: ${missing[*]}" >&2
  local sudo=()
  if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
      sudo=(sudo)
    else
      echo "eigenrec: missing packages and no root rights. Run:" >&2
      echo "  sudo apt-get update && sudo apt-get install -y ${missing[*]}" >&2
      exit 1
    fi
  fi
  export DEBIAN_FRONTEND=noninteractive
  "${sudo[@]}" apt-get update -q >&2
  "${sudo[@]}" apt-get install -y -q --no-install-recommends "${missing[@]}" >&2
}

BUILD_PACKAGES=(cmake make g++ libeigen3-dev nlohmann-json3-dev)
