"""Machine user-data as rules read it: decoded, MIME parts unpacked, the files its
cloud-config writes, and the files rendered from templates at boot."""

from __future__ import annotations

import base64
import binascii
import contextlib
import email
import functools
import gzip
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import yaml

from policies.rules.base import (
    AWS_INSTANCE,
    AWS_LAUNCH_CONFIGURATION,
    AWS_LAUNCH_TEMPLATE,
    AWS_SPOT,
    GCP_MACHINES,
    _dict,
    _list,
    _seen,
    load_yaml,
    load_yaml_all,
)

# (property, encoding) of each machine type's user-data.
_USER_DATA: dict[str, tuple[tuple[str, str], ...]] = {
    AWS_INSTANCE: (("userData", "text"), ("userDataBase64", "base64")),
    AWS_SPOT: (("userData", "text"), ("userDataBase64", "base64")),
    AWS_LAUNCH_CONFIGURATION: (("userData", "text"), ("userDataBase64", "base64")),
    # The provider sends a launch template's user data as given: base64 (EC2's format).
    AWS_LAUNCH_TEMPLATE: (("userData", "base64"),),
}
_GCP_USER_DATA_KEYS = ("user-data", "startup-script")


def _decode_blob(raw: bytes) -> str:
    if raw[:2] == b"\x1f\x8b":
        with contextlib.suppress(OSError, EOFError):
            raw = gzip.decompress(raw)
    return raw.decode("utf-8", errors="replace")


def _decode(value: str, encoding: str) -> str:
    if encoding == "base64":
        try:
            return _decode_blob(base64.b64decode(value, validate=True))
        except (binascii.Error, ValueError):
            return value  # not base64 after all: EC2 would take it as text
    return value


def user_data_texts(type_: str, inputs: Mapping[str, Any]) -> list[tuple[str, str]]:
    """(property, decoded text) of every user-data a machine boots with.

    AWS: ``userData`` (text) / ``userDataBase64`` (base64, gzip inside when compressed);
    launch templates: ``userData`` (base64, gzip inside). GCP: ``metadata["user-data"]``,
    ``metadata["startup-script"]`` and ``metadataStartupScript``. Raises ``Unknown``
    when one is not known or masked.
    """
    out: list[tuple[str, str]] = []
    for prop, encoding in _USER_DATA.get(type_, ()):
        value = inputs.get(prop)
        if value is None or value == "":
            continue
        _seen(value, prop)
        if isinstance(value, str):
            out.append((prop, _decode(value, encoding)))
    if type_ in GCP_MACHINES:
        metadata = inputs.get("metadata")
        _seen(metadata, "metadata")
        for key in _GCP_USER_DATA_KEYS:
            value = _dict(metadata).get(key)
            if value is not None:
                _seen(value, f"metadata.{key}")
                out.append((f"metadata.{key}", str(value)))
        script = inputs.get("metadataStartupScript")
        if script is not None:
            _seen(script, "metadataStartupScript")
            out.append(("metadataStartupScript", str(script)))
    return out


def _write_file_content(entry: Mapping[str, Any]) -> str:
    content = entry.get("content")
    if not isinstance(content, str):
        return ""
    encoding = str(entry.get("encoding") or "").lower()
    try:
        raw: bytes = content.encode()
        if "b64" in encoding or "base64" in encoding:
            raw = base64.b64decode(content)
        if "gz" in encoding:
            raw = gzip.decompress(raw)
        return raw.decode("utf-8", errors="replace")
    except (binascii.Error, ValueError, OSError, EOFError):
        return content


def _parts(text: str) -> list[str]:
    """The documents inside a user-data: MIME multi-part archives are unpacked."""
    head = text.lstrip()[:200].lower()
    if not (head.startswith("content-type: multipart") or head.startswith("mime-version")):
        return [text]
    message = email.message_from_string(text)
    parts: list[str] = []
    for part in message.walk():
        if part.is_multipart():
            continue
        payload = part.get_payload(decode=True)
        if isinstance(payload, bytes):
            parts.append(_decode_blob(payload))
    return parts


@functools.lru_cache(maxsize=512)
def cloud_config_files(text: str) -> tuple[tuple[str, str], ...]:
    """(path, content) of every ``write_files`` entry of the cloud-config(s) in ``text``."""
    files: list[tuple[str, str]] = []
    for part in _parts(text):
        if not part.lstrip().startswith("#cloud-config"):
            continue
        try:
            doc = load_yaml(part)
        except yaml.YAMLError:
            continue
        for entry in _list(_dict(doc).get("write_files")):
            if isinstance(entry, Mapping) and isinstance(entry.get("path"), str):
                files.append((entry["path"], _write_file_content(entry)))
    return tuple(files)


@functools.lru_cache(maxsize=2048)
def yaml_documents(content: str) -> tuple[Mapping[str, Any], ...]:
    """The mapping documents of a (possibly multi-document) YAML file; () if it is none."""
    if ":" not in content:
        return ()
    try:
        return tuple(d for d in load_yaml_all(content) if isinstance(d, Mapping))
    except yaml.YAMLError:
        return ()


@dataclass(frozen=True)
class BootFiles:
    """The files a machine's user-data writes, and what is rendered from templates."""

    files: Mapping[str, str]
    # destination -> template, from ``ff_render_template SRC DST`` lines of the scripts
    rendered_from: Mapping[str, str]

    def content(self, path: str) -> str | None:
        if path in self.files:
            return self.files[path]
        template = self.rendered_from.get(path)
        return self.files.get(template) if template is not None else None

    def documents(self, kind: str) -> list[tuple[str, Mapping[str, Any]]]:
        return [(path, doc) for path, content in sorted(self.files.items())
                for doc in yaml_documents(content) if doc.get("kind") == kind]

    def documents_at(self, path: str, kind: str) -> list[Mapping[str, Any]]:
        content = self.content(path)
        return [d for d in yaml_documents(content or "") if d.get("kind") == kind]


_RENDER = re.compile(r"ff_render_template\s+(\S+)\s+(\S+)")


def boot_files(type_: str, inputs: Mapping[str, Any]) -> BootFiles:
    files: dict[str, str] = {}
    for _, text in user_data_texts(type_, inputs):
        files.update(cloud_config_files(text))
    rendered = {dst: src for content in files.values() for src, dst in _RENDER.findall(content)}
    return BootFiles(files, rendered)
