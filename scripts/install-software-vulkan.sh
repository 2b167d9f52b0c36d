#!/usr/bin/env bash
# Installs Mesa's lavapipe (software Vulkan) from bookworm-backports, so that Dawn
# finds an adapter on machines without a GPU. Debian bookworm's own Mesa 22.3 is
# rejected by Dawn; Mesa 25 from backports works.
#
# The backports suite is added by reusing the Debian URI already configured in
# this machine's apt sources (no host name is written here).
# A no-op when a usable lavapipe (Mesa >= 24) is already installed.
set -euo pipefail

installed_mesa_major() {
  dpkg-query -W -f='${Version}' mesa-vulkan-drivers 2>/dev/null | sed -E 's/^([0-9]+:)?([0-9]+).*/\2/' || true
}

major="$(installed_mesa_major)"
if [[ -n "$major" && "$major" -ge 24 ]]; then
  echo "software Vulkan: mesa-vulkan-drivers $major.x already installed"
  exit 0
fi

SUDO=""
if [[ "$(id -u)" != 0 ]]; then SUDO="sudo"; fi

list=/etc/apt/sources.list.d/yolo-wgpu-backports.sources
if ! grep -rqs "bookworm-backports" /etc/apt/sources.list /etc/apt/sources.list.d/; then
  # Take the first URI serving the plain bookworm suite, in deb822 or one-line format.
  uri="$(grep -hE '^URIs:' /etc/apt/sources.list.d/*.sources 2>/dev/null | grep -v security | head -n1 | awk '{print $2}' || true)"
  if [[ -z "$uri" ]]; then
    uri="$(grep -hE '^deb .* bookworm( |$)' /etc/apt/sources.list 2>/dev/null | grep -v security | head -n1 | awk '{print $2}' || true)"
  fi
  if [[ -z "$uri" ]]; then
    echo "install-software-vulkan: no Debian URI found in the apt sources to reuse for bookworm-backports" >&2
    exit 1
  fi
  keyring=/usr/share/keyrings/debian-archive-keyring.gpg
  $SUDO tee "$list" >/dev/null <<SRC
Types: deb
URIs: $uri
Suites: bookworm-backports
Components: main
Signed-By: $keyring
SRC
fi

export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq -t bookworm-backports mesa-vulkan-drivers libvulkan1 >/dev/null
echo "software Vulkan: installed mesa-vulkan-drivers $(dpkg-query -W -f='${Version}' mesa-vulkan-drivers)"
