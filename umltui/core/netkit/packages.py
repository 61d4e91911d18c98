"""Which Debian packages a lab.conf lab needs: one image for every machine of the lab.

Kathará gives each machine a Docker image (``kathara/frr``); Netkit gave every machine the
same file system. umltui builds one Debian image per set of packages and boots every guest
copy-on-write over it, so a lab gets **one** image: the Netkit base set below, plus what the
images its machines name stand for (:data:`KATHARA_IMAGES`), plus what its machines' files
show they run (:data:`FILE_HINTS`). A lab of 20 routers builds one image, once.
"""

from __future__ import annotations

import re

# Netkit's file system had these (the Debian image's defaults add systemd, iproute2,
# ifupdown, iputils-ping, tcpdump, procps, less, nano, vim-tiny). FRR runs Quagga's
# daemons (zebra, ripd, ospfd, bgpd): routing labs need it, and it is built once.
BASE = ("frr", "iptables", "net-tools", "traceroute", "netcat-openbsd")

# A Kathará image name (without a tag) -> Debian bookworm packages beyond BASE.
KATHARA_IMAGES: dict[str, tuple[str, ...]] = {
    "kathara/base": (),
    "kathara/frr": (),
    "kathara/quagga": (),  # Quagga is not in Debian 12: FRR runs the same daemons
    "kathara/bind": ("bind9", "dnsutils"),
    "kathara/sdn": ("openvswitch-switch",),
    "kathara/openbgpd": ("openbgpd",),
    "kathara/bird": ("bird2",),
    "kathara/apache": ("apache2",),
    "kathara/nginx": ("nginx",),
    "debian": (),
    "ubuntu": (),
    "frrouting/frr": (),
}

# A file in a machine's folder, or a word in its startup, that shows a daemon it runs.
FILE_HINTS: tuple[tuple[re.Pattern[str], tuple[str, ...]], ...] = (
    (re.compile(r"(^|/)etc/bind/|\bbind9\b"), ("bind9", "dnsutils")),
    (re.compile(r"(^|/)etc/apache2/|\bapache2\b"), ("apache2",)),
    (re.compile(r"(^|/)etc/nginx/|\bnginx\b"), ("nginx",)),
    (re.compile(r"(^|/)etc/dhcp/dhcpd\.conf|\bisc-dhcp-server\b|\bdhcpd\b"), ("isc-dhcp-server",)),
    (re.compile(r"\bdhclient\b"), ("isc-dhcp-client",)),
    (re.compile(r"(^|/)etc/radvd\.conf|\bradvd\b"), ("radvd",)),
    (re.compile(r"(^|/)etc/bird/|\bbird2\b"), ("bird2",)),
    (re.compile(r"\bovs-vsctl\b|\bopenvswitch-switch\b"), ("openvswitch-switch",)),
    (re.compile(r"\bdig\b|\bnslookup\b"), ("dnsutils",)),
    (re.compile(r"\bcurl\b"), ("curl",)),
)


def image_packages(image: str) -> tuple[str, ...] | None:
    """The packages a named image stands for; None if umltui does not know it."""
    name = image.split("@", 1)[0]
    if ":" in name.rsplit("/", 1)[-1]:
        name = name.rsplit(":", 1)[0]  # a tag: kathara/frr:latest
    return KATHARA_IMAGES.get(name.lower())


def hinted_packages(text: str) -> set[str]:
    """The packages that file paths or a startup text show a machine uses."""
    return {p for pattern, packages in FILE_HINTS if pattern.search(text) for p in packages}
