"""Pure translation of an App into the libcloud resources it needs (no I/O, no secret values).

Kinds: `security-group` (the app's firewall, only on drivers whose profile manages one),
`volume` (one data disk per replica and mount, only on drivers declaring VOLUMES) and
`instance-group` (the shared VM runtime's group plus the libcloud fields that decide the
machine). What a driver can do comes from its declared profile (`profiles.py`).
"""
from __future__ import annotations

from portable.manifest.app import App
from portable.plan.resources import Resource
from portable.providers.base import Capability
from portable.providers.libcloud.firewall import KIND as SG_KIND, firewall_rules
from portable.providers.libcloud.profiles import DriverProfile
from portable.providers.libcloud.settings import LibcloudSettings
from portable.providers.vm import GROUP_KIND, VOLUME_KIND, disk_name, group_spec, select_instance_size, volume_resources
from portable.providers.vm.group import revision_of
from portable.paused_gc import without_gc


@without_gc  # every Resource of the app, no cycles: see portable/paused_gc.py
def translate(app: App, settings: LibcloudSettings, profile: DriverProfile) -> list[Resource]:
    """The resources `app` needs on a libcloud target using `settings` and its driver's `profile`."""
    out: list[Resource] = []
    deps: list[str] = []
    if profile.firewall:
        out.append(Resource(SG_KIND, app.name, {"rules": firewall_rules(app)}))
        deps.append(f"{SG_KIND}/{app.name}")
    if Capability.VOLUMES in profile.capabilities:
        out += volume_resources(app)
    for name, svc in app.services.items():
        if svc.replicas == 0:
            continue
        explicit = settings.instance_types.get(name) or settings.instance_type
        where = f"services.{name}.resources" if profile.catalogue else f"targets.{app.target_name}.instance_type"
        size = select_instance_size(svc.resources, profile.catalogue, explicit=explicit, field_path=where)
        spec = group_spec(app, name, instance_size=size, behind_load_balancer=False)
        spec["libcloud"] = {"driver": settings.driver, "region": settings.region, "image": settings.image, "key_name": settings.key_name}
        spec["revision"] = revision_of(spec)
        group_deps = deps + [f"{VOLUME_KIND}/{disk_name(m.volume, r)}" for m in svc.volumes for r in range(svc.replicas)]
        group_deps += [f"{GROUP_KIND}/{d}" for d in svc.depends_on]
        out.append(Resource(GROUP_KIND, name, spec, depends_on=tuple(group_deps), service=name))
    return out
