"""Optional API key: ``Authorization: Bearer <key>`` on every route but the health probes.

vLLM's ``--api-key`` convention, which every rerank client library sends (Cohere, Jina, TEI,
Infinity and NVIDIA clients all put their key in a bearer header). Several keys may be valid at
once so that a key can be rotated without downtime. Probes stay open: the kubelet sends no key.
"""

from __future__ import annotations

import hmac
import re

from starlette.types import ASGIApp, Receive, Scope, Send

from .errors import error_response

# KServe's probe and model-status routes (the kubelet and KServe's own checks call these).
_OPEN_PATHS = re.compile(r"^/v2/health/(live|ready)$|^/v1/models/[^/]+$|^/v2/models/[^/]+/ready$")


class APIKeyAuth:
    def __init__(self, app: ASGIApp, keys: list[str], protect_metrics: bool):
        self.app = app
        self.keys = [key.encode() for key in keys]
        self.protect_metrics = protect_metrics

    def _open(self, path: str) -> bool:
        return bool(_OPEN_PATHS.match(path)) or (path == "/metrics" and not self.protect_metrics)

    def _valid(self, header: bytes | None) -> bool:
        scheme, _, token = (header or b"").partition(b" ")
        if scheme.lower() != b"bearer":
            return False
        token = token.strip()
        # Compare with every key in constant time, so timing tells nothing about a key.
        return any([hmac.compare_digest(token, key) for key in self.keys])

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or self._open(scope["path"]):
            await self.app(scope, receive, send)
            return
        header = dict(scope["headers"]).get(b"authorization")
        if not self._valid(header):
            message = "missing API key: send 'Authorization: Bearer <key>'" if header is None else "invalid API key"
            response = error_response(401, message, headers={"www-authenticate": "Bearer"})
            await response(scope, receive, send)
            return
        await self.app(scope, receive, send)
