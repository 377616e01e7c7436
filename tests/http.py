"""httpx's module functions, signed in as the administrator of whichever live server is called.

LiveServer registers its base URL and admin token here, so a test can keep writing
`http.get(f"{server.url}/api/...")`.
"""

import httpx

TOKENS: dict[str, str] = {}


def _headers(url: str, headers: dict | None) -> dict:
    merged = dict(headers or {})
    for base, token in TOKENS.items():
        if str(url).startswith(base + "/"):
            merged.setdefault("Authorization", f"Bearer {token}")
    return merged


def request(method: str, url: str, headers: dict | None = None, **kwargs) -> httpx.Response:
    """httpx.request with the live server's admin token."""
    return httpx.request(method, url, headers=_headers(url, headers), **kwargs)


def get(url: str, **kwargs) -> httpx.Response:
    """GET as the live server's administrator."""
    return request("GET", url, **kwargs)


def post(url: str, **kwargs) -> httpx.Response:
    """POST as the live server's administrator."""
    return request("POST", url, **kwargs)


def put(url: str, **kwargs) -> httpx.Response:
    """PUT as the live server's administrator."""
    return request("PUT", url, **kwargs)


def patch(url: str, **kwargs) -> httpx.Response:
    """PATCH as the live server's administrator."""
    return request("PATCH", url, **kwargs)


def delete(url: str, **kwargs) -> httpx.Response:
    """DELETE as the live server's administrator."""
    return request("DELETE", url, **kwargs)
