"""A tiny scriptable DHCP server for tests, written from RFC 2131 with struct (no scapy, and not
sharing code with the client under test). It answers on port 67 of one interface and can send
malformed and foreign replies, NAK renewals, or stay silent. Each packet it receives or sends is
logged to stdout as one line: "<monotonic time> <verb> <detail>".

    python rawdhcp.py IFACE SCENARIO    (SCENARIO: hostile | nak | silent)
"""

from __future__ import annotations

import os
import socket
import struct
import sys
import time

SERVER = "10.77.0.1"
COOKIE = b"\x63\x82\x53\x63"
DISCOVER, OFFER, REQUEST, ACK, NAK = 1, 2, 3, 5, 6


def log(verb: str, detail: str) -> None:
    print(f"{time.monotonic():.3f} {verb} {detail}", flush=True)


def options(**values: bytes) -> bytes:
    codes = {"type": 53, "server": 54, "lease": 51, "mask": 1, "router": 3, "dns": 6, "t1": 58}
    out = b"".join(bytes([codes[k], len(v)]) + v for k, v in values.items())
    return COOKIE + out + b"\xff"


def reply(xid: bytes, chaddr: bytes, yiaddr: str, opts: bytes, op: int = 2) -> bytes:
    header = struct.pack("!BBBB4sHH4s4s4s4s16s64s128s", op, 1, 6, 0, xid, 0, 0x8000, bytes(4),
                         socket.inet_aton(yiaddr), socket.inet_aton(SERVER), bytes(4),
                         chaddr.ljust(16, b"\0"), bytes(64), bytes(128))
    return header + opts


def lease_options(kind: int, lease: int = 100) -> bytes:
    return options(type=bytes([kind]), server=socket.inet_aton(SERVER), lease=struct.pack("!I", lease),
                   t1=struct.pack("!I", lease // 2), mask=socket.inet_aton("255.255.255.0"),
                   router=socket.inet_aton(SERVER), dns=socket.inet_aton("10.77.0.53"))


def parse(packet: bytes) -> tuple[bytes, bytes, int, bool]:
    """xid, chaddr, message type, and whether ciaddr is set (a renewal)."""
    xid, ciaddr, chaddr = packet[4:8], packet[12:16], packet[28:34]
    kind, i = 0, 240
    while i < len(packet) and packet[i] != 255:
        if packet[i] == 0:
            i += 1
            continue
        if packet[i] == 53:
            kind = packet[i + 2]
        i += 2 + packet[i + 1]
    return xid, chaddr, kind, ciaddr != bytes(4)


def hostile_replies(xid: bytes, chaddr: bytes) -> list[tuple[str, bytes]]:
    foreign_xid = bytes(b ^ 0xFF for b in xid)
    foreign_mac = bytes([0x02, 0xBA, 0xD0, 0xBA, 0xD0, 0x01])
    good = lease_options(OFFER)
    return [
        ("truncated", reply(xid, chaddr, "10.77.0.66", good)[:10]),
        ("garbage", b"\x02" + os.urandom(299)),
        ("foreign-xid", reply(foreign_xid, chaddr, "10.77.0.66", good)),
        ("foreign-chaddr", reply(xid, foreign_mac, "10.77.0.66", good)),
        ("no-message-type", reply(xid, chaddr, "10.77.0.66", options(server=socket.inet_aton(SERVER)))),
        ("unknown-message-type", reply(xid, chaddr, "10.77.0.66", options(type=b"\x63"))),
        ("bootrequest", reply(xid, chaddr, "10.77.0.66", good, op=1)),
        ("bad-option-length", reply(xid, chaddr, "10.77.0.66", COOKIE + b"\x35\x40\x02")),
    ]


def main(iface: str, scenario: str) -> None:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_BROADCAST, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_BINDTODEVICE, iface.encode())
    sock.bind(("0.0.0.0", 67))
    log("ready", scenario)
    address = "10.77.0.77"
    naked = False
    while True:
        packet = sock.recv(4096)
        xid, chaddr, kind, renewing = parse(packet)
        log("recv", f"type={kind} renewing={renewing} xid={xid.hex()}")
        if scenario == "silent":
            continue
        send: list[tuple[str, bytes]] = []
        if kind == DISCOVER:
            if scenario == "hostile":
                send += hostile_replies(xid, chaddr)
            send.append((f"offer {address}", reply(xid, chaddr, address, lease_options(OFFER))))
        elif kind == REQUEST and renewing and scenario == "nak" and not naked:
            naked, address = True, "10.77.0.88"
            send.append(("nak", reply(xid, chaddr, "0.0.0.0", options(type=bytes([NAK]),
                                                                       server=socket.inet_aton(SERVER)))))
        elif kind == REQUEST:
            send.append((f"ack {address}", reply(xid, chaddr, address, lease_options(ACK))))
        for name, data in send:
            sock.sendto(data, ("255.255.255.255", 68))
            log("sent", name)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
