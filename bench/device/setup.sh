# Sourced at the start of every GPU-host command (see bench/device/README.md):
# installs the Vulkan loader, unpacks Node + node_modules, prints what the host has.
for f in .gl/*.deb; do dpkg -x "$f" /; done
ldconfig
mkdir -p /tmp/rt
[ -x /tmp/rt/bin/node ] || xz -dc .device/runtime.tar.xz | tar xf - -C /tmp/rt
export PATH=/tmp/rt/bin:$PATH
[ -e node_modules ] || ln -s /tmp/rt/node_modules node_modules
export XDG_RUNTIME_DIR=/tmp/xdg && mkdir -p "$XDG_RUNTIME_DIR"
if [ -f /usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json ] && ! ls /usr/share/vulkan/icd.d/*nvidia* >/dev/null 2>&1; then
  export VK_DRIVER_FILES=/usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json
fi
echo "node $(node --version); $(nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader)"
