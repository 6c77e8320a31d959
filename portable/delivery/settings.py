"""`targets.<t>.registry`: where a target's images are pushed and pulled from (pydantic only).

One model for every provider's settings, so the core reads the same field the provider
validated. Credentials never sit in the manifest: `password_from` names an environment
variable or a file, and without it the standard Docker credential sources are used
(`~/.docker/config.json` auths and credential helpers).
"""
from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator


class ImageRegistry(BaseModel):
    """A registry a target pulls from; with `prefix`, also where `build:` images are pushed."""

    model_config = ConfigDict(extra="forbid")

    server: str = Field(description="registry host[:port], e.g. ghcr.io or 127.0.0.1:5000")
    prefix: str | None = Field(
        None, pattern=r"^[a-z0-9]+([._/-][a-z0-9]+)*$",
        description="repository path under the server where `build:` images are pushed as <prefix>/<app>-<service>; "
                    "set, it also makes every image deploy by digest, tags resolved while planning",
    )
    username: str | None = Field(None, description="user name to log in with (default: the Docker credential sources)")
    password_from: str | None = Field(
        None,
        pattern=r"^(env|file):.+$",
        description="where the password is read at apply time: env:VARIABLE or file:PATH",
    )

    @model_validator(mode="before")
    @classmethod
    def _shorthand(cls, data: Any) -> Any:
        """`registry: host[:port]/prefix` is the short form of {server, prefix}."""
        if isinstance(data, str):
            server, _, prefix = data.partition("/")
            return {"server": server, **({"prefix": prefix} if prefix else {})}
        return data

    @model_validator(mode="after")
    def _login_pairs(self) -> ImageRegistry:
        if (self.username is None) != (self.password_from is None):
            raise ValueError("username and password_from go together (or neither: the Docker credential sources are used)")
        return self

    @property
    def pushes(self) -> bool:
        """True when this target builds, pushes and deploys by digest."""
        return self.prefix is not None

    def repository(self, app: str, service: str) -> str:
        """host/prefix/<app>-<service>: where a `build:` service's image is pushed."""
        return f"{self.server}/{self.prefix}/{app}-{service}"


def target_registry(settings: Any) -> ImageRegistry | None:
    """The registry a target's raw settings name, or None (validated again by its provider)."""
    raw = settings.get("registry") if isinstance(settings, dict) else None
    return ImageRegistry.model_validate(raw) if raw is not None else None
