"""Secrets a VM reads at boot from its cloud's secret store, instead of carrying them.

A secret value in the user data is readable by anyone allowed to describe the instance's
attributes. So on AWS the user data carries only the names of SSM Parameter Store
SecureString parameters, and the bootstrap reads them at boot with the instance's own role
(the instance profile portable creates, allowed to read exactly this app's parameters).

Where no secret store is reachable from the machine (libcloud, vSphere), the provider pushes
the values after boot instead, over SSH or VMware Tools (secret_push.py): the bootstrap then
only waits, bounded, for them (`source = PUSHED`), and the user data carries names alone.

The reader is a small Python program (cloud-init images always have python3: cloud-init is
written in it), standard library only: credentials from the environment when set (how the
lab's tests run the real user data on a host), else from the instance metadata service
(IMDSv2, or IMDSv1 where the session API answers 403/404/405, as botocore does; PORTABLE_IMDS
overrides its address: the lab points it at moto's metadata routes), then one SigV4-signed
`AmazonSSM.GetParameter` with decryption. The value goes to a root-only file, never to
the console or a log.
"""
from __future__ import annotations

import base64
import shlex
from collections.abc import Mapping
from typing import Any

_Q = shlex.quote

SSM_READER = r'''import datetime, hashlib, hmac, json, os, sys, urllib.parse, urllib.request
name, region, endpoint = sys.argv[1], sys.argv[2], sys.argv[3] or "https://ssm.%s.amazonaws.com" % sys.argv[2]
def get(url, method="GET", headers=None):
    return urllib.request.urlopen(urllib.request.Request(url, method=method, headers=headers or {}), timeout=5).read().decode()
def credentials():
    env = os.environ
    if env.get("AWS_ACCESS_KEY_ID") and env.get("AWS_SECRET_ACCESS_KEY"):
        return env["AWS_ACCESS_KEY_ID"], env["AWS_SECRET_ACCESS_KEY"], env.get("AWS_SESSION_TOKEN")
    imds = env.get("PORTABLE_IMDS", "http://169.254.169.254")
    try:
        token = {"X-aws-ec2-metadata-token": get(imds + "/latest/api/token", "PUT", {"X-aws-ec2-metadata-token-ttl-seconds": "300"})}
    except urllib.error.HTTPError as exc:  # no IMDSv2 session API here: IMDSv1, as botocore falls back
        if exc.code not in (403, 404, 405):
            raise
        token = {}
    role = get(imds + "/latest/meta-data/iam/security-credentials/", headers=token).split()[0]
    found = json.loads(get(imds + "/latest/meta-data/iam/security-credentials/" + role, headers=token))
    return found["AccessKeyId"], found["SecretAccessKey"], found.get("Token")
key, secret, session = credentials()
body = json.dumps({"Name": name, "WithDecryption": True}).encode()
stamp = datetime.datetime.now(datetime.timezone.utc).strftime("%Y%m%dT%H%M%SZ")
url = urllib.parse.urlsplit(endpoint)
headers = {"content-type": "application/x-amz-json-1.1", "host": url.netloc, "x-amz-date": stamp, "x-amz-target": "AmazonSSM.GetParameter"}
if session:
    headers["x-amz-security-token"] = session
signed = ";".join(sorted(headers))
canonical = "\n".join(["POST", url.path or "/", "", "".join("%s:%s\n" % (k, headers[k]) for k in sorted(headers)), signed, hashlib.sha256(body).hexdigest()])
scope = "%s/%s/ssm/aws4_request" % (stamp[:8], region)
to_sign = "\n".join(["AWS4-HMAC-SHA256", stamp, scope, hashlib.sha256(canonical.encode()).hexdigest()])
k = ("AWS4" + secret).encode()
for part in (stamp[:8], region, "ssm", "aws4_request"):
    k = hmac.new(k, part.encode(), hashlib.sha256).digest()
headers["authorization"] = "AWS4-HMAC-SHA256 Credential=%s/%s, SignedHeaders=%s, Signature=%s" % (key, scope, signed, hmac.new(k, to_sign.encode(), hashlib.sha256).hexdigest())
request = urllib.request.Request(urllib.parse.urlunsplit((url.scheme, url.netloc, url.path or "/", "", "")), data=body, method="POST", headers=headers)
try:
    answer = json.loads(urllib.request.urlopen(request, timeout=10).read())
except urllib.error.HTTPError as exc:
    sys.exit("GetParameter %s: HTTP %s %s" % (name, exc.code, exc.read()[:200].decode(errors="replace")))
sys.stdout.write(answer["Parameter"]["Value"])
'''

_FETCH_FUNCTION = r'''# fetch_secret NAME PARAMETER: a root-only file read now from the cloud's secret store
fetch_secret() {
  i=0; until ( umask 077; python3 "$ROOT/read-secret.py" "$2" "$SECRET_REGION" "$SECRET_ENDPOINT" >"$ROOT/secrets/$1.new" ); do
    i=$((i+1)); [ $i -lt 10 ] || fail "could not read secret $1 (SSM parameter $2)"; sleep $((i*2)); done
  mv -f "$ROOT/secrets/$1.new" "$ROOT/secrets/$1"; chmod 0400 "$ROOT/secrets/$1"
}'''


REGISTRY_PASSWORD = "_registry-password"  # the registry password's file (and SSM parameter): no pushed manifest secret starts with "_"

PUSHED: Mapping[str, str] = {"kind": "push"}  # `secret_source`: the provider writes the files after boot
PUSH_WAIT_S = 900  # how long the bootstrap waits for pushed secrets (PORTABLE_SECRET_WAIT overrides)

_WAIT_FUNCTION = r'''# wait_secrets MARKER NAME...: until the provider has pushed every secret after boot
# (over SSH or VMware Tools, providers/vm/secret_push.py), at most PORTABLE_SECRET_WAIT seconds
wait_secrets() {
  marker=$1; shift
  limit="${PORTABLE_SECRET_WAIT:-%d}"
  echo "waiting for secrets" >"$ROOT/status"
  say "waiting up to ${limit}s for the secrets to be delivered: $*"
  deadline=$(( $(date +%%s) + limit ))
  until [ -e "$ROOT/secrets/$marker" ]; do
    [ "$(date +%%s)" -lt "$deadline" ] || fail "the secrets ($*) were not delivered within ${limit}s: portable pushes them once the machine answers"
    sleep 1
  done
  for s in "$@"; do [ -f "$ROOT/secrets/$s" ] || fail "secret $s was not delivered"; done
}''' % PUSH_WAIT_S


def delivered_marker(spec: Mapping[str, Any]) -> str:
    """The file the push writes last: named after the revision, which holds the secrets' keyed
    digests, so a replacement instance never mistakes older values for its own."""
    return f".delivered-{spec['revision']}"


def delivered_names(spec: Mapping[str, Any], *, registry_password: bool = False) -> list[str]:
    """The files the bootstrap gets through the secret channel: the group's secrets, and the
    registry password when the instances log in to a registry."""
    return [ref["name"] for ref in spec["secrets"]] + ([REGISTRY_PASSWORD] if registry_password else [])


def wait_lines(spec: Mapping[str, Any], *, registry_password: bool = False) -> list[str]:
    """Bootstrap lines that wait for the group's secrets (and the registry password) to be
    pushed (no value in them)."""
    wanted = delivered_names(spec, registry_password=registry_password)
    if not wanted:
        return []
    names = " ".join(_Q(name) for name in wanted)
    return [_WAIT_FUNCTION, f"wait_secrets {_Q(delivered_marker(spec))} {names}"]


def parameter_prefix(app: str, target: str) -> str:
    """Where an app's secrets live in SSM Parameter Store (the instance role reads only this)."""
    return f"/portable/{app}/{target}/"


def fetch_lines(spec: Mapping[str, Any], source: Mapping[str, str], *, registry_password: bool = False) -> list[str]:
    """Bootstrap lines that read the group's secrets (and, with `registry_password`, the
    registry password: file REGISTRY_PASSWORD) at boot. `source`: region, endpoint (empty for
    AWS's own), prefix (parameter_prefix); or PUSHED: wait for the provider's push."""
    if source.get("kind") == "push":
        return wait_lines(spec, registry_password=registry_password)
    wanted = delivered_names(spec, registry_password=registry_password)
    if not wanted:
        return []
    reader = base64.b64encode(SSM_READER.encode()).decode()
    out = [
        f"SECRET_REGION={_Q(source['region'])}",
        f"SECRET_ENDPOINT={_Q(source.get('endpoint') or '')}",
        f"printf '%s' {reader} | base64 -d >\"$ROOT/read-secret.py\"",
        _FETCH_FUNCTION,
    ]
    for name in wanted:
        out.append(f"fetch_secret {_Q(name)} {_Q(source['prefix'] + name)}")
    return out
