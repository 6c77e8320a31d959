"""What the migration e2e tests read back from an S3 blob store (moto): the archives of the
migration a test just ran, found through its journal beside the manifest."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import boto3

BUCKET = "portable-archives"


def this_migrations_archives(manifest_dir: Path, moto_url: str, prefix: str) -> tuple[dict[str, Any], Any, list[str]]:
    """(journal, S3 client, object keys) of the migration recorded under `manifest_dir`, whose
    blob store was `s3://portable-archives/<prefix>`; earlier runs' archives are not listed."""
    journal = json.loads(next((manifest_dir / ".portable" / "migrations").glob("*.json")).read_text())
    s3 = boto3.client("s3", endpoint_url=moto_url, region_name="us-east-1", aws_access_key_id="testing", aws_secret_access_key="testing")
    listed = s3.list_objects_v2(Bucket=BUCKET, Prefix=f"{prefix}/{journal['app']}/{journal['id']}/").get("Contents", [])
    return journal, s3, sorted(o["Key"] for o in listed)
