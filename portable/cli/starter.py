"""`portable init`: a starter manifest a newcomer can deploy at once to the local target."""
from __future__ import annotations

import re
from pathlib import Path

from portable.errors import InputError

STARTER = """\
# A portable manifest; the reference is docs/manifest.md in the portable repository.
apiVersion: portable/v1
kind: Application
metadata:
  name: {name}
services:
  web:
    image: ${{WEB_IMAGE:-nginx:1.27}}
    ports:
      - port: 80
        protocol: http
        expose: public
        published: 8080
    health:
      http:
        path: /
        port: 80
"""


def starter_name(path: Path, name: str | None) -> str:
    """The app name the starter gets: `name`, else the folder's name made a valid one."""
    app = name or re.sub(r"[^a-z0-9-]+", "-", path.resolve().parent.name.lower()).strip("-") or "app"
    return app[:63]


def write_starter(path: Path, name: str | None) -> Path:
    if path.exists():
        raise InputError(f"{path} already exists; not overwriting it")
    path.write_text(STARTER.format(name=starter_name(path, name)))
    return path
