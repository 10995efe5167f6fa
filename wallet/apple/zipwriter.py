"""A .pkpass zip written directly: the files every pass of a store shares (images,
strings) are laid out once, at the front, and each pass appends its own three
(pass.json, manifest.json, signature) and the central directory.

Why not `zipfile`: a campaign re-issues passes by the hundred thousand, and zipfile's
per-entry Python bookkeeping cost more than signing the pass (bench/bench_wallet.py).
The format written is the plain one every reader takes (PKWARE APPNOTE 4.3): entries
stored, or deflated (raw DEFLATE, no data descriptor), no ZIP64, no extras.
"""

from __future__ import annotations

import functools
import struct
import zlib
from collections.abc import Iterable

_LOCAL = struct.Struct("<IHHHHHIIIHH")
_CENTRAL = struct.Struct("<IHHHHHHIIIHHHHHII")
_END = struct.Struct("<IHHHHIIH")
_VERSION = 20  # 2.0: deflate, the oldest a reader must know
_STORED, _DEFLATED = 0, 8
# 2020-01-01 00:00:00 in MS-DOS time and date: the same content gives the same bytes.
_DOS_TIME, _DOS_DATE = 0, ((2020 - 1980) << 9) | (1 << 5) | 1


def pkpass_zip(
    shared: tuple[tuple[str, bytes], ...], own: Iterable[tuple[str, bytes, bool]]
) -> bytes:
    """The archive: `shared` (name, data) stored first, then `own` (name, data, deflate)."""
    prefix, central, count = _shared_part(shared)
    out = [prefix]
    offset = len(prefix)
    records = [central]
    for name, data, deflate in own:
        local, record = _entry(name.encode(), data, deflate, offset)
        out.append(local)
        records.append(record)
        offset += len(local)
        count += 1
    directory = b"".join(records)
    end = _END.pack(0x06054B50, 0, 0, count, count, len(directory), offset, 0)
    return b"".join((*out, directory, end))


@functools.lru_cache(maxsize=16)
def _shared_part(shared: tuple[tuple[str, bytes], ...]) -> tuple[bytes, bytes, int]:
    parts, records, offset = [], [], 0
    for name, data in shared:
        local, record = _entry(name.encode(), data, False, offset)
        parts.append(local)
        records.append(record)
        offset += len(local)
    return b"".join(parts), b"".join(records), len(shared)


def _entry(name: bytes, data: bytes, deflate: bool, offset: int) -> tuple[bytes, bytes]:
    crc = zlib.crc32(data)
    if deflate:
        packer = zlib.compressobj(6, zlib.DEFLATED, -15)  # raw DEFLATE, as zip wants
        body = packer.compress(data) + packer.flush()
        method = _DEFLATED
    else:
        body, method = data, _STORED
    # Bit 11: the names are UTF-8.
    flags = 0x800 if any(b > 127 for b in name) else 0
    local = _LOCAL.pack(
        0x04034B50, _VERSION, flags, method, _DOS_TIME, _DOS_DATE, crc, len(body), len(data),
        len(name), 0,
    )  # fmt: skip
    record = _CENTRAL.pack(
        0x02014B50, _VERSION, _VERSION, flags, method, _DOS_TIME, _DOS_DATE, crc, len(body),
        len(data), len(name), 0, 0, 0, 0, 0, offset,
    )  # fmt: skip
    return local + name + body, record + name
