"""Clients of the gateway's backends: OpenAI-compatible servers (a vLLM server, a hosted API, or the
Ray Serve LLM app of the cluster), called over HTTP with httpx.

A backend that cannot answer (connection refused or reset, no first token within its timeout, 429
or a 5xx) raises `BackendDown`, and the gateway sends the request to the next model. Any other
error status is the request's fault, raised as `BackendRefused` and handed to the client as is.
A stream is opened up to its first chunk before it is handed on, so that a backend which fails
before its first token can still be replaced."""

from __future__ import annotations

import json
import os
from collections.abc import AsyncIterator
from dataclasses import dataclass

import httpx

FAILOVER_STATUSES = frozenset({408, 429, 500, 502, 503, 504})


class BackendDown(Exception):
    """The backend could not answer now; another model may."""

    def __init__(self, model_id: str, reason: str, *, retry_after: float | None = None) -> None:
        super().__init__(f"{model_id}: {reason}")
        self.model_id, self.reason, self.retry_after = model_id, reason, retry_after


class BackendRefused(Exception):
    """The backend answered the request with a client error (4xx): its status and body go back as they are."""

    def __init__(self, status: int, body: bytes, content_type: str) -> None:
        super().__init__(f"backend answered {status}")
        self.status, self.body, self.content_type = status, body, content_type


@dataclass
class Usage:
    prompt_tokens: int = 0
    completion_tokens: int = 0


def usage_of(payload: dict) -> Usage | None:
    usage = payload.get("usage")
    if not isinstance(usage, dict):
        return None
    return Usage(int(usage.get("prompt_tokens") or 0), int(usage.get("completion_tokens") or 0))


def stream_usage(chunk: bytes) -> Usage | None:
    """The usage a streamed chunk reports (the last event, when the client asked for include_usage)."""
    if b'"usage"' not in chunk:
        return None
    for line in chunk.splitlines():
        if line.startswith(b"data: {"):
            try:
                found = usage_of(json.loads(line[6:]))
            except ValueError:
                continue
            if found is not None:
                return found
    return None


def _retry_after(response: httpx.Response) -> float | None:
    try:
        return float(response.headers["retry-after"])
    except (KeyError, ValueError):
        return None


class OpenAIBackend:
    """One model behind an OpenAI-compatible API root (`base_url`, e.g. http://host:8000/v1)."""

    def __init__(self, *, model_id: str, base_url: str, served_name: str, api_key_env: str | None,
                 timeout_s: float) -> None:
        self.model_id, self.served_name, self.base_url = model_id, served_name, base_url
        key = os.environ.get(api_key_env) if api_key_env else None
        headers = {"authorization": f"Bearer {key}"} if key else {}
        self.client = httpx.AsyncClient(base_url=base_url.rstrip("/"), headers=headers,
                                        timeout=httpx.Timeout(timeout_s, connect=min(timeout_s, 5.0)),
                                        limits=httpx.Limits(max_connections=256, max_keepalive_connections=64))

    def _body(self, body: dict) -> dict:
        return body | {"model": self.served_name}

    async def _checked(self, response: httpx.Response) -> None:
        """Raise for a status that is not 200: BackendDown when another model may answer, else BackendRefused."""
        if response.status_code == 200:
            return
        content = await response.aread()
        await response.aclose()
        if response.status_code in FAILOVER_STATUSES or response.status_code >= 500:
            raise BackendDown(self.model_id, f"answered {response.status_code}", retry_after=_retry_after(response))
        raise BackendRefused(response.status_code, content, response.headers.get("content-type", "application/json"))

    async def complete(self, path: str, body: dict) -> dict:
        """The backend's JSON answer to a non-streamed request."""
        try:
            response = await self.client.send(self.client.build_request("POST", path, json=self._body(body)),
                                              stream=True)
            await self._checked(response)
            content = await response.aread()
        except httpx.TransportError as exc:  # refused, reset, timed out
            raise BackendDown(self.model_id, f"{type(exc).__name__}: {exc}".rstrip(": ")) from None
        try:
            return json.loads(content)
        except ValueError:
            raise BackendDown(self.model_id, "answered 200 with a body that is not JSON") from None

    async def stream(self, path: str, body: dict) -> AsyncIterator[bytes]:
        """The backend's server-sent events, opened up to the first chunk (failures before it raise)."""
        try:
            response = await self.client.send(self.client.build_request("POST", path, json=self._body(body)),
                                              stream=True)
            await self._checked(response)
            chunks = response.aiter_bytes()
            first = await anext(chunks, b"")
        except httpx.TransportError as exc:
            raise BackendDown(self.model_id, f"{type(exc).__name__}: {exc}".rstrip(": ")) from None
        if not first:
            await response.aclose()
            raise BackendDown(self.model_id, "closed the stream before its first chunk")
        return self._rest(response, first, chunks)

    @staticmethod
    async def _rest(response: httpx.Response, first: bytes, chunks: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
        try:
            yield first
            async for chunk in chunks:
                yield chunk
        finally:
            await response.aclose()

    async def close(self) -> None:
        await self.client.aclose()
