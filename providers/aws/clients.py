"""boto3 clients for one target, created once and shared by the apply threads.

A boto3 Session is not thread-safe but its clients are: the session is used only here,
under a lock. botocore's own retries are turned off; `errors.call` retries with tenacity.
"""
from __future__ import annotations

import threading
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError

from portable.engine.retry import try_timeout
from portable.providers.aws.errors import map_error
from portable.providers.aws.settings import AwsSettings


class AwsClients:
    """Lazily created ec2 / elbv2 / route53 / ssm clients for one target."""

    def __init__(self, settings: AwsSettings, target: str) -> None:
        self.settings = settings
        self.target = target  # the target name: tagged on everything, part of every lookup
        self._lock = threading.Lock()
        self._clients: dict[str, Any] = {}
        self._session: boto3.session.Session | None = None

    @property
    def session(self) -> boto3.session.Session:
        with self._lock:
            if self._session is None:
                try:
                    self._session = boto3.session.Session(profile_name=self.settings.profile, region_name=self.settings.region)
                except BotoCoreError as exc:  # e.g. AWS_PROFILE names a profile no config file has
                    raise map_error(exc, "reach", f"target {self.target}") from None
            return self._session

    @property
    def region(self) -> str | None:
        return self.session.region_name

    def client(self, service: str) -> Any:
        session = self.session
        with self._lock:
            if service not in self._clients:
                # one try's timeouts within the retry budget: a hung request must not outlive the whole budget
                timeout = try_timeout()
                config = Config(retries={"total_max_attempts": 1}, connect_timeout=min(10.0, timeout), read_timeout=timeout, user_agent_extra="portable")
                self._clients[service] = session.client(service, endpoint_url=self.settings.endpoint_url, config=config)
            return self._clients[service]

    @property
    def ec2(self) -> Any:
        return self.client("ec2")

    @property
    def elbv2(self) -> Any:
        return self.client("elbv2")

    @property
    def route53(self) -> Any:
        return self.client("route53")

    @property
    def ssm(self) -> Any:
        return self.client("ssm")
