"""Writes the keys and passwords docker-compose.yml needs: ``secrets/`` and ``.env``.

Kafka passwords are files, one per principal (``secrets/kafka/ROLE.password``): the services
read them through ``KIBALOCK_KAFKA__PASSWORD_FILE``, and the broker and its ``kafka-init`` job
through Compose secrets. The terminal and trainer ones are for those clients where they run.

Run it once, beside docker-compose.yml, with the project's Python (``.venv/bin/python
deploy/make_secrets.py``). A file that exists is kept: templates are sealed with the template
key, and the databases were initialised with the passwords, so replacing either would lock the
services out. ``secrets/`` is readable by its owner only; the files in it are mode 0644 because
Compose bind-mounts each one as is into containers that run as another user.
"""

from __future__ import annotations

import argparse
import os
import secrets
import sys
from collections.abc import Callable
from pathlib import Path

from auth_gateway.crypto import new_key
from core.signing import generate_keypair
from devstack.kafka_roles import Role

ROOT = Path(__file__).resolve().parents[1]

# Compose variable -> what it is. Root passwords reach only the database and object store
# containers and their init jobs; each service logs in with its own user.
PASSWORDS = {
    "MONGO_ROOT_PASSWORD": "MongoDB root (mongo and its init script only)",
    "MINIO_ROOT_PASSWORD": "MinIO root (minio and minio-init only)",
    "GATEWAY_MONGO_PASSWORD": "MongoDB user gateway",
    "PROVISION_MONGO_PASSWORD": "MongoDB user provision",
    "PUBLISHER_MONGO_PASSWORD": "MongoDB user publisher",
    "TRAINER_MONGO_PASSWORD": "MongoDB user trainer, for a trainer run against these stores",
    "GATEWAY_S3_SECRET": "MinIO user gateway",
    "PROVISION_S3_SECRET": "MinIO user provision",
    "PUBLISHER_S3_SECRET": "MinIO user publisher",
    "TERMINAL_S3_SECRET": "MinIO user terminal (put-only on samples/), for the terminals",
    "TRAINER_S3_SECRET": "MinIO user trainer, for a trainer run against these stores",
}


def _write(path: Path, text: str, mode: int) -> bool:
    """Creates ``path`` with ``text``; False if it exists (never overwritten)."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    except FileExistsError:
        return False
    with os.fdopen(fd, "w") as handle:
        handle.write(text)
    os.chmod(path, mode)  # the process umask must not widen or narrow it
    return True


def make_secrets(root: Path) -> list[Path]:
    """Writes what is missing under ``root``; returns the files written."""
    folder = root / "secrets"
    folder.mkdir(mode=0o700, exist_ok=True)
    os.chmod(folder, 0o700)
    written: list[Path] = []
    makers: dict[str, Callable[[], str]] = {
        "template_key": new_key,
        "api_key": lambda: secrets.token_urlsafe(32),
    }
    for name, make in makers.items():
        if _write(folder / name, make() + "\n", 0o644):
            written.append(folder / name)
    kafka = folder / "kafka"
    kafka.mkdir(mode=0o700, exist_ok=True)
    os.chmod(kafka, 0o700)
    for role in Role:
        # URL-safe: the JAAS and SCRAM syntaxes of the broker's tools need no quoting of it.
        if _write(kafka / f"{role.value}.password", secrets.token_urlsafe(24) + "\n", 0o644):
            written.append(kafka / f"{role.value}.password")
    if not (folder / "models.key").exists():
        private, public = generate_keypair()
        # A new private key needs its own public half, whatever models.pub held.
        (folder / "models.pub").unlink(missing_ok=True)
        for name, text in (("models.key", private), ("models.pub", public)):
            _write(folder / name, text + "\n", 0o644)
            written.append(folder / name)
    env = root / ".env"
    present = _env_names(env)
    missing = [name for name in PASSWORDS if name not in present]
    if missing:
        lines = [f"# {PASSWORDS[n]}\n{n}={secrets.token_urlsafe(24)}\n" for n in missing]
        with env.open("a", encoding="utf-8") as handle:
            handle.write("".join(lines))
        os.chmod(env, 0o600)
        written.append(env)
    return written


def _env_names(env: Path) -> set[str]:
    if not env.is_file():
        return set()
    lines = env.read_text(encoding="utf-8").splitlines()
    return {line.split("=", 1)[0].strip() for line in lines if "=" in line and line[:1] != "#"}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", type=Path, default=ROOT, help="the docker-compose.yml folder")
    args = parser.parse_args(argv)
    written = make_secrets(args.root)
    for path in written:
        print(f"wrote {path}")
    if not written:
        print("every secret exists; nothing written")
    return 0


if __name__ == "__main__":
    sys.exit(main())
