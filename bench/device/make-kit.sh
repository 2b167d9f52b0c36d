#!/usr/bin/env bash
# Builds the GPU-host kit (both folders are git-ignored and travel with `carry`):
#   .gl/      Vulkan/GL loader .debs, unpacked on the GPU host (it has the NVIDIA driver, no loader)
#   .device/  runtime.tar.xz: this machine's node binary + production node_modules for linux-x64
set -euo pipefail
cd "$(dirname "$0")/../.."

mkdir -p .gl /tmp/amd64/partial
o='-oAPT::Architecture=amd64 -oAPT::Architectures=amd64 -oDir::State::Lists=/tmp/amd64'
apt-get $o update >/dev/null
(cd .gl && apt-get $o download libvulkan1 libegl1 libglvnd0 libopengl0 libgl1 libglx0 libgles2)

kit=$(mktemp -d)
cp package.json package-lock.json "$kit/"
(cd "$kit" && npm ci --omit=dev --ignore-scripts --no-audit --no-fund)
rm -f "$kit"/node_modules/webgpu/dist/{darwin*,win32*,*.dll}
mkdir -p "$kit/rt/bin" .device
mv "$kit/node_modules" "$kit/rt/"
cp "$(command -v node)" "$kit/rt/bin/node"
# Symbols and source maps are dead weight on the host; stripped, the kit leaves room for datasets in carry's 64 MiB.
strip "$kit/rt/bin/node"
find "$kit/rt/node_modules" \( -name '*.node' -o -name '*.so*' \) -exec strip --strip-unneeded {} +
find "$kit/rt/node_modules" -name '*.map' -delete
(cd "$kit/rt" && tar cf - . | xz -9 -T2) > .device/runtime.tar.xz
rm -rf "$kit"
du -sh .gl .device/runtime.tar.xz
