#!/bin/sh
# umltui: Quagga's init script, for labs written for Quagga: FRR runs their daemons.
case "$1" in
  start|stop|restart|reload|status) exec systemctl "$1" frr.service ;;
  force-reload) exec systemctl restart frr.service ;;
  *) echo "Usage: $0 {start|stop|restart|reload|force-reload|status}" >&2; exit 3 ;;
esac
