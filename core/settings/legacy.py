"""Older configuration names, mapped onto the settings tree.

The original integration note's config file has three sections: ``shared`` (paths),
``lifemodo`` (the trainer) and ``kibalock`` (the gateway). Each of their keys has moved to a
key of the tree (:data:`MOVED`; the other keys of ``lifemodo`` and ``kibalock`` keep their
name under ``trainer`` and ``gateway``), or has no effect here and is accepted with a warning
saying why (:data:`NO_EFFECT`). The same table maps the older environment names
(``KIBALOCK_KIBALOCK__API_KEY``, ``KIBALOCK_MODELS__SIGNING_KEY``, ``KIBALOCK_ASR_MODEL_DIR``,
...). docs/configuration.md shows it to users.

When a legacy key and its new key are both set, the new key wins.
"""

from __future__ import annotations

import copy
import logging
from collections.abc import Callable, Iterator, Mapping
from typing import Any

from core.settings.files import UnknownKey

# The standard logger: core.logging itself reads the settings, and routes these records.
log = logging.getLogger(__name__)

RENAMED_SECTIONS = {"kibalock": "gateway", "lifemodo": "trainer"}
LEGACY_SECTIONS = ("shared", *RENAMED_SECTIONS)

MOVED = {
    "shared.cache_dir": "cache_dir",
    "shared.models_dir": "models.files_dir",
    "lifemodo.training_enabled": "trainer.enabled",
    "lifemodo.auto_export_to_kibalock": "trainer.auto_publish",
    "kibalock.use_custom_models": "gateway.follow_registry",
    "models.signing_key": "models.publisher.signing_key",
    "models.signing_key_file": "models.publisher.signing_key_file",
    "models.trusted_keys": "models.trust.public_keys",
    "models.trusted_keys_file": "models.trust.public_keys_file",
    "asr_model_dir": "models.asr_dir",
}

NO_EFFECT = {
    "shared.embeddings_dir": (
        "templates are kept encrypted in MongoDB (the templates collection), not in files"
    ),
    "shared.temp_dir": "temporary files go to the system's temporary directory (TMPDIR)",
    "lifemodo.export_formats": "models are published and loaded as ONNX only",
    "kibalock.fallback_to_pretrained": (
        "a gateway always serves the packaged 1.0.0 models while no published version has "
        "passed verification and its canary"
    ),
    "kibalock.model_update_check": (
        "gateways hear of new versions on models.published and re-check the registry every "
        "models.sync_interval_s; gateway.follow_registry = false turns both off"
    ),
    "kibalock.target_fmr": (
        "the acceptance threshold and its target FMR come from the decision policy "
        "(core/biometrics/default_policy.json, made by `kibalock gateway policy`)"
    ),
}

_ENV_PREFIX = "kibalock_"


def moved_to(path: str) -> str | None:
    """The tree key that legacy key ``path`` (dotted) moved to, or None."""
    if path in MOVED:
        return MOVED[path]
    section, _, rest = path.partition(".")
    if section in RENAMED_SECTIONS and rest and path not in NO_EFFECT:
        return f"{RENAMED_SECTIONS[section]}.{rest}"
    return None


def translate_file(
    data: Mapping[str, Any], source: str, keys_under: Callable[[str], list[str]]
) -> dict[str, Any]:
    """A config file's data with its legacy keys moved, or dropped with a warning.

    ``keys_under(section)`` lists the keys of a section of the tree (dotted; "" is the top): a
    legacy key that maps to no key raises :class:`UnknownKey` under the name the file gave it.
    """
    out = copy.deepcopy(dict(data))
    for path, value in list(_pop_legacy(out)):
        new = moved_to(path)
        if path not in NO_EFFECT:
            parent, _, leaf = (new or "").rpartition(".")
            known = keys_under(parent) if new else []
            if leaf not in known:
                legacy = [k.rsplit(".", 1)[-1] for k in _legacy_keys(path.rsplit(".", 1)[0])]
                raise UnknownKey(source, path, known + legacy)
        target = _target(path, lambda p: _has(out, p), _dotted, source)
        if target is not None:
            _set(out, target, value)
    return out


def translate_env(env: Mapping[str, str | None]) -> dict[str, str | None]:
    """Environment variables (names lower-cased, as the settings read them) with legacy names
    replaced by their new names, or dropped with a warning."""
    out = dict(env)
    for name, value in env.items():
        if not name.startswith(_ENV_PREFIX):
            continue
        path = name.removeprefix(_ENV_PREFIX).replace("__", ".")
        if path not in NO_EFFECT and moved_to(path) is None:
            continue
        del out[name]
        target = _target(path, lambda p: _env_name(p) in out, _env_spelling, "environment")
        if target is not None:
            out[_env_name(target)] = value
    return out


def _target(
    path: str, is_set: Callable[[str], bool], spell: Callable[[str], str], source: str
) -> str | None:
    """Where a legacy key's value goes: its new key, or None if it is dropped (or unknown)."""
    if path in NO_EFFECT:
        log.warning("%s: %s has no effect: %s", source, spell(path), NO_EFFECT[path])
        return None
    new = moved_to(path)
    if new is None:
        return None
    if is_set(new):
        log.warning("%s: %s is ignored: %s is set", source, spell(path), spell(new))
        return None
    log.info("%s: %s is read as %s", source, spell(path), spell(new))
    return new


def _legacy_keys(section: str) -> list[str]:
    return [k for k in (*MOVED, *NO_EFFECT) if k.startswith(f"{section}.")]


def _pop_legacy(data: dict[str, Any]) -> Iterator[tuple[str, Any]]:
    """Removes and yields every legacy key of ``data`` as (dotted path, value)."""
    for section in LEGACY_SECTIONS:
        if isinstance(data.get(section), dict):
            for key, value in data.pop(section).items():
                yield f"{section}.{key}", value
    for path in (*MOVED, *NO_EFFECT):
        if path.split(".", 1)[0] not in LEGACY_SECTIONS and _has(data, path):
            yield path, _pop(data, path)


def _has(data: Mapping[str, Any], path: str) -> bool:
    node: Any = data
    for key in path.split("."):
        if not isinstance(node, Mapping) or key not in node:
            return False
        node = node[key]
    return True


def _pop(data: dict[str, Any], path: str) -> Any:
    *parents, leaf = path.split(".")
    node = data
    for key in parents:
        node = node[key]
    return node.pop(leaf)


def _set(data: dict[str, Any], path: str, value: Any) -> None:
    *parents, leaf = path.split(".")
    node = data
    for key in parents:
        node = node.setdefault(key, {})
    node[leaf] = value


def _dotted(path: str) -> str:
    return path


def _env_name(path: str) -> str:
    return _ENV_PREFIX + path.replace(".", "__")


def _env_spelling(path: str) -> str:
    return _env_name(path).upper()
