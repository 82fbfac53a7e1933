"""The rule on secret material: none in user-data, none in any plain value."""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Iterator, Mapping
from typing import Any

from policies.rules.base import Options, Rule, _dict, _list, registry
from policies.rules.bootfiles import cloud_config_files, user_data_texts, yaml_documents

RULES: list[Rule] = []
rule = registry(RULES)


_PEM_KEY = re.compile(r"-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY-----")
_B64_PEM = re.compile(r"LS0tLS1CRUdJTi[A-Za-z0-9+/]{16,}={0,2}")
_PATTERNS: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("a kubeadm bootstrap token", re.compile(r"(?<![A-Za-z0-9.\-])[a-z0-9]{6}\.[a-z0-9]{16}(?![A-Za-z0-9.\-])")),
    ("an AWS access key id", re.compile(r"(?<![A-Z0-9])(?:AKIA|ASIA)[A-Z0-9]{16}(?![A-Z0-9])")),
    ("an AWS secret access key", re.compile(r"(?i)aws_secret_access_key\s*[:=]\s*['\"]?[A-Za-z0-9/+=]{40}")),
    ("a GCP service-account key", re.compile(r"\"private_key_id\"\s*:\s*\"[0-9a-f]{20,}\"")),
    ("a JSON Web Token", re.compile(r"eyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}")),
    ("a GitHub token", re.compile(r"\bgh[pousr]_[A-Za-z0-9]{36,}")),
    ("a Slack token", re.compile(r"\bxox[abposr]-[A-Za-z0-9-]{10,}")),
    ("a kubeconfig client key", re.compile(r"client-key-data:\s*['\"]?[A-Za-z0-9+/]{16,}")),
)
_PLACEHOLDER = re.compile(r"^\{\{[^}]+\}\}$")


def secret_findings(text: str) -> list[str]:
    """What secret material ``text`` contains (kinds only: never the value itself)."""
    found: list[str] = []
    if _PEM_KEY.search(text):
        found.append("a PEM private key")
    for blob in _B64_PEM.findall(text):
        try:
            decoded = base64.b64decode(blob + "=" * (-len(blob) % 4)).decode("ascii", errors="replace")
        except (binascii.Error, ValueError):
            continue
        if _PEM_KEY.search(decoded):
            found.append("a base64-encoded PEM private key")
            break
    for what, pattern in _PATTERNS:
        if pattern.search(text):
            found.append(what)
    for doc in yaml_documents(text) if "EncryptionConfiguration" in text else ():
        if doc.get("kind") != "EncryptionConfiguration":
            continue
        for entry in _list(doc.get("resources")):
            for provider in _list(_dict(entry).get("providers")):
                for cfg in _dict(provider).values():
                    for key in _list(_dict(cfg).get("keys")):
                        secret = _dict(key).get("secret")
                        if isinstance(secret, str) and secret and not _PLACEHOLDER.match(secret):
                            found.append("an encryption-at-rest key")
    return list(dict.fromkeys(found))


def _strings(value: Any, path: str) -> Iterator[tuple[str, str]]:
    if isinstance(value, str):
        yield path, value
    elif isinstance(value, Mapping):
        for k, v in value.items():
            yield from _strings(v, f"{path}.{k}" if path else str(k))
    elif isinstance(value, list | tuple):
        for n, v in enumerate(value):
            yield from _strings(v, f"{path}[{n}]")


@rule("no-secret-material",
      "No private key, token or encryption key in machine user-data (it is readable from "
      "the instance metadata and the cloud console) or in any plain, non-secret value; "
      "machines fetch secrets from the secret store with their own identity.")
def no_secret_material(type_: str, inputs: Mapping[str, Any], options: Options) -> Iterator[str]:
    user_data_props: set[str] = set()
    for prop, text in user_data_texts(type_, inputs):
        user_data_props.add(prop.split(".")[0])
        files = cloud_config_files(text)
        sources = [(f"{prop} {path}", content) for path, content in files] or [(prop, text)]
        for where, content in sources:
            for what in secret_findings(content):
                yield f"{where} contains {what}"
    if options.secrets_masked:
        for path, value in _strings(inputs, ""):
            if path.split(".")[0].split("[")[0] in user_data_props:
                continue
            for what in secret_findings(value):
                yield f"plain (non-secret) value {path} contains {what}; make it an Output.secret"
