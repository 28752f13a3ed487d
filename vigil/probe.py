"""`python -m vigil.probe URL`: exit 0 when URL answers 2xx, else print why and exit 1.

The container health check of every Vigil service. The slim Python image has neither curl nor
wget, and this imports only the standard library, so a probe costs a few milliseconds of CPU.
"""

from __future__ import annotations

import sys
import urllib.error
import urllib.request

TIMEOUT_S = 3.0


def probe(url: str, timeout_s: float = TIMEOUT_S) -> str | None:
    """None when `url` answers with a 2xx status, else the reason it is not healthy."""
    if not url.startswith(("http://", "https://")):
        return f"{url!r} is not an http(s) URL"
    try:
        with urllib.request.urlopen(url, timeout=timeout_s) as response:  # noqa: S310 (checked)
            status = int(response.status)
    except urllib.error.HTTPError as exc:
        body = exc.read(500).decode("utf-8", "replace")
        return f"{url} answered {exc.code}: {body}"
    except (urllib.error.URLError, OSError) as exc:
        return f"{url} unreachable: {getattr(exc, 'reason', exc)}"
    return None if 200 <= status < 300 else f"{url} answered {status}"


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print("usage: python -m vigil.probe URL", file=sys.stderr)
        return 2
    why = probe(argv[0])
    if why is not None:
        print(why, file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
