"""Ansible-style layering that remembers where every value came from.

Documents are turned into ``Node`` trees whose nodes carry a ``Loc`` (file + path).
Merging keeps the location of whichever layer supplied a value, so an error found
after layering (say a bad ``etcd.members`` inherited from a profile) is reported at
the place the user has to edit.

Rules: maps deep-merge; lists whose items are all maps with a ``name`` merge item by
item by name (new names append in order); any other value is replaced.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from fleetform.spec.errors import Loc


@dataclass(frozen=True)
class Node:
    value: Any  # dict[str, Node] | list[Node] | scalar
    loc: Loc


def to_node(value: Any, loc: Loc) -> Node:
    if isinstance(value, dict):
        return Node({k: to_node(v, loc.child(str(k))) for k, v in value.items()}, loc)
    if isinstance(value, list):
        return Node([to_node(v, loc.child(i)) for i, v in enumerate(value)], loc)
    return Node(value, loc)


def to_plain(node: Node) -> Any:
    """Plain data for validation. YAML lists become tuples: the models are frozen and
    strict, and strict tuples accept only tuples."""
    if isinstance(node.value, dict):
        return {k: to_plain(v) for k, v in node.value.items()}
    if isinstance(node.value, list):
        return tuple(to_plain(v) for v in node.value)
    return node.value


def _name_of(node: Node) -> str | None:
    if isinstance(node.value, dict):
        name = node.value.get("name")
        if name is not None and isinstance(name.value, str):
            return str(name.value)
    return None


def _is_named_list(node: Node) -> bool:
    return isinstance(node.value, list) and all(_name_of(n) is not None for n in node.value)


def merge(base: Node, over: Node) -> Node:
    """``over`` layered on top of ``base``."""
    if isinstance(base.value, dict) and isinstance(over.value, dict):
        merged = dict(base.value)
        for key, value in over.value.items():
            merged[key] = merge(merged[key], value) if key in merged else value
        return Node(merged, over.loc)
    if (
        isinstance(base.value, list)
        and isinstance(over.value, list)
        and base.value
        and over.value
        and _is_named_list(base)
        and _is_named_list(over)
    ):
        # Each override item merges into the first base item of its name; duplicates
        # stay separate items so validation reports them instead of silently fusing.
        items = list(base.value)
        index: dict[str | None, int] = {}
        for pos, item in enumerate(items):
            index.setdefault(_name_of(item), pos)
        taken: set[int] = set()
        for item in over.value:
            found = index.get(_name_of(item))
            if found is not None and found not in taken:
                items[found] = merge(items[found], item)
                taken.add(found)
            else:
                items.append(item)
        return Node(items, over.loc)
    return over


def merge_all(layers: Sequence[Node]) -> Node:
    result = layers[0]
    for layer in layers[1:]:
        result = merge(result, layer)
    return result


def locate(node: Node, path: Sequence[str | int]) -> Loc:
    """The location of ``path`` inside ``node``: the deepest node that exists, then
    the rest of the path spelled after it (for keys that are missing)."""
    loc = node.loc
    current: Node | None = node
    for key in path:
        child: Node | None = None
        if current is not None:
            if isinstance(current.value, dict) and isinstance(key, str):
                child = current.value.get(key)
            elif isinstance(current.value, list) and isinstance(key, int) and 0 <= key < len(current.value):
                child = current.value[key]
        if child is not None:
            current, loc = child, child.loc
        else:
            current, loc = None, loc.child(key)
    return loc
