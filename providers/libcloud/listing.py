"""Every node of the account, not the first page of them.

libcloud's EC2 driver sends one DescribeInstances and ignores its `nextToken`, so it returns
only the first page (100 instances on AWS and moto; terminated instances count, and stay
listed for a while). In a region holding more, the newest nodes were invisible: a deploy
waited for its own instance until the boot timeout, observe missed live nodes (a rerun would
create them again) and destroy left them behind. Found by the hardening crash matrix, whose
many deploys on moto pass the hundred. Other drivers list everything in one call.
"""
from __future__ import annotations

from typing import Any


def all_nodes(driver: Any) -> list[Any]:
    """`driver.list_nodes()`, following EC2's nextToken until the last page."""
    from libcloud.compute.drivers.ec2 import NAMESPACE, BaseEC2NodeDriver
    from libcloud.utils.xml import findall, findtext

    if not isinstance(driver, BaseEC2NodeDriver):
        return list(driver.list_nodes())
    params: dict[str, str] = {"Action": "DescribeInstances"}
    nodes: list[Any] = []
    while True:
        elem = driver.connection.request(driver.path, params=dict(params)).object
        for reservation in findall(element=elem, xpath="reservationSet/item", namespace=NAMESPACE):
            nodes += driver._to_nodes(reservation, "instancesSet/item")
        token = findtext(element=elem, xpath="nextToken", namespace=NAMESPACE)
        if not token:
            break
        params["NextToken"] = token
    addresses = driver.ex_describe_addresses(nodes)  # as list_nodes does: elastic IPs are public IPs
    for node in nodes:
        node.public_ips.extend(addresses.get(node.id, []))
    return nodes
