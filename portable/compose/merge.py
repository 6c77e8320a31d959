"""Compose's merge rules, for several `-f` files and for `extends`.

The rules are the compose-spec's (and compose-go's `override` package): mappings merge key
by key, sequences append, scalars are replaced; `command`, `entrypoint` and
`healthcheck.test` are replaced whole; `environment`, `labels` and similar key=value
lists merge by key; `ports`, `volumes`, `secrets`, `configs` and the like keep one
entry per target; `depends_on` and `networks` merge as mappings; `!reset` removes an
inherited value and `!override` replaces it. Locations survive every merge.
"""
from __future__ import annotations

import re
from typing import Any, Callable

from portable.compose.located import OVERRIDE_TAG, LDict, LList, Loc, Reset

_REPLACED = {"command", "entrypoint"}
_KEY_VALUE_LISTS = {"environment", "labels", "annotations", "sysctls", "build.args", "build.labels", "deploy.labels", "build.additional_contexts"}
_APPENDED_UNIQUE = {"dns", "dns_opt", "dns_search", "cap_add", "cap_drop", "links", "profiles", "tmpfs", "env_file", "label_file", "expose", "extra_hosts", "group_add", "security_opt", "build.tags", "build.cache_from"}
_AS_MAPPING = {"depends_on", "networks", "models"}


def _pattern_key(path: tuple[str, ...]) -> str:
    """`("services", "web", "build", "args")` -> `build.args` (the key inside a service)."""
    return ".".join(path[2:]) if len(path) > 2 and path[0] == "services" else ".".join(path)


def as_mapping(value: Any, default: Callable[[], Any] | None = None) -> LDict:
    """A list of names (`[db, cache]`) as a mapping of name to `default()` (or None)."""
    if isinstance(value, LDict):
        return value
    out = LDict(getattr(value, "loc", Loc("<unknown>", 0, 0)))
    if isinstance(value, LList):
        for i, item in enumerate(value):
            out.put(str(item), default() if default else None, value.at(i), value.at(i))
    return out


def key_values(value: Any) -> LList:
    """`environment`-style values (mapping or KEY=VAL list) as a KEY=VAL list with locations."""
    if isinstance(value, LList):
        return value
    out = LList(getattr(value, "loc", Loc("<unknown>", 0, 0)))
    if isinstance(value, LDict):
        for key in value:
            v = value[key]
            out.add(key if v is None else f"{key}={_text(v)}", value.key_at(key))
    elif isinstance(value, str):
        out.add(value, out.loc)
    return out


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _unique_by(items: LList, key: Callable[[Any], str]) -> LList:
    """Later entries with the same key replace earlier ones, in the earlier one's place."""
    out = LList(items.loc)
    index: dict[str, int] = {}
    for i, item in enumerate(items):
        k = key(item)
        if k in index:
            out[index[k]] = item
            out.item_locs[index[k]] = items.at(i)
        else:
            index[k] = len(out)
            out.add(item, items.at(i))
    return out


def _kv_key(item: Any) -> str:
    return str(item).split("=", 1)[0] if isinstance(item, str) else repr(item)


def _mount_target(default_dir: str) -> Callable[[Any], str]:
    def key(item: Any) -> str:
        if isinstance(item, dict):
            return str(item.get("target") or f"{default_dir}/{item.get('source')}")
        return f"{default_dir}/{item}"
    return key


def volume_target(item: Any) -> str:
    """The container path of a `volumes:` entry, short or long syntax."""
    if isinstance(item, dict):
        return str(item.get("target", ""))
    parts = split_volume(str(item))
    return parts[1] if len(parts) > 1 else parts[0]


def split_volume(text: str) -> list[str]:
    """`src:/dst:ro` split on colons, keeping Windows drive letters (`C:\\x`) whole."""
    parts = re.split(r":(?!\\)", text)
    return parts


def _port_key(item: Any) -> str:
    if isinstance(item, dict):
        return f"{item.get('host_ip', '0.0.0.0')}:{item.get('published', '')}:{item.get('target')}/{item.get('protocol', 'tcp')}"
    return str(item)


_UNIQUE_KEYS: dict[str, Callable[[Any], str]] = {
    "ports": _port_key,
    "volumes": volume_target,
    "devices": volume_target,
    "secrets": _mount_target("/run/secrets"),
    "configs": _mount_target(""),
}


def merge(base: Any, over: Any, path: tuple[str, ...] = ()) -> Any:
    """`over` merged onto `base` by compose's rules (neither is modified)."""
    if isinstance(over, Reset):
        return over
    if getattr(over, "tag", None) == OVERRIDE_TAG or base is None or isinstance(base, Reset):
        return over
    rule = _pattern_key(path)
    in_service = len(path) > 2 and path[0] == "services"
    if in_service and (rule in _REPLACED or rule == "healthcheck.test"):
        return over
    if in_service and rule in _KEY_VALUE_LISTS:
        return _unique_by(_concat(key_values(base), key_values(over)), _kv_key)
    if in_service and rule in _AS_MAPPING:
        return merge_mappings(as_mapping(base), as_mapping(over), path)
    if in_service and rule == "build" and (isinstance(base, str) or isinstance(over, str)):
        return merge_mappings(_build_mapping(base), _build_mapping(over), path)
    if isinstance(base, LDict) and isinstance(over, LDict):
        if in_service and rule == "logging" and base.get("driver") not in (None, over.get("driver", base.get("driver"))):
            return over  # options of another driver mean nothing
        return merge_mappings(base, over, path)
    if isinstance(base, LList) and isinstance(over, LList):
        joined = _concat(base, over)
        if in_service and rule in _UNIQUE_KEYS:
            return _unique_by(joined, _UNIQUE_KEYS[rule])
        if in_service and rule in _APPENDED_UNIQUE:
            return _unique_by(joined, lambda i: repr(i))
        return joined
    return over


def _build_mapping(value: Any) -> LDict:
    if isinstance(value, LDict):
        return value
    out = LDict()
    out.put("context", value, Loc("<unknown>", 0, 0), Loc("<unknown>", 0, 0))
    return out


def _concat(a: LList, b: LList) -> LList:
    out = LList(b.loc if not a else a.loc)
    for i, item in enumerate(a):
        out.add(item, a.at(i))
    for i, item in enumerate(b):
        out.add(item, b.at(i))
    return out


def merge_mappings(base: LDict, over: LDict, path: tuple[str, ...] = ()) -> LDict:
    out = LDict(base.loc)
    for key in base:
        out.copy_from(base, key)
    for key in over:
        if key in out:
            merged = merge(out[key], over[key], path + (key,))
            if isinstance(merged, Reset):
                del out[key]
                continue
            out.put(key, merged, over.key_at(key), over.value_at(key) if merged is over[key] else out.value_at(key))
        elif not isinstance(over[key], Reset):
            out.copy_from(over, key)
    return out


def drop_resets(value: Any) -> Any:
    """Removes `!reset` markers left where nothing was inherited."""
    if isinstance(value, LDict):
        for key in [k for k, v in value.items() if isinstance(v, Reset)]:
            del value[key]
        for key in value:
            drop_resets(value[key])
    elif isinstance(value, LList):
        for item in value:
            drop_resets(item)
    return value
