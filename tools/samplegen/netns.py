"""Network namespaces, veth links, sysctls and nftables rules for one scenario.

Every namespace is named ``pls-<scenario-tag>-<role>`` and is deleted when the scenario's
``Lab`` context exits, whatever happened (the kernel then frees the veths, rules and
sockets with it). Only these namespaces carry traffic.
"""

from __future__ import annotations

import json
import subprocess
from dataclasses import dataclass, field
from types import TracebackType

PREFIX = "pls-"


def sh(args: list[str], *, input_text: str | None = None, check: bool = True) -> str:
    out = subprocess.run(args, input=input_text, capture_output=True, text=True, check=False)
    if check and out.returncode != 0:
        raise RuntimeError(f"{' '.join(args)} failed: {out.stderr.strip()}")
    return out.stdout


@dataclass
class Namespace:
    name: str

    def exec_args(self, args: list[str]) -> list[str]:
        return ["ip", "netns", "exec", self.name, *args]

    def run(self, args: list[str], *, input_text: str | None = None, check: bool = True) -> str:
        return sh(self.exec_args(args), input_text=input_text, check=check)

    def sysctl(self, key: str, value: int | str) -> None:
        self.run(["sysctl", "-q", "-w", f"{key}={value}"])

    def nft(self, script: str) -> None:
        """Load an nft script (``nft -f -``) in this namespace."""
        self.run(["nft", "-f", "-"], input_text=script)

    def nft_flush(self) -> None:
        self.run(["nft", "flush", "ruleset"])

    def nstat(self, *counters: str) -> dict[str, int]:
        """Absolute values of kernel SNMP counters (e.g. TcpExtListenOverflows)."""
        text = self.run(["nstat", "-az", "--json", *counters])
        data = json.loads(text)
        table = data.get("kernel", data)
        return {name: int(table.get(name, 0)) for name in counters}


def _link_quiet(ns: Namespace, dev: str) -> None:
    # Segmentation offloads off: the wire shows MSS-sized segments as a NIC would send them,
    # so drops (numgen) hit single segments and retransmission counts mean what they say.
    ns.run(["ethtool", "-K", dev, "tso", "off", "gso", "off", "gro", "off"], check=False)


@dataclass
class Lab:
    """Namespaces and links of one scenario; a context manager that always cleans up."""

    tag: str
    namespaces: list[Namespace] = field(default_factory=list)

    def __enter__(self) -> Lab:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        for ns in reversed(self.namespaces):
            sh(["ip", "netns", "del", ns.name], check=False)

    def namespace(self, role: str, *, ipv6: bool = False) -> Namespace:
        ns = Namespace(f"{PREFIX}{self.tag}-{role}")
        sh(["ip", "netns", "del", ns.name], check=False)  # left over from an interrupted run
        sh(["ip", "netns", "add", ns.name])
        self.namespaces.append(ns)
        ns.run(["ip", "link", "set", "lo", "up"])
        if not ipv6:
            # No router solicitations / MLD chatter in IPv4 captures.
            ns.sysctl("net.ipv6.conf.all.disable_ipv6", 1)
            ns.sysctl("net.ipv6.conf.default.disable_ipv6", 1)
        return ns

    def veth(
        self, a: Namespace, a_dev: str, b: Namespace, b_dev: str, *, offloads: bool = False
    ) -> None:
        a.run(["ip", "link", "add", a_dev, "type", "veth", "peer", "name", b_dev, "netns", b.name])
        for ns, dev in ((a, a_dev), (b, b_dev)):
            if not offloads:
                _link_quiet(ns, dev)
            ns.run(["ip", "link", "set", dev, "up"])

    @staticmethod
    def addr(ns: Namespace, dev: str, cidr: str) -> None:
        extra = ["nodad"] if ":" in cidr else []
        ns.run(["ip", "addr", "add", cidr, "dev", dev, *extra])


@dataclass(frozen=True)
class Pair:
    client: Namespace
    server: Namespace
    client_ip: str
    server_ip: str
    client_ip6: str | None = None
    server_ip6: str | None = None


def make_pair(lab: Lab, net: int, *, ipv6: bool = False, offloads: bool = False) -> Pair:
    """client ns (eth0, 10.<net>.0.1) <-veth-> server ns (eth0, 10.<net>.0.2)."""
    c = lab.namespace("c", ipv6=ipv6)
    s = lab.namespace("s", ipv6=ipv6)
    lab.veth(c, "eth0", s, "eth0", offloads=offloads)
    cip, sip = f"10.{net}.0.1", f"10.{net}.0.2"
    lab.addr(c, "eth0", f"{cip}/24")
    lab.addr(s, "eth0", f"{sip}/24")
    cip6 = sip6 = None
    if ipv6:
        cip6, sip6 = f"fd00:{net}::1", f"fd00:{net}::2"
        lab.addr(c, "eth0", f"{cip6}/64")
        lab.addr(s, "eth0", f"{sip6}/64")
    return Pair(c, s, cip, sip, cip6, sip6)


@dataclass(frozen=True)
class Routed:
    client: Namespace
    router: Namespace
    server: Namespace
    client_ip: str
    server_ip: str
    router_client_dev: str = "rc"  # router side facing the client
    router_server_dev: str = "rs"  # router side facing the server
    client_ip6: str | None = None
    server_ip6: str | None = None


def make_routed(lab: Lab, net: int, *, ipv6: bool = False, prefix6: str = "") -> Routed:
    """client 10.<net>.1.1 <-> [rc 10.<net>.1.254 | router | rs 10.<net>.2.254] <-> server 10.<net>.2.1.

    ``ipv6``: also fd00:<net>:1::1 <-> [fd00:<net>:1::fe | fd00:<net>:2::fe] <-> fd00:<net>:2::1
    (``prefix6``, default ``fd00:<net>``, in place of ``fd00:<net>``).
    """
    c = lab.namespace("c", ipv6=ipv6)
    r = lab.namespace("r", ipv6=ipv6)
    s = lab.namespace("s", ipv6=ipv6)
    lab.veth(c, "eth0", r, "rc")
    lab.veth(s, "eth0", r, "rs")
    cip, sip = f"10.{net}.1.1", f"10.{net}.2.1"
    lab.addr(c, "eth0", f"{cip}/24")
    lab.addr(r, "rc", f"10.{net}.1.254/24")
    lab.addr(r, "rs", f"10.{net}.2.254/24")
    lab.addr(s, "eth0", f"{sip}/24")
    c.run(["ip", "route", "add", "default", "via", f"10.{net}.1.254"])
    s.run(["ip", "route", "add", "default", "via", f"10.{net}.2.254"])
    r.sysctl("net.ipv4.ip_forward", 1)
    if not ipv6:
        return Routed(c, r, s, cip, sip)
    p6 = prefix6 or f"fd00:{net}"
    cip6, sip6 = f"{p6}:1::1", f"{p6}:2::1"
    lab.addr(c, "eth0", f"{cip6}/64")
    lab.addr(r, "rc", f"{p6}:1::fe/64")
    lab.addr(r, "rs", f"{p6}:2::fe/64")
    lab.addr(s, "eth0", f"{sip6}/64")
    c.run(["ip", "-6", "route", "add", "default", "via", f"{p6}:1::fe"])
    s.run(["ip", "-6", "route", "add", "default", "via", f"{p6}:2::fe"])
    r.sysctl("net.ipv6.conf.all.forwarding", 1)
    return Routed(c, r, s, cip, sip, client_ip6=cip6, server_ip6=sip6)


def vanish_script(peer_ip: str) -> str:
    """nft rules that make ``peer_ip`` disappear: nothing from or to it passes (any hook)."""
    return f"""table inet vanish {{
  chain in {{
    type filter hook input priority 0;
    ip saddr {peer_ip} drop
  }}
  chain out {{
    type filter hook output priority 0;
    ip daddr {peer_ip} drop
  }}
  chain forward_path {{
    type filter hook forward priority 0;
    ip saddr {peer_ip} drop
    ip daddr {peer_ip} drop
  }}
}}
"""


def isolate_host_script() -> str:
    """nft rules that cut a host off: its TCP neither leaves nor arrives (the host 'vanished')."""
    return """table inet gone {
  chain in {
    type filter hook input priority 0;
    meta l4proto tcp drop
  }
  chain out {
    type filter hook output priority 0;
    meta l4proto tcp drop
  }
}
"""
