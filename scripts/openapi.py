#!/usr/bin/env python3
"""Write the HTTP API's OpenAPI document to web/openapi.json, or check that it is current.

The dashboard's API client is generated from that file (``npm run generate`` in web/),
so it must match what the server serves. Usage:

    .venv/bin/python scripts/openapi.py           # rewrite web/openapi.json
    .venv/bin/python scripts/openapi.py --check   # exit 1 when it is stale
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path
from typing import Any

from unitledger.adapters.http.app import create_app
from unitledger.bootstrap import build_service
from unitledger.config import Settings

TARGET = Path(__file__).resolve().parents[1] / "web" / "openapi.json"


def current_document() -> dict[str, Any]:
    """The OpenAPI document of an app built the way ``unitledger serve`` builds it."""
    with tempfile.TemporaryDirectory(prefix="unitledger-openapi-") as tmp:
        settings = Settings(data_dir=Path(tmp), database_url=f"sqlite:///{tmp}/openapi.db")
        runtime = build_service(settings)
        try:
            return create_app(runtime, manage_service=False).openapi()
        finally:
            runtime.engine.dispose()


def render(document: dict[str, Any]) -> str:
    return json.dumps(document, indent=2, sort_keys=True) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="fail when web/openapi.json is stale")
    args = parser.parse_args()
    text = render(current_document())
    if args.check:
        if not TARGET.exists() or TARGET.read_text() != text:
            print(f"{TARGET} is stale: run scripts/openapi.py, then `npm run generate` in web/")
            return 1
        return 0
    TARGET.write_text(text)
    print(f"wrote {TARGET}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
