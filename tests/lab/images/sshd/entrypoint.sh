#!/bin/sh
# lab/sshd:1 entrypoint: host keys on first start (printed), SSH_AUTHORIZED_KEYS for SSH_USER (default root),
# then the command (sshd in the foreground, logging to stderr).
set -eu
ssh-keygen -A >/dev/null
# the host keys on the console, between the markers cloud-init prints on EC2 (a client can check them)
echo "-----BEGIN SSH HOST KEY KEYS-----"
cat /etc/ssh/ssh_host_*_key.pub
echo "-----END SSH HOST KEY KEYS-----"
mkdir -p /run/sshd
user=${SSH_USER:-root}
if ! id "$user" >/dev/null 2>&1; then useradd -m -s /bin/bash "$user"; fi
if [ -n "${SSH_AUTHORIZED_KEYS:-}" ]; then
  home=$(getent passwd "$user" | cut -d: -f6)
  mkdir -p "$home/.ssh"
  printf '%s\n' "$SSH_AUTHORIZED_KEYS" >"$home/.ssh/authorized_keys"
  chmod 700 "$home/.ssh"; chmod 600 "$home/.ssh/authorized_keys"
  chown -R "$user:" "$home/.ssh"
fi
# sshd (UsePAM no) refuses even keys for a locked account ("!" in shadow): "*" = no password, not locked
usermod -p '*' "$user"
exec "$@"
