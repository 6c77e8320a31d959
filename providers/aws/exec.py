"""`portable exec` on the aws target: `docker exec` in the service's container on one of its
EC2 instances, over SSH (providers/vm/ssh_exec.py).

The instances are the ones the data roles reach (data.py `_hosts`: running, tagged with the
app, their console's host keys checked), through the same `ssh` settings and key pair. The
role is declared only when `key_name` and `ssh` are set; without them `portable exec` is
refused before EC2 is asked, with the sentence naming both (provider.py `refusals`).
"""
from __future__ import annotations

from portable.manifest.app import App
from portable.providers.aws.data import AwsData
from portable.providers.base import ExecIO
from portable.providers.vm.ssh_settings import ssh_roles


class AwsExec(AwsData):
    """Mixed into AwsProvider: the Executor role (Capability.EXEC), over SSH."""

    def exec_in(self, app: App, service: str, replica: int, command: list[str], io: ExecIO) -> int:
        ssh = ssh_roles("aws")  # paramiko, or the `pip install` that brings it
        from portable.providers.vm.ssh_exec import exec_over_ssh

        assert self.settings.ssh is not None  # the role is declared only with `ssh` set
        channel = ssh.SshChannel(self.target_name, self.settings.ssh, self.settings.key_name, app.base_dir)
        return exec_over_ssh(channel, app, self._hosts(app), service, replica, command, io)
