"""`portable exec` on the libcloud target: `docker exec` in the service's container on one of
its nodes, over SSH (providers/vm/ssh_exec.py).

The nodes are the ones the data roles reach (data.py `_hosts`: running, named for the app,
host keys from the console where the driver returns it), through the same `ssh` settings and
key pair. The role is declared only when `key_name` and `ssh` are set; without them
`portable exec` is refused before the cloud is asked, with the sentence naming both
(provider.py `refusals`).
"""
from __future__ import annotations

from portable.manifest.app import App
from portable.providers.base import ExecIO
from portable.providers.libcloud.data import LibcloudData
from portable.providers.vm.ssh_settings import ssh_roles


class LibcloudExec(LibcloudData):
    """Mixed into LibcloudProvider: the Executor role (Capability.EXEC), over SSH."""

    def exec_in(self, app: App, service: str, replica: int, command: list[str], io: ExecIO) -> int:
        ssh = ssh_roles("libcloud")  # paramiko, or the `pip install` that brings it
        from portable.providers.vm.ssh_exec import exec_over_ssh

        assert self.settings.ssh is not None  # the role is declared only with `ssh` set
        channel = ssh.SshChannel(self.target_name, self.settings.ssh, self.settings.key_name, app.base_dir)
        return exec_over_ssh(channel, app, self._hosts(app), service, replica, command, io)
