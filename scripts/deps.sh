# Sourced by the scripts: installs the Debian packages fovea builds with, when missing.
FOVEA_DEBIAN_PACKAGES=(
  cmake ninja-build ccache g++ pkg-config git
  libopenblas-openmp-dev doctest-dev libboost-context-dev
  libavcodec-dev libavformat-dev libswscale-dev libstb-dev
)

fovea_install_deps() {
  local missing=()
  for pkg in "${FOVEA_DEBIAN_PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
  done
  if [ ${#missing[@]} -eq 0 ]; then
    return 0
  fi
  echo "installing missing Debian packages: ${missing[*]}"
  local sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}"
}
