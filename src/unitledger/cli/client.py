"""The CLI's HTTP client: finds the server and a token, turns problems into messages.

Where the URL and token come from, first match wins: ``--url``/``--token`` flags,
``UNITLEDGER_URL``/``UNITLEDGER_TOKEN``, the TOML file named by
``UNITLEDGER_CLI_CONFIG`` (default ``~/.config/unitledger/cli.toml``, keys ``url``
and ``token``), and last the ``admin-token`` file that ``serve`` writes into its
data directory (only for a server on this machine).
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from unitledger.config import default_data_dir

__all__ = ["ApiClient", "CliError", "resolve"]

DEFAULT_URL = "http://127.0.0.1:8417"


class CliError(Exception):
    """A message for the person at the terminal, and the exit code to leave with."""

    def __init__(self, message: str, exit_code: int = 1) -> None:
        super().__init__(message)
        self.exit_code = exit_code


def _config_file() -> dict[str, Any]:
    path = Path(
        os.environ.get("UNITLEDGER_CLI_CONFIG", "~/.config/unitledger/cli.toml")
    ).expanduser()
    if not path.exists():
        return {}
    try:
        return tomllib.loads(path.read_text())
    except tomllib.TOMLDecodeError as exc:
        raise CliError(f"{path} is not valid TOML: {exc}") from None


def resolve(url: str | None, token: str | None) -> tuple[str, str | None]:
    config = _config_file()
    final_url = url or os.environ.get("UNITLEDGER_URL") or config.get("url") or DEFAULT_URL
    final_token = token or os.environ.get("UNITLEDGER_TOKEN") or config.get("token")
    if not final_token and httpx.URL(final_url).host in ("127.0.0.1", "localhost", "::1"):
        data_dir = Path(os.environ.get("UNITLEDGER_DATA_DIR", str(default_data_dir()))).expanduser()
        path = data_dir / "admin-token"
        if path.exists():
            final_token = path.read_text().strip()
    return final_url.rstrip("/"), final_token


@dataclass
class ApiClient:
    url: str
    token: str | None
    timeout: float = 30.0

    def request(self, method: str, path: str, **kwargs: Any) -> Any:
        headers = dict(kwargs.pop("headers", {}))
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        try:
            with httpx.Client(base_url=self.url, timeout=self.timeout) as client:
                response = client.request(method, "/api/v1" + path, headers=headers, **kwargs)
        except httpx.TransportError as exc:
            raise CliError(
                f"cannot reach the unitledger server at {self.url} ({exc}); is `unitledger serve` "
                "running? Set --url or UNITLEDGER_URL to point elsewhere."
            ) from None
        if response.status_code >= 400:
            raise CliError(_problem_text(response))
        if response.status_code == 204 or not response.content:
            return None
        return response.json()

    def get(self, path: str, **params: Any) -> Any:
        clean = {k: v for k, v in params.items() if v is not None}
        return self.request("GET", path, params=clean)

    def post(self, path: str, json: Any = None, content: bytes | None = None) -> Any:
        if content is not None:
            return self.request(
                "POST", path, content=content, headers={"Content-Type": "application/json"}
            )
        return self.request("POST", path, json=json)


def _problem_text(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return f"server answered {response.status_code}: {response.text[:200]}"
    detail = body.get("detail") if isinstance(body, dict) else None
    if not detail:
        return f"server answered {response.status_code}: {response.text[:200]}"
    field = body.get("field")
    hint = ""
    if response.status_code == 401:
        hint = " (pass --token, set UNITLEDGER_TOKEN, or run on the server's machine)"
    return f"{detail}{f' [field: {field}]' if field else ''}{hint}"
