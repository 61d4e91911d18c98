#!/bin/sh
# umltui's customize hook for mmdebstrap: $1 is the new root, $2 the build's settings (a file
# of shell assignments that images/contents.py writes: modules, version, overlay, nodes,
# image, size, unshare, dormant). Runs inside mmdebstrap's namespace, so what it copies is
# owned by the guest's root in both modes.
set -eu
root="$1"
# shellcheck source=/dev/null
. "$2"
: "${modules:?}" "${version:?}" "${overlay:?}" "${nodes:?}" "${image:?}" "${size:?}" "${unshare:?}" "${dormant?}"
echo "umltui-stage: customize"
mkdir -p "$root/usr/lib/modules"
cp -R --no-preserve=ownership "$modules" "$root/usr/lib/modules/$version"
cp -R --no-preserve=ownership "$overlay/." "$root/"
sys="$root/etc/systemd/system"
mkdir -p "$sys/multi-user.target.wants"
ln -sf /etc/systemd/system/umltui-boot.service "$sys/multi-user.target.wants/umltui-boot.service"
ln -sf /etc/systemd/system/umltui-agent.service "$sys/multi-user.target.wants/umltui-agent.service"
ln -sf /etc/systemd/system/umltui-startup.service "$sys/multi-user.target.wants/umltui-startup.service"
# The services of the packages a lab asked for start when its startup says (as in Netkit's
# and Kathará's images): `systemctl start frr`, `/etc/init.d/bind9 start`.
for pkg in $dormant; do  # (a list of words: Debian package names)
  chroot "$root" dpkg-query -L "$pkg" 2>/dev/null | while IFS= read -r unit; do
    case "$unit" in
      /lib/systemd/system/*.service|/usr/lib/systemd/system/*.service) rm -f "$sys"/*.wants/"${unit##*/}" ;;
    esac
  done
done
# Labs written for Quagga: its names start FRR (see /usr/lib/umltui/quagga-to-frr).
if [ -e "$root/lib/systemd/system/frr.service" ]; then
  ln -sf /lib/systemd/system/frr.service "$sys/quagga.service"
  ln -sf /usr/lib/umltui/quagga "$root/etc/init.d/quagga"
  ln -sf /usr/lib/umltui/quagga "$root/etc/init.d/zebra"  # (older labs' name for it)
fi
# The consoles' gettys are ours (the generator); ctrl-alt-del powers off, as in the busybox root.
rm -f "$sys/getty.target.wants/getty@tty1.service"
mkdir -p "$root/etc/systemd/system-generators"
# Generators that look for hardware or set-ups a UML guest does not have; each is a
# process to start before systemd starts anything.
for gen in \
  systemd-getty-generator \
  systemd-gpt-auto-generator \
  systemd-cryptsetup-generator \
  systemd-veritysetup-generator \
  systemd-integritysetup-generator \
  systemd-hibernate-resume-generator \
  systemd-bless-boot-generator \
  systemd-system-update-generator
do
  ln -sf /dev/null "$root/etc/systemd/system-generators/$gen"
done
ln -sf /usr/lib/systemd/system/poweroff.target "$sys/ctrl-alt-del.target"
# Units that cost boot time and do nothing for a lab guest.
# - udev's coldplug (systemd-udev-trigger), if a lab adds udev: 20 s of a 2-core machine for
#   two guests, and nothing a lab guest needs waits for it (devtmpfs makes the device nodes);
#   ifupdown-pre: udevadm settle before the network, and umltui sets the addresses.
# - The journal is in memory: nothing to flush. The image's users are made when it is built.
#   The kernel mounts the root rw with fstab's options.
# - The last four, each a process to start on every guest's boot (0.3 s of host CPU for the
#   five with systemd-update-utmp-runlevel: a 20-router lab boots them all at once on 2
#   cores): utmp's boot record (`who`, `last`), a random seed (the kernel's generator is
#   ready before init), and static /dev nodes for modules not loaded yet (none was made in
#   a UML guest here: devtmpfs makes a node when its module loads).
for unit in \
  apt-daily.timer apt-daily-upgrade.timer e2scrub_all.timer e2scrub_reap.service fstrim.timer \
  systemd-udev-settle.service getty-static.service console-getty.service serial-getty@ttyS0.service \
  systemd-pstore.service systemd-hwdb-update.service remote-fs.target \
  systemd-udev-trigger.service ifupdown-pre.service \
  modprobe@fuse.service modprobe@configfs.service sys-fs-fuse-connections.mount sys-kernel-config.mount \
  sys-kernel-debug.mount sys-kernel-tracing.mount dev-hugepages.mount \
  systemd-journal-flush.service systemd-sysusers.service systemd-remount-fs.service \
  systemd-update-utmp-runlevel.service \
  modprobe@dm_mod.service modprobe@loop.service modprobe@drm.service modprobe@efi_pstore.service \
  systemd-update-utmp.service systemd-random-seed.service kmod-static-nodes.service \
  systemd-tmpfiles-setup-dev.service
do
  ln -sf /dev/null "$sys/$unit"
done
# The NIC scripts the agent runs are this boot's, on the host.
rm -rf "$root/etc/umltui/nic"
ln -s /run/umltui/nic "$root/etc/umltui/nic"
chroot "$root" passwd -d root > /dev/null
: > "$root/etc/machine-id"
rm -rf "$root/var/lib/apt/lists/"* "$root/var/cache/apt/"*.bin
# Debian's /etc/modules (empty) through this link starts systemd-modules-load on every boot;
# without it the unit runs only if a lab puts a file in /etc/modules-load.d.
rm -f "$root/etc/modules-load.d/modules.conf"
# A login runs every motd script: a process each, on the guest's busy first seconds.
rm -f "$root/etc/update-motd.d/10-uname"
printf 'Debian GNU/Linux in User Mode Linux, built by umltui. Halt: poweroff, or ctrl-alt-del.\n' > "$root/etc/motd"
echo "umltui-stage: filesystem"
# In unshare mode the namespace's root (a subordinate id) cannot write into the user's
# folder: the staging copy goes to /tmp and the image into the root itself, and
# mmdebstrap's `download` hook brings it out as the user.
if [ "$unshare" = yes ]; then
  stage_parent=/tmp
  target="$root/umltui-root.img"
else
  stage_parent="${image%/*}"
  target="$image"
fi
# mmdebstrap has /proc, /sys and /dev mounted in the root while hooks run: copy the root's
# own file system only (owners kept: this runs as the namespace's root), and make the image from it.
# /dev's nodes cannot be made in unshare mode: they are added to the image afterwards.
stage="$(mktemp -d "$stage_parent/umltui-stage.XXXXXX")"
trap 'rm -rf "$stage"' EXIT
mkdir "$stage/root"
(cd "$root" && tar --one-file-system --exclude=./dev -cf - .) | (cd "$stage/root" && tar -xpf -)
mkdir -m 755 "$stage/root/dev"
# Inode tables and journal written now: lazily, the guest's kernel would zero them after
# its first boot, and every block it zeroes would land in that guest's COW file.
mke2fs -q -F -t ext4 -L umltui-root -E lazy_itable_init=0,lazy_journal_init=0 -d "$stage/root" "$target" "$size"
debugfs -w -f "$nodes" "$target" > /dev/null
