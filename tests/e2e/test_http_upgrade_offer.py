"""Requests that offer an HTTP/2 upgrade (every stock JDK ``HttpClient``) keep their body."""

from __future__ import annotations

import json
import socket

import pytest

from support import ServerProcess

BODY = json.dumps({"extension_id": "java-client", "dimensions": {"rows": -1}}).encode()


def raw_post(server: ServerProcess, framing: bytes, payload: bytes) -> dict[str, object]:
    """POST /api/v1/usage over a plain socket with the JDK's ``Upgrade: h2c`` offer."""
    request = (
        b"POST /api/v1/usage HTTP/1.1\r\n"
        b"Host: 127.0.0.1\r\n"
        b"Connection: Upgrade, HTTP2-Settings\r\n"
        b"Upgrade: h2c\r\n"
        b"HTTP2-Settings: AAEAAEAAAAIAAAABAAMAAABkAAQBAAAAAAUAAEAA\r\n"
        b"Authorization: Bearer " + server.admin_token.encode() + b"\r\n"
        b"Content-Type: application/json\r\n" + framing + b"\r\n" + payload
    )
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
        sock.sendall(request)
        received = b""
        while b"\r\n\r\n" not in received or not received.rstrip().endswith(b"}"):
            chunk = sock.recv(65536)
            if not chunk:
                break
            received += chunk
    head, _, body = received.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 400"), head
    parsed: dict[str, object] = json.loads(body)
    return parsed


@pytest.mark.parametrize(
    ("framing", "payload"),
    [
        (b"Content-Length: %d\r\n" % len(BODY), BODY),
        (b"Transfer-Encoding: chunked\r\n", b"%x\r\n%s\r\n0\r\n\r\n" % (len(BODY), BODY)),
    ],
    ids=["content-length", "chunked"],
)
def test_body_of_a_request_offering_h2c_upgrade_is_read_as_http_1_1(
    server: ServerProcess, framing: bytes, payload: bytes
) -> None:
    problem = raw_post(server, framing, payload)
    # The body arrived: the server judged the report, not an empty body.
    assert problem["field"] == "dimensions.rows"
    assert (
        problem["detail"] == "dimensions.rows is negative (-1); values are non-negative increments"
    )
