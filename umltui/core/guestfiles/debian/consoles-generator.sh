#!/bin/sh
# umltui: a getty on each console this boot asks for (umltui.consoles=N on the kernel
# command line; conN is ttyN), root logged in at once with umltui.login=auto.
out="$1"
consoles=0; login=prompt
read -r cmdline < /proc/cmdline
set -f  # its words, as the kernel splits them, never taken for file patterns
for word in $cmdline; do
  case "$word" in
    umltui.consoles=*) consoles="${word#umltui.consoles=}";;
    umltui.login=*) login="${word#umltui.login=}";;
  esac
done
set +f
case "$consoles" in [1-6]) ;; *) consoles=0;; esac
mkdir -p "$out/getty.target.wants" "$out/umltui-getty@.service.d"
n=1
while [ "$n" -le "$consoles" ]; do
  ln -sf /etc/systemd/system/umltui-getty@.service "$out/getty.target.wants/umltui-getty@tty$n.service"
  n=$((n + 1))
done
# login: auto starts root's login shell at once, as agetty's own child (no login prompt, no
# PAM session, no script in between: each process costs on a guest's busy first seconds);
# prompt: the usual login, root with no password.
if [ "$login" = auto ]; then
  agetty="/sbin/agetty --skip-login --noissue --nonewline --noclear --nohostname"
  agetty="$agetty --login-program /bin/bash --login-options -l"
  {
    printf '[Service]\nWorkingDirectory=/root\nEnvironment=HOME=/root USER=root LOGNAME=root SHELL=/bin/bash\n'
    printf 'ExecStart=\nExecStart=-%s %%I xterm-256color\n' "$agetty"
  } > "$out/umltui-getty@.service.d/login.conf"
fi
# con1 first: the guest has one CPU, and with login: auto every console starts a shell at
# once while the rest of the boot goes on. The others follow at the usual priority.
if [ "$consoles" -ge 1 ]; then
  mkdir -p "$out/umltui-getty@tty1.service.d"
  printf '[Service]\nNice=-10\nCPUWeight=10000\n' > "$out/umltui-getty@tty1.service.d/first.conf"
fi
