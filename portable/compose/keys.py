"""The one table of what becomes of every compose key: the importer, its warnings and
docs/compose.md all read it, so the documentation cannot drift from the behaviour.

`fate` is one of:
  carried       the value is carried into the portable field named in `into`
  approximated  carried, but not exactly; `note` says how (the importer also says it per value)
  not carried   dropped, with a warning `FILE:LINE:COL: path: not carried (note)`
  loader        applied while loading (profiles, extends, include), nothing left to carry
  ignored       ignored, as compose itself ignores it (a note, not a warning)
"""
from __future__ import annotations

from dataclasses import dataclass

CARRIED = "carried"
APPROXIMATED = "approximated"
NOT_CARRIED = "not carried"
LOADER = "loader"
IGNORED = "ignored"


@dataclass(frozen=True)
class KeyRule:
    key: str
    fate: str
    into: str = ""
    note: str = ""


def _r(key: str, fate: str, into: str = "", note: str = "") -> KeyRule:
    return KeyRule(key, fate, into, note)


_HOST = "host-specific container setting; portable keeps to what every target can run"
_SWARM = "a Swarm orchestration setting; portable's targets schedule for themselves"

RULES: tuple[KeyRule, ...] = (
    # top level
    _r("version", IGNORED, "", "obsolete; compose ignores it too"),
    _r("name", CARRIED, "metadata.name", "made a DNS-1123 label (lower case, `_` and `.` become `-`)"),
    _r("include", LOADER, "", "the included projects' services, volumes, secrets, configs and networks are merged in"),
    _r("services", CARRIED, "services", "service names are made DNS-1123 labels"),
    _r("volumes", CARRIED, "volumes", "each named volume becomes a portable volume of the default size 1Gi (compose volumes have no size)"),
    _r("volumes.*.driver", NOT_CARRIED, "", "each target provides its own storage"),
    _r("volumes.*.driver_opts", NOT_CARRIED, "", "each target provides its own storage"),
    _r("volumes.*.external", NOT_CARRIED, "", "portable creates and owns the app's volumes"),
    _r("volumes.*.labels", NOT_CARRIED, "", "volumes carry portable's own labels"),
    _r("volumes.*.name", NOT_CARRIED, "", "volume names are portable's (app and volume name)"),
    _r("secrets", CARRIED, "secrets", "`file:` becomes `from: file:PATH`, `environment:` becomes `from: env:VAR`"),
    _r("secrets.*.file", CARRIED, "secrets.*.from", "`file:PATH`"),
    _r("secrets.*.environment", CARRIED, "secrets.*.from", "`env:VAR`"),
    _r("secrets.*.external", NOT_CARRIED, "", "portable writes secrets from a file or variable; an existing secret store entry is not read"),
    _r("secrets.*.name", NOT_CARRIED, "", "secret names are portable's"),
    _r("secrets.*.labels", NOT_CARRIED, "", "secrets carry portable's own labels"),
    _r("secrets.*.driver", NOT_CARRIED, "", _SWARM),
    _r("secrets.*.driver_opts", NOT_CARRIED, "", _SWARM),
    _r("secrets.*.template_driver", NOT_CARRIED, "", _SWARM),
    _r("configs", APPROXIMATED, "services.*.files", "a config's content (from `file`, `content` or `environment`) is copied into each using service's `files:` at import time"),
    _r("configs.*.file", APPROXIMATED, "services.*.files[].content", "read at import time (text files up to 256 KiB inside the project)"),
    _r("configs.*.content", CARRIED, "services.*.files[].content", ""),
    _r("configs.*.environment", APPROXIMATED, "services.*.files[].content", "the variable's value at import time"),
    _r("configs.*.external", NOT_CARRIED, "", "an existing config store entry is not read"),
    _r("configs.*.name", NOT_CARRIED, "", "config names are portable's"),
    _r("configs.*.labels", NOT_CARRIED, "", "files carry no labels"),
    _r("configs.*.template_driver", NOT_CARRIED, "", _SWARM),
    _r("networks", APPROXIMATED, "", "every service of the app shares one app network on every target; named networks, their drivers and isolation between them are not carried"),
    _r("models", NOT_CARRIED, "", "AI model runners are a Docker Desktop feature no target provides"),
    _r("x-*", IGNORED, "", "extension fields, ignored as compose ignores them; `x-portable` carries portable's own `targets` and `overrides`"),
    # services.*
    _r("services.*.image", CARRIED, "services.*.image", "with `build:` too, portable runs the image and does not build it (compose builds it and tags it so)"),
    _r("services.*.build", CARRIED, "services.*.build", "context, dockerfile and args; the short form is the context"),
    _r("services.*.build.context", CARRIED, "services.*.build.context", "relative to the written manifest"),
    _r("services.*.build.dockerfile", CARRIED, "services.*.build.dockerfile", ""),
    _r("services.*.build.args", CARRIED, "services.*.build.args", "list or mapping; `KEY` alone takes the variable's value at import time"),
    _r("services.*.build.target", NOT_CARRIED, "", "portable builds the Dockerfile's last stage"),
    _r("services.*.build.*", NOT_CARRIED, "", "portable's build takes context, dockerfile and args only"),
    _r("services.*.command", CARRIED, "services.*.args", "compose's command is the image's CMD, portable's `args`; a string is split like a shell"),
    _r("services.*.entrypoint", CARRIED, "services.*.command", "compose's entrypoint is portable's `command`; a string is split like a shell"),
    _r("services.*.environment", CARRIED, "services.*.env", "list or mapping; `KEY` alone takes the variable's value at import time, and is left out when unset"),
    _r("services.*.env_file", APPROXIMATED, "services.*.env", "the files are read at import time and their variables written into `env` (`environment` wins)"),
    _r("services.*.ports", CARRIED, "services.*.ports", "short and long syntax; a published port makes the port `expose: public`; ranges are expanded"),
    _r("services.*.ports[].target", CARRIED, "services.*.ports[].port", ""),
    _r("services.*.ports[].published", CARRIED, "services.*.ports[].published", "without one compose picks a free host port; portable publishes the container port"),
    _r("services.*.ports[].protocol", CARRIED, "services.*.ports[].protocol", "tcp or udp; `app_protocol: http` makes it `http` (routed by the target's HTTP front)"),
    _r("services.*.ports[].app_protocol", CARRIED, "services.*.ports[].protocol", "`http` becomes protocol http; others stay tcp"),
    _r("services.*.ports[].name", CARRIED, "services.*.ports[].name", "when it is a DNS label of at most 15 characters"),
    _r("services.*.ports[].host_ip", APPROXIMATED, "", "0.0.0.0 (every address) is what targets do; another address is not carried: the target decides the bind address (docker: the `bind_address` setting)"),
    _r("services.*.ports[].mode", NOT_CARRIED, "", _SWARM),
    _r("services.*.expose", CARRIED, "services.*.ports", "each becomes a port with `expose: internal`"),
    _r("services.*.volumes", CARRIED, "services.*.volumes", "named volumes are carried; anonymous volumes become named ones; small text files bind-mounted from inside the project become `files:`; other bind mounts, tmpfs and the rest are warned"),
    _r("services.*.volumes[].type", CARRIED, "services.*.volumes", "`volume` is carried; `bind` as a config file when it is a small text file in the project; others are warned"),
    _r("services.*.volumes[].source", CARRIED, "services.*.volumes[].volume", "the volume's (DNS-label) name"),
    _r("services.*.volumes[].target", CARRIED, "services.*.volumes[].path", ""),
    _r("services.*.volumes[].read_only", CARRIED, "services.*.volumes[].read_only", "`:ro` in the short syntax"),
    _r("services.*.volumes[].volume.nocopy", NOT_CARRIED, "", "targets decide how a new volume is filled"),
    _r("services.*.volumes[].volume.subpath", NOT_CARRIED, "", "a volume is mounted whole"),
    _r("services.*.volumes[].bind", NOT_CARRIED, "", "bind mount options are host-specific"),
    _r("services.*.volumes[].consistency", NOT_CARRIED, "", "host-specific"),
    _r("services.*.tmpfs", NOT_CARRIED, "", "no tmpfs mounts in the portable model"),
    _r("services.*.secrets", CARRIED, "services.*.secrets", "`target` becomes the file path (relative targets go under /run/secrets)"),
    _r("services.*.secrets[].source", CARRIED, "services.*.secrets[].name", ""),
    _r("services.*.secrets[].target", CARRIED, "services.*.secrets[].path", "a relative target goes under /run/secrets"),
    _r("services.*.secrets[].uid", NOT_CARRIED, "", "secret files are owned by the container's user (root unless `user` is numeric)"),
    _r("services.*.secrets[].gid", NOT_CARRIED, "", "secret files are owned by the container's user"),
    _r("services.*.secrets[].mode", NOT_CARRIED, "", "secret files are written 0400"),
    _r("services.*.configs", APPROXIMATED, "services.*.files", "each config becomes a file at `target` (default /<name>) with its mode (default 0444)"),
    _r("services.*.configs[].source", CARRIED, "services.*.files[].content", "the config's content"),
    _r("services.*.configs[].target", CARRIED, "services.*.files[].path", "default /<name>"),
    _r("services.*.configs[].mode", CARRIED, "services.*.files[].mode", "default 0444"),
    _r("services.*.configs[].uid", NOT_CARRIED, "", "files are owned by the container's user"),
    _r("services.*.configs[].gid", NOT_CARRIED, "", "files are owned by the container's user"),
    _r("services.*.healthcheck", CARRIED, "services.*.health", "`CMD` and `CMD-SHELL` tests become `exec` checks; compose's defaults (30s interval and timeout) are written out"),
    _r("services.*.healthcheck.test", CARRIED, "services.*.health.exec.command", "`CMD-SHELL x` (and a string) run as `/bin/sh -c x`"),
    _r("services.*.healthcheck.interval", CARRIED, "services.*.health.interval", ""),
    _r("services.*.healthcheck.timeout", CARRIED, "services.*.health.timeout", ""),
    _r("services.*.healthcheck.retries", CARRIED, "services.*.health.retries", ""),
    _r("services.*.healthcheck.start_period", CARRIED, "services.*.health.start_period", ""),
    _r("services.*.healthcheck.start_interval", NOT_CARRIED, "", "checks run at `interval` during the start period too"),
    _r("services.*.healthcheck.disable", APPROXIMATED, "", "portable sets no check; on docker the image's own HEALTHCHECK still runs"),
    _r("services.*.depends_on", CARRIED, "services.*.depends_on", "portable starts dependencies first and waits until they are healthy"),
    _r("services.*.depends_on.*", CARRIED, "services.*.depends_on", "each dependency by its (DNS-label) service name"),
    _r("services.*.depends_on.*.condition", CARRIED, "services.*.depends_on", "`service_healthy` as is; `service_started` waits for health where the dependency has a check; `service_completed_successfully` is not carried (portable runs long-lived services only)"),
    _r("services.*.depends_on.*.required", APPROXIMATED, "services.*.depends_on", "every portable dependency is required"),
    _r("services.*.depends_on.*.restart", NOT_CARRIED, "", "dependents are not restarted when a dependency restarts"),
    _r("services.*.deploy", CARRIED, "services.*", "replicas, resources and restart_policy are carried"),
    _r("services.*.deploy.replicas", CARRIED, "services.*.replicas", ""),
    _r("services.*.deploy.resources", CARRIED, "services.*.resources", "limits and reservations, below"),
    _r("services.*.deploy.resources.limits", CARRIED, "services.*.resources", "cpus and memory"),
    _r("services.*.deploy.resources.reservations", APPROXIMATED, "services.*.resources", "cpus and memory, when no limit is set"),
    _r("services.*.deploy.restart_policy", CARRIED, "services.*.restart", "its condition"),
    _r("services.*.deploy.resources.limits.cpus", CARRIED, "services.*.resources.cpu", ""),
    _r("services.*.deploy.resources.limits.memory", CARRIED, "services.*.resources.memory", "compose's units (b, k, m, g: powers of 1024) become Ki/Mi/Gi"),
    _r("services.*.deploy.resources.limits.pids", NOT_CARRIED, "", _HOST),
    _r("services.*.deploy.resources.reservations.cpus", APPROXIMATED, "services.*.resources.cpu", "used as the one cpu amount when no limit is set; otherwise not carried (portable sets one amount)"),
    _r("services.*.deploy.resources.reservations.memory", APPROXIMATED, "services.*.resources.memory", "used as the one memory amount when no limit is set; otherwise not carried"),
    _r("services.*.deploy.resources.reservations.devices", NOT_CARRIED, "", "no device (GPU) requests in the portable model"),
    _r("services.*.deploy.resources.reservations.generic_resources", NOT_CARRIED, "", _SWARM),
    _r("services.*.deploy.restart_policy.condition", CARRIED, "services.*.restart", "none -> no, on-failure -> on-failure, any -> always (when `restart` is not set)"),
    _r("services.*.deploy.restart_policy.delay", NOT_CARRIED, "", "each target restarts with its own back-off"),
    _r("services.*.deploy.restart_policy.max_attempts", NOT_CARRIED, "", "each target restarts with its own back-off"),
    _r("services.*.deploy.restart_policy.window", NOT_CARRIED, "", "each target restarts with its own back-off"),
    _r("services.*.deploy.mode", CARRIED, "", "`replicated` is portable's only mode; `global` (one per node) is not carried"),
    _r("services.*.deploy.labels", NOT_CARRIED, "", _SWARM),
    _r("services.*.deploy.update_config", NOT_CARRIED, "", "portable rolls out health-gated with automatic rollback on every target"),
    _r("services.*.deploy.rollback_config", NOT_CARRIED, "", "portable rolls back automatically on every target"),
    _r("services.*.deploy.placement", NOT_CARRIED, "", _SWARM),
    _r("services.*.deploy.endpoint_mode", NOT_CARRIED, "", _SWARM),
    _r("services.*.scale", CARRIED, "services.*.replicas", ""),
    _r("services.*.cpus", CARRIED, "services.*.resources.cpu", ""),
    _r("services.*.mem_limit", CARRIED, "services.*.resources.memory", "compose's units become Ki/Mi/Gi"),
    _r("services.*.mem_reservation", APPROXIMATED, "services.*.resources.memory", "used when no limit is set; otherwise not carried"),
    _r("services.*.restart", CARRIED, "services.*.restart", "no, always, on-failure, unless-stopped; `on-failure:N` loses N"),
    _r("services.*.user", CARRIED, "services.*.user", ""),
    _r("services.*.labels", CARRIED, "services.*.labels", "list or mapping"),
    _r("services.*.label_file", APPROXIMATED, "services.*.labels", "read at import time"),
    _r("services.*.stop_grace_period", CARRIED, "services.*.stop_grace_period", ""),
    _r("services.*.profiles", LOADER, "", "services outside the active profiles (--profile, COMPOSE_PROFILES) are left out"),
    _r("services.*.extends", LOADER, "", "the extended service is merged in, by compose's merge rules"),
    _r("services.*.networks", APPROXIMATED, "", "every service joins the one app network and is reachable by its service name; aliases, addresses and priorities are not carried"),
    _r("services.*.links", APPROXIMATED, "", "services reach each other by service name on every target; link aliases are not carried"),
    _r("services.*.container_name", NOT_CARRIED, "", "container and workload names are portable's (app, service, replica)"),
    _r("services.*.hostname", NOT_CARRIED, "", "each target names its instances"),
    _r("services.*.domainname", NOT_CARRIED, "", "each target names its instances"),
    _r("services.*.extra_hosts", NOT_CARRIED, "", "no /etc/hosts entries in the portable model"),
    _r("services.*.working_dir", CARRIED, "services.*.working_dir", "added to the manifest model for compose: every target sets the container's working directory"),
    _r("services.*.init", NOT_CARRIED, "", "no init process in the portable model"),
    _r("services.*.read_only", CARRIED, "services.*.security.read_only_root", "a read-only root filesystem on every target"),
    _r("services.*.cap_add", CARRIED, "services.*.security.capabilities.add", "capabilities added on every target (`portable check` warns about each)"),
    _r("services.*.cap_drop", CARRIED, "services.*.security.capabilities.drop", "without it a compose service keeps the engine's default capabilities, as compose does (`drop: []`; portable's own default drops ALL)"),
    _r("services.*.privileged", NOT_CARRIED, "", "privileged containers are not carried: flagged, review what the service needs"),
    _r("services.*.stop_signal", NOT_CARRIED, "", "targets stop containers with SIGTERM"),
    _r("services.*.logging", NOT_CARRIED, "", "each target collects output its own way (`portable logs` reads it)"),
    _r("services.*.platform", NOT_CARRIED, "", "targets run their own architecture"),
    _r("services.*.pull_policy", NOT_CARRIED, "", "each target pulls missing images"),
    _r("services.*.pull_refresh_after", NOT_CARRIED, "", "each target pulls missing images"),
    _r("services.*.develop", NOT_CARRIED, "", "compose watch is a development loop, not a deployment setting"),
    _r("services.*.network_mode", NOT_CARRIED, "", "services always join the app network"),
    _r("services.*.volumes_from", NOT_CARRIED, "", "share a named volume instead"),
    _r("services.*.external_links", NOT_CARRIED, "", "containers outside the app are not reachable by link"),
    _r("services.*.provider", NOT_CARRIED, "", "provider services are compose plugins"),
    _r("services.*.models", NOT_CARRIED, "", "AI model runners are a Docker Desktop feature"),
    _r("services.*.gpus", NOT_CARRIED, "", "no GPU requests in the portable model"),
    _r("services.*.post_start", NOT_CARRIED, "", "no lifecycle hooks in the portable model"),
    _r("services.*.pre_stop", NOT_CARRIED, "", "no lifecycle hooks in the portable model"),
    _r("services.*.stdin_open", NOT_CARRIED, "", "services run detached"),
    _r("services.*.tty", NOT_CARRIED, "", "services run detached"),
    _r("services.*.attach", NOT_CARRIED, "", "services run detached"),
    _r("services.*.annotations", NOT_CARRIED, "", "containers carry portable's labels only"),
    _r("services.*.use_api_socket", NOT_CARRIED, "", "the Docker API is not handed to containers"),
    *(_r(f"services.*.{k}", NOT_CARRIED, "", _HOST) for k in (
        "blkio_config", "cgroup", "cgroup_parent", "cpu_count", "cpu_percent", "cpu_period", "cpu_quota",
        "cpu_rt_period", "cpu_rt_runtime", "cpu_shares", "cpuset", "credential_spec", "device_cgroup_rules",
        "devices", "dns", "dns_opt", "dns_search", "group_add", "ipc", "isolation", "mac_address",
        "mem_swappiness", "memswap_limit", "oom_kill_disable", "oom_score_adj", "pid", "pids_limit",
        "runtime", "security_opt", "shm_size", "storage_opt", "sysctls", "ulimits", "userns_mode", "uts",
    )),
)

BY_KEY: dict[str, KeyRule] = {r.key: r for r in RULES}


def rule(key: str) -> KeyRule:
    """The rule for a generic key path (`services.*.init`), falling back to its parents' wildcard."""
    if key in BY_KEY:
        return BY_KEY[key]
    head, _, _ = key.rpartition(".")
    while head:
        if f"{head}.*" in BY_KEY:
            return BY_KEY[f"{head}.*"]
        head, _, _ = head.rpartition(".")
    return KeyRule(key, NOT_CARRIED, "", "portable has no equivalent")


def why(key: str) -> str:
    return rule(key).note
