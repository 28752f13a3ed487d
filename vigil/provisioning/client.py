"""The console API as the CLI sees it: JSON in and out, errors turned into one readable line."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any

import httpx

from vigil.errors import VigilError
from vigil.provisioning.credentials import Credentials

DEFAULT_TIMEOUT_S = 30.0


class ApiError(VigilError):
    """The console refused a request, or could not be reached. `status` is 0 for the latter."""

    def __init__(self, status: int, message: str, detail: Any = None) -> None:
        super().__init__(message)
        self.status = status
        self.detail = detail


def describe(detail: Any) -> str:
    """FastAPI's `detail`: a sentence, or a list of field errors (`loc`, `msg`)."""
    if isinstance(detail, str):
        return detail
    if isinstance(detail, list):
        parts = []
        for item in detail:
            if isinstance(item, dict):
                loc = [str(p) for p in item.get("loc", []) if p not in ("body", "query", "path")]
                where = ".".join(loc)
                parts.append(f"{where}: {item.get('msg', item)}" if where else str(item.get("msg")))
            else:
                parts.append(str(item))
        return "; ".join(parts)
    if isinstance(detail, dict) and "message" in detail:
        return str(detail["message"])
    return json.dumps(detail, ensure_ascii=False)


def _error(response: httpx.Response) -> ApiError:
    try:
        body = response.json()
    except ValueError:
        body = None
    detail = body.get("detail") if isinstance(body, dict) else None
    text = describe(detail) if detail is not None else (response.text.strip() or "no detail")
    if response.status_code == 401:
        text = f"{text} (run `vigil login` again)"
    return ApiError(response.status_code, f"{response.status_code}: {text}", detail)


class ApiClient:
    """A session with the console: the token goes as a bearer header on every request."""

    def __init__(
        self, url: str, token: str | None = None, timeout_s: float = DEFAULT_TIMEOUT_S
    ) -> None:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        self.url = url.rstrip("/")
        self._http = httpx.Client(base_url=self.url, headers=headers, timeout=timeout_s)

    @classmethod
    def signed_in(cls, creds: Credentials) -> ApiClient:
        return cls(creds.url, creds.token)

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> ApiClient:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def request(self, method: str, path: str, **kwargs: Any) -> Any:
        try:
            response = self._http.request(method, path, **kwargs)
        except httpx.TimeoutException as exc:
            raise ApiError(0, f"the console at {self.url} did not answer in time") from exc
        except httpx.HTTPError as exc:
            raise ApiError(0, f"cannot reach the console at {self.url}: {exc}") from exc
        if response.status_code >= 400:
            raise _error(response)
        if response.status_code == 204 or not response.content:
            return None
        return response.json()

    def get(self, path: str, **params: Any) -> Any:
        clean = {k: v for k, v in params.items() if v is not None}
        return self.request("GET", path, params=clean)

    def post(self, path: str, body: Any = None, **kwargs: Any) -> Any:
        return self.request("POST", path, json=body, **kwargs)

    def patch(self, path: str, body: Any) -> Any:
        return self.request("PATCH", path, json=body)

    def delete(self, path: str) -> Any:
        return self.request("DELETE", path)

    def upload(
        self, path: str, payload: bytes, progress: Callable[[int], None], chunk: int = 64 * 1024
    ) -> Any:
        """POST a JSON body in chunks, calling `progress(bytes_sent)` as it goes."""

        def body() -> Iterator[bytes]:
            for start in range(0, len(payload), chunk):
                piece = payload[start : start + chunk]
                yield piece
                progress(len(piece))

        headers = {"Content-Type": "application/json", "Content-Length": str(len(payload))}
        return self.request("POST", path, content=body(), headers=headers, timeout=None)

    def stream_lines(self, path: str, body: Any, timeout_s: float) -> Iterator[dict[str, Any]]:
        """POST, then yield each line of an NDJSON answer as it arrives."""
        try:
            with self._http.stream(
                "POST", path, json=body, timeout=httpx.Timeout(10.0, read=timeout_s)
            ) as response:
                if response.status_code >= 400:
                    response.read()
                    raise _error(response)
                for line in response.iter_lines():
                    if line.strip():
                        yield json.loads(line)
        except httpx.TimeoutException as exc:
            raise ApiError(0, f"the console at {self.url} stopped answering") from exc
        except httpx.HTTPError as exc:
            raise ApiError(0, f"cannot reach the console at {self.url}: {exc}") from exc
