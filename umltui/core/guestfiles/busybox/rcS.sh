#!/bin/sh
# umltui's boot script: mounts, hostname, addresses, hostfs mounts, kernel settings, the lab's startup.
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev 2>/dev/null
mkdir -p /dev/pts /dev/shm
mount -t devpts devpts /dev/pts
mount -t tmpfs tmpfs /tmp
mount -t tmpfs tmpfs /run
hostname -F /etc/hostname
ip link set lo up
# shellcheck source=/dev/null  # (this boot's, written by umltui on the host: rootfs.py's _boot_script)
. /etc/umltui/boot
if [ -s /etc/umltui/sysctl ]; then
  while IFS= read -r setting; do
    sysctl -q -w "$setting" || echo "umltui: cannot set $setting"
  done < /etc/umltui/sysctl
fi
/etc/umltui/agent > /dev/null 2>&1 &
status=""
if [ -s /etc/umltui/startup ]; then
  (cd /root && sh /etc/umltui/startup) > /var/log/startup.log 2>&1
  status=$?
  echo "umltui: startup script exited with status $status" >> /var/log/startup.log
  # What it printed greets the user on con1, the console shown first, above the prompt.
  if [ $status = 0 ]; then sed '$d' /var/log/startup.log; else cat /var/log/startup.log; fi > /dev/tty1 2>/dev/null
fi
# Tell the supervisor, with the startup's status if it ran: a notification now, and a mark
# it can poll through the mconsole (a notification datagram can be lost).
echo "@READY_WORD@${status:+ startup=$status}" > /proc/sys/kernel/domainname
echo "@READY_WORD@${status:+ startup=$status}" > /proc/mconsole 2>/dev/null
# A lab's test (umltui ltest), in the background: it waits for the lab's other machines.
[ -s /etc/umltui/test ] && (cd /root && sh /etc/umltui/test) > /var/log/test.log 2>&1 &
exit 0
