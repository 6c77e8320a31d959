"""Reading an app's volume data out of its libcloud nodes, for migrate and backup, over SSH.

A compute API cannot read a disk's files, but every node it starts accepts SSH with the key
pair it was created with (`key_name`): libcloud's own `deploy_node` works the same way. The
channel is the VM runtime's (providers/vm/ssh.py, ssh_data.py): `ssh.user` with `ssh.key_file` or the
agent, to the node's public or private address (`ssh.address`, optionally via `ssh.bastion`).
Host keys come from the console output where the driver offers it (EC2's GetConsoleOutput,
which prints cloud-init's host key block), else the first key seen is recorded and kept.
"""
from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from portable.errors import TargetError
from portable.manifest.app import App
from portable.providers.libcloud.account import LibcloudAccount
from portable.providers.libcloud.connect import call
from portable.providers.libcloud.nodes import app_nodes
from portable.providers.libcloud.settings import LibcloudSettings
from portable.providers.vm.ssh_settings import ssh_roles


Progress = Callable[[str], None]


def _ssh() -> Any:
    return ssh_roles("libcloud")


class LibcloudData:
    """Mixed into LibcloudProvider: its DataSource, Quiescer and DataChannel roles, over SSH."""

    # provided by LibcloudProvider, which this is mixed into
    account: LibcloudAccount
    settings: LibcloudSettings
    target_name: str

    def _data(self, app: App) -> Any:
        ssh = _ssh()
        assert self.settings.ssh is not None  # the roles are declared only with `ssh` set
        return ssh.SshData(ssh.SshChannel(self.target_name, self.settings.ssh, self.settings.key_name, app.base_dir))

    def _console(self, driver: Any, node: Any) -> str:
        out = call(driver.ex_get_console_output, node, action="read the console of", what=f"instance {node.id}")
        return str(out.get("output") or "")

    def _hosts(self, app: App) -> list[Any]:
        ssh = _ssh()
        driver = self.account.driver(app)
        console = self.settings.driver == "ec2"  # the drivers whose API returns the console output
        hosts = []
        for node, parsed in app_nodes(driver, self.account.owner(app)):
            if str(node.state) != "running":
                continue
            public, private = list(node.public_ips or []), list(node.private_ips or [])
            hosts.append(ssh.Host(node.id, parsed.service, parsed.replica, public[0] if public else None, private[0] if private else None,
                                  console=(lambda node=node: self._console(driver, node)) if console else None))
        return hosts

    def export_volume(self, app: App, volume: str) -> tuple[Iterator[bytes], str]:
        """A tar stream of the volume's directory on the node of replica 0 (members `./...`)."""
        return self._data(app).export(app, volume, self._hosts(app))  # type: ignore[no-any-return]

    def quiesce(self, app: App) -> list[str]:
        """`docker stop` of every writer's container, over SSH, on each of its nodes."""
        return self._data(app).quiesce(app, self._hosts(app))  # type: ignore[no-any-return]

    def resume(self, app: App) -> list[str]:
        return self._data(app).resume(app, self._hosts(app))  # type: ignore[no-any-return]

    def restore_volume(self, app: App, volume: str, archive: Path, progress: Progress, *, sha256: str | None = None, replace: bool = False, delta: bool = False) -> None:
        """DataDestination for `portable restore` (RESTORE_RUNNING): the archive written into the
        volume on every running node of its service over SSH, the container stopped meanwhile."""
        if delta:
            raise TargetError("a delta archive is applied only by a migration's first boot here, not through SSH")
        self._data(app).restore(app, volume, archive, self._hosts(app), progress, sha256=sha256, replace=replace)

    def check_data_channel(self, app: App, *, quiesce: bool) -> str:
        """Logs in to every node the copy needs (while planning): unreachable, refused or a wrong
        host key is an InputError naming the setting."""
        volumes = [v for v in app.manifest.volumes if app.services_mounting(v)]
        return self._data(app).check(app, volumes, self._hosts(app), quiesce=quiesce)  # type: ignore[no-any-return]
