"""Pure translation of an App into the vSphere resources it needs (no I/O, no secret values).

Kinds: `volume` (one VMDK per replica and mount, in the target's datastore), `load-balancer`
(a front proxy VM per service with public http ports, `proxy.py`) and `instance-group` (the
shared VM runtime's group, sized for a VM by `specs.vm_size`, plus `extra_config`).
"""
from __future__ import annotations

from dataclasses import replace

from portable.manifest.app import App
from portable.plan.resources import Resource
from portable.providers.vm import instance_groups, volume_resources
from portable.providers.vsphere.proxy import lb_resource
from portable.providers.vsphere.settings import VsphereSettings
from portable.providers.vsphere.specs import vm_size
from portable.paused_gc import without_gc


@without_gc  # every Resource of the app, no cycles: see portable/paused_gc.py
def translate(app: App, settings: VsphereSettings) -> list[Resource]:
    """The resources `app` needs on a vSphere target using `settings`."""
    volumes = volume_resources(app, extra_spec={"datastore": settings.datastore})
    proxies = {
        name: lb
        for name, svc in app.services.items()
        if (lb := lb_resource(app, name, svc, image=settings.proxy_image, size=settings.proxy_size)) is not None
    }
    groups = instance_groups(
        app,
        size_for=lambda name, svc: vm_size(name, svc, settings),
        behind_load_balancer=True,  # public http goes through the service's front proxy VM
        depends_on=lambda name, svc: (proxies[name].key,) if name in proxies else (),
    )
    if settings.extra_config:  # part of the spec: a change rolls the VMs like any other
        groups = [replace(g, spec={**g.spec, "extra_config": dict(sorted(settings.extra_config.items()))}) for g in groups]
    return volumes + list(proxies.values()) + groups
