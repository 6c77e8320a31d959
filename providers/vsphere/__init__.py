"""The vSphere target: the app's services as VMs cloned from a template on vCenter.

Each VM runs the service's containers through the shared VM runtime's cloud-init, handed to
the guest as `guestinfo.userdata`. Only `provider.py` and the modules it imports use pyVmomi;
`settings.py` is pydantic only, so manifests validate without the SDK installed.
"""
