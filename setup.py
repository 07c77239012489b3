"""Builds the dashboard into the package when it is not built yet.

Everything else about the package is declared in pyproject.toml; this only hooks
``build_py`` so that ``pip wheel .`` / ``python -m build`` from a checkout ship
``unitledger/web/dist`` (the server serves it at ``/``). ``make web`` does the same
for development installs.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

ROOT = Path(__file__).resolve().parent
WEB = ROOT / "web"
DIST_INDEX = ROOT / "src" / "unitledger" / "web" / "dist" / "index.html"


class BuildPyWithDashboard(build_py):
    def run(self) -> None:
        if (WEB / "package.json").exists() and not DIST_INDEX.exists():
            npm = shutil.which("npm")
            if npm is None:
                raise SystemExit("building the dashboard needs npm (Node.js 20 or later)")
            # Fixed arguments to the npm found on PATH: nothing here comes from input.
            subprocess.run([npm, "ci", "--no-audit", "--no-fund"], cwd=WEB, check=True)  # noqa: S603
            subprocess.run([npm, "run", "build"], cwd=WEB, check=True)  # noqa: S603
        super().run()


setup(cmdclass={"build_py": BuildPyWithDashboard})
