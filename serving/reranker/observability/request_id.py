"""Request ids: the client's ``X-Request-ID`` when it is safe to echo and log, else a new one."""

from __future__ import annotations

import uuid

HEADER = b"x-request-id"
MAX_LENGTH = 128


def new_request_id() -> str:
    return uuid.uuid4().hex


def request_id_from(header: bytes | None) -> str:
    """The client's id if it is 1 to MAX_LENGTH visible ASCII characters (it goes into log
    lines and response headers: nothing that could split a line or a header), else a new one."""
    if header and len(header) <= MAX_LENGTH and all(0x21 <= byte <= 0x7E for byte in header):
        return header.decode("ascii")
    return new_request_id()
