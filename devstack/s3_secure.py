"""The dev stack's S3 (versitygw) with one user per role (``stack.secure_s3``).

The roles and what each may do are the MinIO policies of the Docker deployment
(``deploy/minio-policies/USER.json``), the one source of both:

- versitygw's internal IAM keeps its accounts in ``users.json`` under ``--iam-dir``; the stack
  writes it before the gateway starts, each user with the plain ``user`` role (no bucket of its
  own, no bucket creation). The object store's root stays the dev stack's (``s3.access_key``).
- What a MinIO policy grants a user, versitygw learns from bucket policies: each statement that
  names a bucket becomes a statement of that bucket's policy, with the user as its principal.
  Grants no bucket policy can hold (``s3:ListAllMyBuckets`` on ``*``) are dropped: versitygw
  lists a user's own buckets to it, none here.
- Each user's secret lives in ``{data_dir}/s3-secure/credentials/USER.secret`` (0600), generated
  once; ``USER.env`` holds the ``KIBALOCK_S3__*`` variables that log a service in as that user.
"""

from __future__ import annotations

import json
import os
from collections import defaultdict
from pathlib import Path
from typing import Any

from pydantic import SecretStr

from core.objectstore import LOGICAL_BUCKETS, ObjectStore
from core.settings import Settings
from devstack.secret_files import generated_secret

POLICIES_DIR = Path(__file__).resolve().parents[1] / "deploy" / "minio-policies"
ARN = "arn:aws:s3:::"


def s3_dir(data_dir: Path) -> Path:
    return data_dir / "s3-secure"


def iam_dir(data_dir: Path) -> Path:
    return s3_dir(data_dir) / "iam"


def credentials_dir(settings: Settings) -> Path:
    return s3_dir(settings.stack.data_dir) / "credentials"


def policies() -> dict[str, dict[str, Any]]:
    """Each user's policy document, by user name."""
    if not POLICIES_DIR.is_dir():
        raise FileNotFoundError(
            f"{POLICIES_DIR} not found: the secure S3 of the dev stack runs from a source checkout"
        )
    return {path.stem: json.loads(path.read_text()) for path in sorted(POLICIES_DIR.glob("*.json"))}


def user_secret(settings: Settings, user: str) -> SecretStr:
    return generated_secret(credentials_dir(settings) / f"{user}.secret")


def write_iam(settings: Settings) -> Path:
    """versitygw's ``users.json``: every policy's user, with its secret (0600)."""
    accounts = {
        user: {
            "access": user,
            "secret": user_secret(settings, user).get_secret_value(),
            "role": "user",
            "userID": 0,
            "groupID": 0,
            "projectID": 0,
        }
        for user in policies()
    }
    folder = iam_dir(settings.stack.data_dir)
    folder.mkdir(parents=True, exist_ok=True)
    folder.chmod(0o700)
    path = folder / "users.json"
    staging = path.with_suffix(".partial")
    fd = os.open(staging, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        json.dump({"accessAccounts": accounts}, out)
    staging.replace(path)
    return path


def bucket_policies(settings: Settings) -> dict[str, dict[str, Any]]:
    """The policy of each bucket (by physical name) that grants the users their policies."""
    store = ObjectStore(settings)
    statements: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for user, document in policies().items():
        for statement in document["Statement"]:
            for logical in LOGICAL_BUCKETS:
                physical = store.bucket(logical)
                resources = [
                    ARN + physical + resource.removeprefix(ARN + logical)
                    for resource in statement["Resource"]
                    if resource in (ARN + logical, f"{ARN}{logical}/*")
                ]
                if resources:
                    statements[physical].append(
                        {
                            "Effect": statement["Effect"],
                            "Principal": {"AWS": [user]},
                            "Action": statement["Action"],
                            "Resource": resources,
                        }
                    )
    return {
        bucket: {"Version": "2012-10-17", "Statement": items}
        for bucket, items in statements.items()
    }


async def apply_bucket_policies(settings: Settings) -> int:
    """Sets every bucket's policy (as the store's root); returns how many buckets have one."""
    store = ObjectStore(settings)
    documents = bucket_policies(settings)
    for bucket, document in documents.items():
        await store.set_bucket_policy(bucket, json.dumps(document))
    return len(documents)


def as_user(settings: Settings, user: str) -> Settings:
    """``settings`` with the S3 login of ``user`` on the secure object store."""
    s3 = settings.s3.model_copy(
        update={"access_key": user, "secret_key": user_secret(settings, user)}
    )
    return settings.model_copy(update={"s3": s3})


def write_env_files(settings: Settings) -> dict[str, Path]:
    """One ``USER.env`` per user (0600): the variables that log a service in as that user."""
    files = {}
    for user in policies():
        s3 = as_user(settings, user).s3
        path = credentials_dir(settings) / f"{user}.env"
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as out:
            out.write(
                f"KIBALOCK_S3__ENDPOINT={s3.endpoint}\n"
                f"KIBALOCK_S3__ACCESS_KEY={s3.access_key}\n"
                f"KIBALOCK_S3__SECRET_KEY={s3.secret_key.get_secret_value()}\n"
            )
        files[user] = path
    return files
