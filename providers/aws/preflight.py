"""What an aws deploy will read or look up, checked read-only while planning (issue 17).

Without this, the apply met a wrong input only where it first used it: the registry password
and the image when the first instance starts, the key pair in RunInstances, the hosted zone
at the DNS record, each after the private zone, security groups, target groups, volumes and
load balancer were created. Each check here uses only Describe/Get/List calls and raises a
settings error (exit 2) naming `targets.<target>.<field>`; auth and reachability failures
stay the target errors they are (exit 1).
"""
from __future__ import annotations

from portable.errors import NotFoundError
from portable.manifest.app import App
from portable.providers.aws.clients import AwsClients
from portable.providers.aws.dns import Dns
from portable.providers.aws.errors import call
from portable.providers.aws.instances import UBUNTU_AMI_PARAMETER
from portable.providers.aws.network import Network
from portable.providers.base import settings_error
from portable.providers.vm.preflight import check_registry_login


def check_image(app: App, clients: AwsClients) -> None:
    """`ami`, or the Ubuntu image id read from Canonical's public SSM parameter, exists here."""
    region = clients.region
    ami = clients.settings.ami
    if not ami:
        try:
            ami = str(call(clients.ssm.get_parameter, Name=UBUNTU_AMI_PARAMETER, action="read", what=f"the Ubuntu image id ({UBUNTU_AMI_PARAMETER})")["Parameter"]["Value"])
        except NotFoundError:
            raise settings_error(app, "ami", f"not set, and the default image's SSM parameter {UBUNTU_AMI_PARAMETER} does not exist in {region}",
                                 "set `ami` to an image id of this region") from None
    try:
        images = call(clients.ec2.describe_images, ImageIds=[ami], action="find", what=f"image {ami}")["Images"]
    except NotFoundError:  # "no such thing" (or a malformed id); outages and refusals pass
        images = []
    if not images:
        where = "" if clients.settings.ami else f" (read from {UBUNTU_AMI_PARAMETER})"
        raise settings_error(app, "ami", f"image {ami}{where} does not exist in {region}", "set `ami` to an image id of this region")


def check_key_pair(app: App, clients: AwsClients) -> None:
    """`key_name` names an EC2 key pair of this region."""
    name = clients.settings.key_name
    if not name:
        return
    try:
        found = call(clients.ec2.describe_key_pairs, KeyNames=[name], action="find", what=f"key pair {name}")["KeyPairs"]
    except NotFoundError:
        found = []
    if not found:
        raise settings_error(app, "key_name", f"key pair {name} does not exist in {clients.region}", "import it (aws ec2 import-key-pair) or fix `key_name`")


def check_hosted_zone(app: App, clients: AwsClients, dns: Dns) -> None:
    """`hosted_zone` (an id or a name) is a Route 53 zone this account sees."""
    zone = clients.settings.hosted_zone
    if not zone:
        return
    try:
        zone_id = dns.zone_id()
        call(clients.route53.get_hosted_zone, Id=zone_id, action="read", what=f"hosted zone {zone}")
    except NotFoundError:
        raise settings_error(app, "hosted_zone", f"Route 53 has no hosted zone {zone}", "create it, or fix `hosted_zone`") from None


def check_network(app: App, network: Network) -> None:
    """`vpc_id` and `subnet_ids` (or the region's default VPC and its subnets) exist."""
    settings = network.clients.settings
    try:
        network.subnets()
    except NotFoundError as exc:
        field = "subnet_ids" if settings.subnet_ids else "vpc_id"
        raise settings_error(app, field, exc.message, exc.hint) from None


def preflight(app: App, clients: AwsClients, network: Network, dns: Dns) -> None:
    """Every check, cheapest first; the first wrong input is raised."""
    check_registry_login(app, clients.settings.registry)
    check_network(app, network)
    check_image(app, clients)
    check_key_pair(app, clients)
    check_hosted_zone(app, clients, dns)
