"""The raw HTTP client of the closed-loop load generator: requests serialized once, answers read
as bytes."""

from __future__ import annotations

import asyncio
import json

from benchmarks import loadgen


def _read(raw: bytes) -> tuple[int, bytes]:
    async def read():
        reader = asyncio.StreamReader()
        reader.feed_data(raw)
        reader.feed_eof()
        return await loadgen._read_response(reader)

    return asyncio.run(read())


def test_the_load_generator_reads_sized_and_chunked_answers():
    assert _read(b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\nContent-Length: 2\r\n\r\n{}") == (200, b"{}")
    chunked = b"HTTP/1.1 429 Too Many Requests\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n"
    assert _read(chunked) == (429, b"abcde")


def test_a_request_is_serialized_once_with_its_length():
    request = loadgen.post_request("http://127.0.0.1:9/x", "/v1/rerank", {"query": "q", "documents": ["a", "b"]})
    head, _, body = request.wire.partition(b"\r\n\r\n")
    assert head.startswith(b"POST /v1/rerank HTTP/1.1\r\nHost: 127.0.0.1:9\r\n")
    assert f"Content-Length: {len(body)}".encode() in head
    assert json.loads(body) == {"query": "q", "documents": ["a", "b"]} and request.documents == 2
