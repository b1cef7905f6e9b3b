"""802.1Q-tagged frames from real kernels: decoded, Wireshark's tcp.stream ids, right fates.

This kernel has no 8021q module, so the trunk is a user-space relay between taps: real
Linux TCP in two namespaces (client 10.248.10.1, server 10.248.x.2: ports 8080 answered and
closed by the client, 8081 refused, 8082 aborted by the server with SO_LINGER 0, 8083
closed by the server), every frame copied with its 802.1Q tag to a mirror tap whose
``tcpdump -i ... -s 96`` wrote these captures (the kernel's packet socket hands the tag over
out of band, libpcap puts it back in the frame), gzipped and base64-encoded below:

- ``VLAN``: one VLAN (10) on the trunk, among the mirror namespace's own untagged IPv6
  frames;
- ``STICK``: a router on a stick, the client on VLAN 10 and the server on VLAN 20, a real
  forwarding namespace between them: every packet twice on the trunk, once per VLAN, the
  second one hop lower (TTL 63).

The expected ids, first frames and labels are tshark 4.0.17's (``tshark -T fields -e
frame.number -e tcp.stream``): its tcp.stream keys on addresses and ports, not the VLAN, so
the two VLANs' sightings of a packet share one stream.
"""

from __future__ import annotations

import base64
from pathlib import Path

import pytest

import pcapline

VLAN = (
    "H4sIAAAAAAACA72Xb0xTVxjGTy9trW1ZKjAomKy4NYhInFCyLAXTBkSZmcgHwyYdZDOAOqkZ4JQMXZAF5hiJQBud"
    "6LTbsi1ZHCPiZGTObBIXYP5Z3fZhQU3MDBnELMvGElxYu/c9t7e9f3vBD9zkkvZwz+95nve8nHv4efT8BwzREu56"
    "GW4N3L8zaXubHxhIDXzG2+GAH6n6Ntchd/sRQoydd/BJYqcPC64wI/ia6iQ6BpnHyLpuhGuFz2jCQES1hmqTSO3u"
    "eK9W53tUtT1/y6oBEdVWzJhIFQxUUTX0IMmW6QzHUaO+3ya7W/FLqI0d1La5wiEYf0yz8Wbt9yd6UOl4vZmnhB6L"
    "DYWeQP2jZLoxJpsJaNOg9NRu7QIqyHm9Pd4bDsFvldUeWpQqiGoFoLYFBrZwaoxEzeIMq6gxHcS/l2I17Gwkv/W8"
    "fglzNNUtU1kfTsltKAyH4DfKSl8ejrc+b4DSJhjYFK2YQIlXLQUlqFZJP1stdiZSS/KMZB2M4R2mV6yTDXqiMRC9"
    "lmjYMeOcMdJt8InB2dW82ewzsVpHZ0dWFufEODj7dZhdDjPxZp/haZNSQoq819zErf/wP5yB8wPZtp6zAxW16CHA"
    "/PtnYwnE0uouaBmD0XdpXzlNl5BgRPo7PLrEG6VDpYBumUAyKth6AtnNrlWFoFAXSAodHfk2Rs9gdNWowNFPAp1b"
    "DVnvBd7rSP9IK/JeBwpFbRbimgriSlDflUhH6g9A3QrErUrUQu8NWpF5WaqVuJIqhNTNpdszn06kloM8y7IFKZg2"
    "IHz1uKggRSDQAJbdU+MsPFKMSqQ+5zDSbf8PnTxVd3t6OVKfzFSi5nqF1BbFC/W2O1QLf5MWnhGVqKHZlXUf9Irv"
    "2aSF36GewkhT2IQpsu5zKbKuLiZFjXqKH2kKjTRFbjfolU7ul6aojaQYUFrh09MmusI1whS53TSFlbh39i4mxavq"
    "KYI0BZFJMUtTmKUpPlGn3qJ/BGFZ6gqgmqTU0EbV7jfT2lwV1WYWyF6guieN0drs5LrfXKrq9SfqNSTy6gXyP7QC"
    "JOrVg2SkVsypbYzbLiP1O1OUusbWOxXsOc9tjL90xLauc7/uaeVvjI0PjcQJ351KlciObIx3o5XoDaxBAigMVaSA"
    "rzOEIMlx2aTis3MMSV2xLs6x9dmH7lzhfHa8H/P53mDxSb7PfTz6AjfwvkDOkXcrN4PCKG7g7bMx+nDSaxmowNHb"
    "gR5/5TrHqXeDyPsoKJThBj4Y6V2g9iMdqV1Ajb+Bd05QKpGlwgY+2SWk8jbwYzzL8i188QzCqxyigpSBwARuUoMJ"
    "LBzAK1EAqcuvq1LPUmq+LDWFuL+Yj1Kf4Kg5z5oXcPoXn3yVz0bnFE//qLYB1ISnSYka73ykoAbno6Y89nzEzqYt"
    "3mdWaXH741idBxeiC7rW5vMefcbHtXj9QKwJjx++kixocR59gS3uC6zNT1t2EBT82OLOuhj90OqmGVTg6P1Aj9/i"
    "9lTq/WuRdz8otGCL73qTXVmkIh2pHwM1fovb0yh1SJYKLd43L6TyWvwznmX5ZrRWInyuVVSQFhA4hS2+6wAL54qB"
    "1DmfWeXtbn0BqX/dUqJ+ni6kxn8vhnyqhbfSEo2ISnQqPy0xE88or1yTFl7vV03xIk0RFKZIzORSfNq4mBQmv2qK"
    "dJriK2mKpDF8t720SpoiJZJC+Yxi3UFX2CJMkTRGU8AZ5bcNi0mRrp4ig6YYlqZIXo8pPCPSFIV+1T6toikOClMk"
    "r6cp4DTh+Ubap2XqXldSrxdlvObhycczLPVaru7VQ70eEHnNA/Jp7BvPJaHXGdzg7zFL8I8vKu3flrBEr5L/AbaY"
    "Hk7PEgAA"
)

STICK = (
    "H4sIAAAAAAACA72Ze0xTVxzHTwstrFBeNsIfGxCHUHEToiDINssQdDNR92YDdD42k0XUzWULj5npFsRN4gOcEXGD"
    "CTLE5xBndIIPQlCimTNsMVOcydwjm9FtmEXUtPv9zu1tT+89l8NtCE3alNuez/f3/Z5zfpwLfV1tXxpJIJEfC+Fp"
    "gOfDAdHLllQEkQJ4j88pU1zLr09yljbC61pCbOv68ZskPstFFA+X0fPWgGMqScdl/MG5Rrr4oLTR5YTrYYaBg29F"
    "DFxCpaB3LazSt8m5G4uOw6sOJfh2JflsFatUVXTc5YTrYQZ71K6qVV+j0tj5IYwSvIxdnNsfba9xqyRQ81oq+Bib"
    "RUxGzGgTmXkdlQOVlQDtEVD6c7GJLIALCzxKKxJjO17sA08Wr5pca3FirMsJn2qrTT/FVYMxqBa8xERmw4XZsppR"
    "pRaR5RKoGStIRyfFGqTRSD53zSRITKYuzO13OeETbQ+/rBwqsUugNBMuzPR48FFi6tdQgvoPzpPql0Yi9Y/8IMU8"
    "tKXbb4R/wJ+HQ+l2lxM+1fZQOobrAcagWsCrQYp5UKkxPjTUwEerUfIhjUZyQZ/Sh2o3Mj7kXabtIzKf6wPGoNr7"
    "fUofKjXGh4Ya+Cg3SD6k0Uheftqi8KHa64wPeQ9r+/hhP9cHjEG1KlDz9aFSY3xoqIGP7e9JPqTRSJ4+PoRMgmv4"
    "dNGHd8cFm4khmJgDiXsfWe5a3H0F3jlxdCEzWvqOd514RrvXDo7xcmiGMHoujMSn9B1Gm+QR8mRPSDbJNjs6cYTl"
    "rs3YYI/bvOFiUAbW0GC89/ftXrAVaGoPNAZbVv60tJ26CwiwIL1M5cybmdeZdA3YTtmZzYij1zKjpe94V47XmXQN"
    "x3g5OHob40z6DqPtceYwZ/vlbCdDV9VG6YRgbuZeJKNC3OYGu63i8AZQyGyIcq7f9pCX3lz4+15UkOlnGbpqTj10"
    "hznIL/r3QJe7I3fO03pC6Zx3K5LJBIWqNRHE0TUOV7CUCtKR+itD5eZNqZC3LuqaxBAyB4hztGp9osdKa+3gUmOI"
    "41a9h3oEqbPyXopPsdIgPmHg3JIpHEr2B74x0ZsHd4WkkV10haQq5rAKBByQR3ZXjAQH8D4UQOpWhspdGZQKK0MX"
    "tQeo2MFumfi1mq6SRqyVVGpRg0/4Uks0H/Q3KaPHcyHpOcyGEdL7R+yvifpb56t3LE3WC7Dp0RtMFO6wMLpquxQL"
    "y4GaoJfTscJnYe1DamiSMLUmmtoIuYhy6x3QWsE7yW50Yer21eu8SvViSPb063r0opOEqYXT1M6oU+u8Cv7yjnap"
    "U0tmXHB3DHXhMJtHyEVqkrAPhtGmomvu08XZRNBsTqupJ3NpNoVqaqa41nBaq67EnxZTIyhVV62viBOIpAmc4lIj"
    "gVqgpr4urjWS1qqLak8R9v5m2vsf811zJ3OBnA3U7KNFnjV3QO7Sz6QIe38z7f26qHNThLlG0VxPKhLIBnIena2X"
    "PQkcRTJS81OEuUbRXHVRX7spOq0umoS17q7zUCfEbUn+JuWsfKbL/8h7LjpfcCWAPdOtvyk6MSLdYW72i14N9Cz4"
    "OUtrTdjdJ8Zrntnb0jABCaBw7jno3IuaCEFSM0PirgO7+3QoJJ3ICB2lO/KKtlDBzNlq0f2/qZ5sk+OqV5WOK5Kz"
    "vdHhzTYw50olm+0xhs6fOaQ7zAN+0XsY+jDP+tUNySXj530BCvPxNO6o89KPGeMPo4JMv8vQh3nW10E3Hg4V7G7b"
    "Dpp7hiKZ+aBQj6fy4nZpHyIV6UgNAurQp3JbHaWmcKlwcN4+2ZfKHJxjmJL5rQNLhsnUVXI8UzL/rI8lA9WfkhOY"
    "kvn9/vZ5zCPapJjDehB4A09mxfskuDx/9CTBUPn9HqkOc4wu6n/iWi/QWgO5VBtQW9RUp7jWC7RWXdSoUquga1jp"
    "CXQwwTNpE+NqPvxx/xZ5X6++7N0bL7xd2Mru6xyGzu8aVnoyvOcXfS5DH2bXqGmY2FbSnQMK1bivKzO99NjeondQ"
    "QaaXMPRhdg0d9NVAH7prWOn5ZXCiIplqUJiBW7D9eWk2kYp0pH4M1KG7hvUrSn2US4Ut+PN3vlRmC1YzJfO7hpUe"
    "ju7pKnkHUzK/a2DJQPWn5HqmZP5OrEvDPJZ9rpjDGSBQi/u7/VkJLs8fUpsYKn8nItVhLtZF3VpmFdxB16VjrW/e"
    "0aIO3vSlDn0X1cjo8e91Uc9hXjpCeq1if1OpvwFfvd6/ZL07uXr0DpUJd1gL3QsTFAurFjXxLvFAvXq5HhGnNpWm"
    "NkIujrv1tP9CUJdBV/BkX72L1AneW6dG6tHrFKe2h6ZmV6d2sQbvKlruqFM7w7jg/4UAXcCOGSEX3WXCVtVCm4qu"
    "ue8VZ9NKs0niZHOfZlOlpl4Q17qH1qor8Utiaiul6qqVlAv7aSZdjbWKebxP5xHuj1s2qztfQrmwn2bS1aGL+ni5"
    "cLb20tlK5CTwAP/u0PKpOoHMcmGue2muuqhPiXOdRnPdrkjgAZB3YFdp2aROIFec6zSaqy7qrMTwUfpfeSyo/dZP"
    "Ruk/wqg2ZoZplP5v+z9tTpidzCEAAA=="
)

#: Per connection (tcp.stream id): its first frame (tshark), fate, closer, reset_by.
EXPECTED = {
    "vlan": {
        0: (12, "closed", "client", None),
        1: (26, "refused", None, "server"),
        2: (28, "reset", None, "server"),
        3: (36, "closed", "server", None),
    },
    "stick": {
        0: (16, "closed", "client", None),
        1: (46, "refused", None, "server"),
        2: (51, "reset", None, "server"),
        3: (63, "closed", "server", None),
    },
}


@pytest.mark.parametrize(
    ("name", "blob"), [("vlan", VLAN), ("stick", STICK)], ids=["vlan", "stick"]
)
def test_vlan_tagged_frames_decode_with_wiresharks_stream_ids(
    name: str, blob: tuple[str, ...], tmp_path: Path
) -> None:
    path = tmp_path / f"{name}.pcap.gz"
    path.write_bytes(base64.b64decode("".join(blob)))
    report = pcapline.analyze(path).to_dict()
    got = {
        c["id"]: (c["first_frame"], c["fate"], c["closer"], c["reset_by"])
        for c in report["connections"]
    }
    assert got == EXPECTED[name]
    assert all(c["confidence"] == "proven" for c in report["connections"])
    tcp = 36 if name == "vlan" else 72
    assert report["capture"]["tcp_frames"] == tcp  # every tagged TCP frame decoded
    twice = report["capture"]["quality"]["captured_twice"]
    assert twice == (0 if name == "vlan" else 36)  # each VLAN's sighting: a copy, counted once
    if name == "stick":
        assert report["capture"]["quality"]["two_point_connections"] == 4
        assert {c["counts"]["retransmits"] for c in report["connections"]} == {0}
