#!/bin/sh
# umltui's pre-init (the kernel's init=), before systemd: the lab's files are copied over
# / (a machine folder may hold units, /etc/network/interfaces, /etc/frr/*.conf: they must
# be there when systemd loads its units), and the NICs take the lab's names (the 7.x
# kernel makes vecN, the lab's files say eth0). Then systemd starts, as this process.
PATH=/usr/sbin:/usr/bin:/sbin:/bin
mount -t proc -o nosuid,nodev,noexec proc /proc
mount -t sysfs -o nosuid,nodev,noexec sysfs /sys
# systemd keeps what it finds mounted: this boot's settings stay at /run/umltui.
mount -t tmpfs -o nosuid,nodev,mode=0755,size=20% tmpfs /run
dir=""
read -r cmdline < /proc/cmdline
set -f  # its words, as the kernel splits them, never taken for file patterns
for word in $cmdline; do
  case "$word" in umltui.boot=*) dir="${word#umltui.boot=}";; esac
done
set +f
if [ -n "$dir" ] && mkdir -p /run/umltui && mount -r -t hostfs none /run/umltui -o "$dir"; then
  frr_given=no
  if [ -s /run/umltui/files ]; then
    mkdir -p /run/umltui-files
    while IFS= read -r folder; do
      if mount -r -t hostfs none /run/umltui-files -o "$folder"; then
        [ -e /run/umltui-files/etc/frr ] && frr_given=yes
        # Links of the root (/lib -> usr/lib) are followed, not replaced; files become root's.
        (cd /run/umltui-files && tar -cf - .) |
          tar -xf - -C / --keep-directory-symlink --no-same-owner --no-overwrite-dir ||
          echo "umltui: copying $folder over / failed"
        umount /run/umltui-files
      else
        echo "umltui: cannot mount the lab's folder $folder"
      fi
    done < /run/umltui/files
    rmdir /run/umltui-files
  fi
  if [ -d /etc/quagga ] && [ "$frr_given" = no ]; then /usr/lib/umltui/quagga-to-frr; fi
  # FRR's daemons run as frr: the lab's files (root's now) are theirs, as Kathará makes them.
  if [ "$frr_given" = yes ]; then chown -R frr:frr /etc/frr 2>/dev/null; fi
  while read -r mac name; do
    for d in /sys/class/net/*; do
      if [ "$(cat "$d/address")" = "$mac" ] && [ "${d##*/}" != "$name" ]; then ip link set "${d##*/}" name "$name"; fi
    done
  done < /run/umltui/names
fi
exec /sbin/init "$@"
