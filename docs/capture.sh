#!/usr/bin/env bash
# Capture the README's screens from the real app in a private tmux, at 160x48 and 80x24:
# docs/screen-{main,grid,network,panel,zoom}-WxH.txt. Boots the demo (in the umltui world
# the environment names) if it is not up; leaves it running.
set -euo pipefail
cd "$(dirname "$0")/.."
UMLTUI=${UMLTUI:-.venv/bin/umltui}
SOCK="umltui-capture-$$"
"$UMLTUI" demo --detach >/dev/null
t() { tmux -L "$SOCK" "$@"; }
trap 't kill-server 2>/dev/null || true' EXIT
for size in 160x48 80x24; do
  w=${size%x*} h=${size#*x}
  t kill-server 2>/dev/null || true
  t new-session -d -x "$w" -y "$h" "$UMLTUI attach demo-a"
  sleep 3
  t send-keys "clear; ping -c 1 10.0.0.2" Enter; sleep 2
  t capture-pane -p > "docs/screen-main-$size.txt"
  t send-keys C-b g; sleep 1; t capture-pane -p > "docs/screen-grid-$size.txt"; t send-keys C-b g; sleep 0.5
  t send-keys C-b z; sleep 1; t capture-pane -p > "docs/screen-zoom-$size.txt"; t send-keys C-b z; sleep 0.5
  if [ "$w" -lt 158 ]; then t send-keys C-b m; sleep 1; t capture-pane -p > "docs/screen-panel-$size.txt"; t send-keys Escape; sleep 0.5; fi
  t send-keys C-b w; sleep 2; t capture-pane -p > "docs/screen-network-$size.txt"; t send-keys Escape; sleep 0.5
  t send-keys C-b d; sleep 1
done
echo "captured: $(ls docs/screen-*-*.txt | tr '\n' ' ')"
