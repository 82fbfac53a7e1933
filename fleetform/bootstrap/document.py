"""Deterministic YAML and the ``#cloud-config`` document shared by every role.

Documents use only standard cloud-init modules that cloud-init 22.4's schema knows
(``write_files``, ``package_update``, ``packages``, ``runcmd``). All boot logic is ONE
bash script with ``set -euo pipefail`` (cloud-init runs ``runcmd`` lines as a plain
``sh`` script that carries on after a failing line, which would let a node start etcd or
kubeadm without its secrets), run by a systemd unit until it succeeds (``units.py``):
``runcmd`` only hands it to systemd.
"""

from __future__ import annotations

import base64
import gzip
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

import yaml

from fleetform.bootstrap.units import BOOTSTRAP_UNIT, bootstrap_unit, start_commands

HEADER = "#cloud-config\n"
LIB_DIR = "/usr/local/lib/fleetform"
BOOTSTRAP_SCRIPT = f"{LIB_DIR}/bootstrap.sh"
# The EC2 limit on an instance's user data, in raw form (before base64: the gzip bytes
# of ``gzip_user_data``). Launch templates are held to it after base64 (tests).
AWS_USER_DATA_LIMIT = 16384


WIDTH = 1000  # lines longer than this are folded (never in practice)


class _Dumper(yaml.SafeDumper):
    """SafeDumper that writes multi-line strings as literal blocks (readable scripts)."""


def _str_representer(dumper: Any, data: str) -> yaml.ScalarNode:
    if "\n" in data:
        return dumper.represent_scalar("tag:yaml.org,2002:str", data, style="|")
    return dumper.represent_scalar("tag:yaml.org,2002:str", data)


_Dumper.add_representer(str, _str_representer)

# The same with libyaml's emitter (in the pinned PyYAML wheel), about 5x faster. It writes
# the same bytes except where the two emitters differ -- folding lines longer than the
# width, a mapping key of about 123-128 characters, a document that is a bare scalar --
# and `_dump` uses the pure-Python dumper for those.
_CDumper: type[yaml.SafeDumper] | None = None
if hasattr(yaml, "CSafeDumper"):

    class _CSafeDumper(yaml.CSafeDumper):
        """``_Dumper`` on libyaml."""

    _CSafeDumper.add_representer(str, _str_representer)
    _CDumper = _CSafeDumper  # type: ignore[assignment]


def _short_keys(value: Any) -> bool:
    """Every mapping key (at any depth) is a string of fewer than 100 characters."""
    stack = [value]
    while stack:
        v = stack.pop()
        if isinstance(v, dict):
            if not all(isinstance(k, str) and len(k) < 100 for k in v):
                return False
            stack.extend(v.values())
        elif isinstance(v, list):
            stack.extend(v)
    return True


_CSafe: type[yaml.SafeDumper] | None = getattr(yaml, "CSafeDumper", None)


def _dump(value: Any, *, sort_keys: bool, literal: bool = True) -> str:
    """``yaml.dump`` with ``_Dumper`` (``literal``) or ``yaml.SafeDumper`` at ``WIDTH``: on
    libyaml when that is byte-identical."""
    c_dumper, py_dumper = (_CDumper, _Dumper) if literal else (_CSafe, yaml.SafeDumper)
    if c_dumper is not None and isinstance(value, (dict, list)) and _short_keys(value):
        # width -1: libyaml never folds. When no line reaches past WIDTH, neither emitter
        # would have folded at WIDTH either, so this is exactly the pure-Python output.
        text = yaml.dump(value, Dumper=c_dumper, sort_keys=sort_keys, default_flow_style=False, width=-1)
        if max(map(len, text.split("\n"))) <= WIDTH:
            return text
    return yaml.dump(value, Dumper=py_dumper, sort_keys=sort_keys, default_flow_style=False, width=WIDTH)


def dump_as_written(value: Any, *, literal: bool = True) -> str:
    """One YAML document, keys in the order written, block style, at ``WIDTH``: what
    ``yaml.dump(value, Dumper=D, sort_keys=False, default_flow_style=False, width=1000)``
    writes, byte for byte, with D = ``_Dumper`` (multi-line strings as literal blocks) or,
    ``literal=False``, ``yaml.SafeDumper``; on libyaml whenever that is the same text."""
    return _dump(value, sort_keys=False, literal=literal)


def _canonical(value: Any) -> Any:
    """Mappings with ``apiVersion``/``kind`` first and the other keys sorted, recursively.

    Mapping order is never semantic in these files; list order is, so lists are kept.
    """
    if isinstance(value, Mapping):
        head = [k for k in ("apiVersion", "kind") if k in value]
        rest = sorted(k for k in value if k not in head)
        return {k: _canonical(value[k]) for k in [*head, *rest]}
    if isinstance(value, (list, tuple)):
        return [_canonical(v) for v in value]
    return value


def dump_yaml(value: Any) -> str:
    """One YAML document, deterministic (canonical key order, literal multi-line strings)."""
    return _dump(_canonical(value), sort_keys=False)


def dump_yaml_documents(values: Iterable[Any]) -> str:
    """A multi-document YAML stream (``---`` separated), e.g. for ``kubeadm --config``."""
    return "---\n".join(dump_yaml(v) for v in values)


@dataclass(frozen=True)
class File:
    """A ``write_files`` entry: public content only (secrets are fetched at boot)."""

    path: str
    content: str
    permissions: str = "0644"
    owner: str = "root:root"


_HEREDOC = re.compile(r"<<-?\s*'?\"?([A-Za-z_][A-Za-z0-9_]*)'?\"?")
_COMMENT = re.compile(r"^\s*#(?!!)(?!\s*shellcheck\s)")


def compact_shell(text: str) -> str:
    """A generated shell script without its comment-only and blank lines (a here-document's
    body is kept as written). The commented source is fleetform's; the machine runs the
    same commands in fewer bytes, which the EC2 user-data limit needs on control planes."""
    out: list[str] = []
    end: str | None = None
    for line in text.splitlines():
        if end is not None:
            out.append(line)
            if line.strip() == end:
                end = None
            continue
        if not line.strip() or (out and _COMMENT.match(line)):
            continue
        out.append(line)
        if (m := _HEREDOC.search(line)) is not None and not line.lstrip().startswith("#"):
            end = m.group(1)
    return "\n".join(out) + "\n"


def is_script(f: File) -> bool:
    return f.content.startswith("#!") or f.path.endswith(".sh")


def render_cloud_config(
    files: Sequence[File],
    bootstrap_script: str,
    packages: Sequence[str] = (),
    *,
    compact: bool = False,
) -> str:
    """The ``#cloud-config`` text: files, packages, and the bootstrap script with the
    unit that runs it until it succeeds."""
    paths = [f.path for f in files]
    if len(set(paths)) != len(paths) or BOOTSTRAP_SCRIPT in paths or BOOTSTRAP_UNIT in paths:
        raise ValueError(f"duplicate file paths in cloud-config: {sorted(paths)}")
    if "PRIVATE KEY" in bootstrap_script or any("PRIVATE KEY" in f.content for f in files):
        raise ValueError(
            "a private key reached the user-data; fetch it from the secret store instead"
        )
    entries = [*files, File(BOOTSTRAP_SCRIPT, bootstrap_script, "0700"),
               File(BOOTSTRAP_UNIT, bootstrap_unit(BOOTSTRAP_SCRIPT))]
    if compact:
        entries = [replace(f, content=compact_shell(f.content)) if is_script(f) else f for f in entries]
    doc: dict[str, Any] = {
        "write_files": [
            {"path": f.path, "content": f.content, "owner": f.owner, "permissions": f.permissions}
            for f in sorted(entries, key=lambda f: f.path)
        ],
        "runcmd": start_commands(),
    }
    if packages:
        doc["package_update"] = True
        doc["packages"] = sorted(set(packages))
    return HEADER + _dump(doc, sort_keys=True)


def gzip_user_data(text: str) -> bytes:
    """Gzip a document (cloud-init detects gzip); reproducible (mtime 0)."""
    return gzip.compress(text.encode(), compresslevel=9, mtime=0)


def user_data_base64(text: str) -> str:
    """Base64 of the gzipped document, for ``aws.ec2.Instance(user_data_base64=...)``."""
    return base64.b64encode(gzip_user_data(text)).decode()
