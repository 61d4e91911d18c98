#!/bin/sh
# umltui: this boot's settings, which umltui wrote on the host in the folder that
# umltui.boot=PATH names (the pre-init mounted it at /run/umltui): addresses, hostfs
# mounts, kernel settings. Before the network's units; the startup comes later.
if ! mountpoint -q /run/umltui; then
  dir=""
  read -r cmdline < /proc/cmdline
  set -f  # its words, as the kernel splits them, never taken for file patterns
  for word in $cmdline; do
    case "$word" in umltui.boot=*) dir="${word#umltui.boot=}";; esac
  done
  set +f
  [ -n "$dir" ] || exit 0
  mkdir -p /run/umltui
  mount -r -t hostfs none /run/umltui -o "$dir" || { echo "umltui: cannot mount $dir over hostfs"; exit 1; }
fi
[ -f /run/umltui/hostname ] && cp /run/umltui/hostname /etc/hostname && hostname -F /etc/hostname
[ -f /run/umltui/hosts ] && cp /run/umltui/hosts /etc/hosts
ip link set lo up
# shellcheck source=/dev/null  # (this boot's, written by umltui on the host: rootfs.py's _boot_script)
. /run/umltui/boot
if [ -s /run/umltui/sysctl ]; then
  while IFS= read -r setting; do
    sysctl -q -w "$setting" || echo "umltui: cannot set $setting"
  done < /run/umltui/sysctl
fi
exit 0
