#!/bin/sh
# umltui: the lab's startup, once the system is up (as Netkit's phase two), as root in
# /root, with bash where the image has it; then: ready; then a lab test's script, in the
# background (it waits for the lab's other machines, which may boot after this one).
status=""
if [ -s /run/umltui/startup ]; then
  shell="sh"
  [ -x /bin/bash ] && shell=/bin/bash
  (cd /root && HOME=/root "$shell" /run/umltui/startup) < /dev/null > /var/log/startup.log 2>&1
  status=$?
  echo "umltui: startup script exited with status $status" >> /var/log/startup.log
fi
echo "@READY_WORD@${status:+ startup=$status}" > /proc/sys/kernel/domainname
echo "@READY_WORD@${status:+ startup=$status}" > /proc/mconsole 2>/dev/null
if [ -f /run/umltui/test ]; then
  (cd /root && HOME=/root sh /run/umltui/test) < /dev/null > /var/log/test.log 2>&1 &
fi
exit 0
