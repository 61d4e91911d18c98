#!/bin/sh
# umltui: a lab written for Quagga (its files in /etc/quagga, not in Debian since 10) runs
# on FRR, which has the same daemons and configuration language. Called by the pre-init
# when the lab's files have /etc/quagga and no /etc/frr: Quagga's per-daemon files become
# FRR's (Quagga.conf, its integrated file, becomes frr.conf), and its daemons file's
# choices go into FRR's. /etc/init.d/quagga and quagga.service start FRR.
q=/etc/quagga
f=/etc/frr
[ -f "$f/daemons" ] || exit 0  # no FRR in this image
integrated=no
for conf in "$q"/*.conf; do
  [ -f "$conf" ] || continue
  case "${conf##*/}" in
    vtysh.conf) ;;
    Quagga.conf) cp "$conf" "$f/frr.conf"; integrated=yes ;;
    *) cp "$conf" "$f/${conf##*/}" ;;
  esac
done
if [ "$integrated" = no ]; then
  # Each daemon reads its own file, as Quagga's did.
  rm -f "$f/frr.conf"
  echo "no service integrated-vtysh-config" > "$f/vtysh.conf"
fi
set_daemon() {
  if grep -q "^$1=" "$f/daemons"; then sed -i "s/^$1=.*/$1=$2/" "$f/daemons"; else echo "$1=$2" >> "$f/daemons"; fi
}
if [ -f "$q/daemons" ]; then
  sed -n 's/^[[:space:]]*\([a-z0-9]*d\)=[[:space:]]*"\{0,1\}\(yes\|no\)"\{0,1\}[[:space:]]*$/\1 \2/p' "$q/daemons" |
    while read -r daemon choice; do
      [ "$daemon" = zebra ] || set_daemon "$daemon" "$choice"  # FRR always runs zebra
    done
else  # Quagga without a daemons file: each daemon that has a file
  for conf in "$f"/*d.conf; do
    daemon="${conf##*/}"; daemon="${daemon%.conf}"
    [ -f "$conf" ] && [ "$daemon" != zebra ] && set_daemon "$daemon" yes
  done
fi
# Quagga's configurations often log to files there.
mkdir -p /var/log/quagga /var/log/zebra /run/quagga
chown -R frr:frr "$f" /var/log/quagga /var/log/zebra /run/quagga 2>/dev/null
chmod 640 "$f"/*.conf 2>/dev/null
exit 0
