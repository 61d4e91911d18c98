#!/bin/sh
# umltui's agent: a few fixed requests from the supervisor over the serial line ttyS0.
# A request is a line "ID VERB NAME"; the answer a line "ID ok" or "ID err WORDS".
# Nothing read here is run: VERB picks a case below, NAME must be a plain word.
while true; do
  stty -F /dev/ttyS0 raw -echo 2>/dev/null
  while read -r id verb name; do
    case "$id$name" in *[!A-Za-z0-9_.-]*) echo "$id err bad request"; continue;; esac
    case "$verb" in
      ping) echo "$id ok";;
      nic-down) if ip link set "$name" down 2>/dev/null; then echo "$id ok"; else echo "$id err no NIC $name"; fi;;
      winsize)
        tty=${name%%-*}; size=${name#*-}; cols=${size%x*}; rows=${size#*x}
        case "$tty:$cols:$rows" in
          tty[1-9]:[1-9]*:[1-9]*) case "$cols$rows" in *[!0-9]*) echo "$id err bad size";; *)
            if stty -F "/dev/$tty" rows "$rows" cols "$cols" 2>/dev/null; then echo "$id ok"
            else echo "$id err cannot size $tty"; fi;; esac;;
          *) echo "$id err bad size";;
        esac;;
      nic-ip)
        nic=${name%%-*}; rest=${name#*-}; addr=${rest%-*}; len=${rest##*-}
        case "$addr:$len" in
          [0-9]*.*.*.*:[0-9]*) case "$addr$len" in *[!0-9.]*) echo "$id err bad address";; *)
            ip addr flush dev "$nic" 2>/dev/null
            if ip addr add "$addr/$len" dev "$nic" 2>/dev/null && ip link set "$nic" up 2>/dev/null; then
              printf 'ip addr add %s/%s dev %s 2>/dev/null\nip link set %s up 2>/dev/null\n' \
                "$addr" "$len" "$nic" "$nic" > "/etc/umltui/nic/$nic" 2>/dev/null
              echo "$id ok"
            else echo "$id err cannot set $addr/$len on $nic"; fi;; esac;;
          *) echo "$id err bad address";;
        esac;;
      nic-name)
        mac=${name%%-*}; new=${name#*-}; found=""
        for d in /sys/class/net/*; do [ "$(tr -d : < "$d/address" 2>/dev/null)" = "$mac" ] && found=${d##*/}; done
        if [ -z "$found" ]; then echo "$id err no NIC has $mac"
        elif [ "$found" = "$new" ] || ip link set "$found" name "$new" 2>/dev/null; then echo "$id ok"
        else echo "$id err cannot rename $found to $new"; fi;;
      nic-up)
        # shellcheck source=/dev/null  # (written by umltui for this boot: rootfs.py's _nic_script)
        if [ -f "/etc/umltui/nic/$name" ]; then . "/etc/umltui/nic/$name"; else ip link set "$name" up; fi
        if ip link show "$name" up 2>/dev/null | grep -q "$name"; then echo "$id ok"
        else echo "$id err $name is not up"; fi;;
      *) echo "$id err unknown request";;
    esac
  done < /dev/ttyS0 > /dev/ttyS0 2>/dev/null
  sleep 1  # the line closed (no one on the host side): open it again
done
