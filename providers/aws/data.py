"""Reading an app's volume data out of its EC2 instances, for migrate and backup, over SSH.

EC2 cannot read a disk's files through its API, so the data roles go through SSH to each
instance (providers/vm/ssh.py, ssh_data.py): as `ssh.user` with the key pair the instances were launched
with (`key_name`), to their public or private address (`ssh.address`, optionally through
`ssh.bastion`). Host keys are the ones cloud-init printed on the instance's console, read
with GetConsoleOutput; when the console has none, the first key seen is recorded and kept.
"""
from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from portable.errors import TargetError
from portable.manifest.app import App
from portable.providers.aws import tags as T
from portable.providers.aws.clients import AwsClients
from portable.providers.aws.errors import call
from portable.providers.aws.instances import list_instances
from portable.providers.aws.settings import AwsSettings
from portable.providers.vm.ssh_settings import ssh_roles


Progress = Callable[[str], None]


def _ssh() -> Any:
    return ssh_roles("aws")


class AwsData:
    """Mixed into AwsProvider: its DataSource, Quiescer and DataChannel roles, over SSH."""

    # provided by AwsProvider, which this is mixed into
    clients: AwsClients
    settings: AwsSettings
    target_name: str

    def _data(self, app: App) -> Any:
        ssh = _ssh()
        assert self.settings.ssh is not None  # the roles are declared only with `ssh` set
        return ssh.SshData(ssh.SshChannel(self.target_name, self.settings.ssh, self.settings.key_name, app.base_dir))

    def _console(self, instance_id: str) -> str:
        out = call(self.clients.ec2.get_console_output, InstanceId=instance_id, action="read the console of", what=f"instance {instance_id}")
        return str(out.get("Output") or "")

    def _hosts(self, app: App) -> list[Any]:
        ssh = _ssh()
        hosts = []
        for inst in list_instances(self.clients, app.name):
            if inst["State"]["Name"] != "running":
                continue
            tags = T.tag_dict(inst.get("Tags"))
            iid = inst["InstanceId"]
            hosts.append(ssh.Host(iid, tags.get(T.SERVICE, ""), int(tags.get(T.REPLICA, "0")), inst.get("PublicIpAddress"), inst.get("PrivateIpAddress"),
                                  console=lambda iid=iid: self._console(iid)))
        return hosts

    def export_volume(self, app: App, volume: str) -> tuple[Iterator[bytes], str]:
        """A tar stream of the volume's directory on the instance of replica 0 (members `./...`)."""
        return self._data(app).export(app, volume, self._hosts(app))  # type: ignore[no-any-return]

    def quiesce(self, app: App) -> list[str]:
        """`docker stop` of every writer's container, over SSH, on each of its instances."""
        return self._data(app).quiesce(app, self._hosts(app))  # type: ignore[no-any-return]

    def resume(self, app: App) -> list[str]:
        return self._data(app).resume(app, self._hosts(app))  # type: ignore[no-any-return]

    def restore_volume(self, app: App, volume: str, archive: Path, progress: Progress, *, sha256: str | None = None, replace: bool = False, delta: bool = False) -> None:
        """DataDestination for `portable restore` (RESTORE_RUNNING): the archive written into the
        volume on every running instance of its service over SSH, the container stopped meanwhile."""
        if delta:
            raise TargetError("a delta archive is applied only by a migration's first boot here, not through SSH")
        self._data(app).restore(app, volume, archive, self._hosts(app), progress, sha256=sha256, replace=replace)

    def check_data_channel(self, app: App, *, quiesce: bool) -> str:
        """Logs in to every instance the copy needs (while planning): unreachable, refused or a
        wrong host key is an InputError naming the setting."""
        volumes = [v for v in app.manifest.volumes if app.services_mounting(v)]
        return self._data(app).check(app, volumes, self._hosts(app), quiesce=quiesce)  # type: ignore[no-any-return]
