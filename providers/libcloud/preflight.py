"""What a libcloud deploy will read or look up, checked read-only while planning (issue 17).

The registry password, the image and the key pair were first used when the first node was created, after
the security group and volumes existed; the credentials file was read when the driver
opened, with no field path. Here each is resolved before anything is created, and a wrong
one is a settings error (exit 2) naming `targets.<target>.<field>` at its line.
"""
from __future__ import annotations

from libcloud.compute.base import NodeDriver

from portable.errors import AuthError, InputError, TargetError, TransientError
from portable.manifest.app import App
from portable.providers.base import settings_error
from portable.providers.libcloud.account import LibcloudAccount
from portable.providers.libcloud.connect import call
from portable.providers.libcloud.secrets import check_secret_push
from portable.providers.vm.preflight import check_registry_login


def check_driver(app: App, account: LibcloudAccount) -> None:
    """The driver opens: `driver` names one libcloud has and `credentials_file` is a readable JSON object."""
    try:
        account.driver(app)
    except InputError as exc:
        field = "credentials_file" if exc.message.startswith("credentials_file") else "driver"
        message = exc.message.removeprefix("credentials_file ")
        raise settings_error(app, field, message, exc.hint) from None


def check_image(app: App, account: LibcloudAccount) -> None:
    """`image` is one the driver finds (one read; outages and refused credentials pass as they are)."""
    image = account.settings.image
    driver = account.driver(app)
    try:
        if account.profile.find_image is not None:
            found = account.profile.find_image(driver, image)
        else:
            found = call(driver.get_image, image, action="find", what=f"image {image}")
    except (AuthError, TransientError):
        raise
    except TargetError as exc:  # the driver answered, and not with the image
        raise settings_error(app, "image", f"the {account.settings.driver} driver finds no image {image} ({exc.message})",
                             "set `image` to an image id the driver lists") from None
    if found is None:
        raise settings_error(app, "image", f"the {account.settings.driver} driver finds no image {image}", "set `image` to an image id the driver lists")


def check_key_pair(app: App, account: LibcloudAccount) -> None:
    """`key_name` is a key pair the driver lists (drivers that cannot look one up are not asked)."""
    name = account.settings.key_name
    driver = account.driver(app)
    if not name or type(driver).get_key_pair is NodeDriver.get_key_pair:
        return
    try:
        call(driver.get_key_pair, name, action="find", what=f"key pair {name}")
    except (AuthError, TransientError):
        raise
    except TargetError as exc:
        raise settings_error(app, "key_name", f"the {account.settings.driver} driver finds no key pair {name} ({exc.message})",
                             "import the key pair, or fix `key_name`") from None


def preflight(app: App, account: LibcloudAccount) -> None:
    check_registry_login(app, account.settings.registry)
    check_driver(app, account)
    check_image(app, account)
    check_key_pair(app, account)
    check_secret_push(app, account.settings)  # the key the secrets are pushed with (secrets.py)
