"""One libcloud target's cloud account: the opened driver, the locations replicas spread
over, and the app's firewall and volumes on it.

Both the provider and the instance-group backend (`nodes.py`) work through this object, so
neither needs the other: the provider routes, the backend starts and stops nodes.
"""
from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import Any

from portable.errors import TargetError
from portable.manifest.app import App
from portable.providers.libcloud import ec2
from portable.providers.libcloud.connect import call, open_driver
from portable.providers.libcloud.firewall import Firewall
from portable.providers.libcloud.naming import owner_of
from portable.providers.libcloud.profiles import DriverProfile
from portable.providers.libcloud.settings import LibcloudSettings
from portable.providers.libcloud.volumes import Volumes


class LibcloudAccount:
    """The driver (opened once, lazily, with the app's environment) and what lives on it."""

    def __init__(self, target_name: str, settings: LibcloudSettings, profile: DriverProfile) -> None:
        self.target_name = target_name
        self.settings = settings
        self.profile = profile
        self._lock = threading.Lock()
        self._driver: Any = None
        self._locations: list[Any] | None = None

    def driver(self, app: App | None = None) -> Any:
        with self._lock:
            if self._driver is None:
                env = app.env if app is not None else os.environ
                base = app.base_dir if app is not None else Path.cwd()
                self._driver = open_driver(self.settings, self.profile, env, base)
            return self._driver

    def locations(self, app: App) -> list[Any]:
        """One location per zone to spread replicas over, in a stable order."""
        driver = self.driver(app)
        with self._lock:
            if self._locations is None:
                found = call(driver.list_locations, action="list", what="locations")
                if self.settings.locations:
                    found = [loc for loc in found if loc.name in self.settings.locations or loc.id in self.settings.locations]
                elif self.settings.driver == "ec2":
                    zones = set(ec2.default_subnets(driver))
                    found = [loc for loc in found if loc.name in zones]
                if not found:
                    raise TargetError(f"the {self.settings.driver} driver lists no usable location", hint="check `region` and `locations` on the target")
                self._locations = sorted(found, key=lambda loc: str(loc.name))
            return self._locations

    def owner(self, app: App) -> str:
        """What names carry: the app on this target (two targets may share an account)."""
        return owner_of(app.name, self.target_name)

    def firewall(self, app: App) -> Firewall:
        return Firewall(self.driver(app), self.owner(app), self.target_name)

    def volumes(self, app: App) -> Volumes:
        return Volumes(self.driver(app), self.settings.driver, lambda: self.locations(app), self.owner(app), self.target_name)
