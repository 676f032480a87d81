"""The organisation tree (tenancy): city → district → street (→ unit) nodes, as data.

``tickets.yaml`` lists the nodes (``org``), each with its parent, optionally the grid-code prefix of
its area (a 15-digit 万米 cell code starts with its district's 6 digits and its street office's 9)
and the handling units attached to it. A case belongs to the deepest node whose prefix starts its
grid cell's code, else to the node its unit is attached to, else to the root; a user scoped to a
node sees the cases of that node's subtree. Without a tree the city is one root node, so every
case and every user is city-wide, as before tenancy.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

Kind = Literal["city", "district", "street", "unit"]
KIND_ORDER: tuple[Kind, ...] = ("city", "district", "street", "unit")
NodeId = Annotated[str, Field(pattern=r"^[A-Za-z0-9_.-]{1,64}$", description="letters, digits, _ . -")]
DEFAULT_ROOT = "city"


class OrgNode(BaseModel):
    """One node of the tree: id, name, kind, parent (none: the root), grid prefix and handling units."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    id: NodeId
    name: str = Field(min_length=1, max_length=64)
    kind: Kind
    parent: NodeId | None = None
    grid_prefix: str | None = Field(
        default=None, pattern=r"^[0-9]{1,15}$", description="the 万米 cell codes of the node's area start with this"
    )
    units: list[str] = Field(default_factory=list, description="handling units (责任单位) attached to the node")


@dataclass(frozen=True)
class OrgTree:
    """A validated tree: look up nodes, subtrees and the node a case belongs to."""

    nodes: Mapping[str, OrgNode]
    root: str
    children: Mapping[str, tuple[str, ...]]

    def subtree(self, node_id: str) -> frozenset[str]:
        """Return the ids of a node and everything under it (empty for an unknown node)."""
        if node_id not in self.nodes:
            return frozenset()
        found, todo = {node_id}, [node_id]
        while todo:
            kids = self.children.get(todo.pop(), ())
            found.update(kids)
            todo.extend(kids)
        return frozenset(found)

    def node_for(self, grid_cell: str | None, unit: str | None) -> str:
        """Return the node a case belongs to: by its grid cell, else by its unit, else the root."""
        if grid_cell:
            hits = [n for n in self.nodes.values() if n.grid_prefix and grid_cell.startswith(n.grid_prefix)]
            if hits:
                return max(hits, key=lambda n: len(n.grid_prefix or "")).id
        by_unit = {u: n.id for n in self.nodes.values() for u in n.units}
        return by_unit.get(unit or "", self.root)

    def name(self, node_id: str | None) -> str:
        """Return a node's name (the root's for None; the id itself if unknown)."""
        node = self.nodes.get(node_id or self.root)
        return node.name if node is not None else str(node_id)

    def nodes_of_kind(self, kind: Kind) -> list[OrgNode]:
        """Return the nodes of one kind, in the order the config lists them."""
        return [n for n in self.nodes.values() if n.kind == kind]


def single_root() -> OrgTree:
    """Return the tree of a city with no org configured: one root node."""
    root = OrgNode(id=DEFAULT_ROOT, name="全市", kind="city")
    return OrgTree({root.id: root}, root.id, {})


def build_tree(nodes: Iterable[OrgNode]) -> OrgTree:
    """Return the tree of the nodes (none: one root); raise ValueError saying what is wrong with it."""
    listed = list(nodes)
    if not listed:
        return single_root()
    by_id = _unique(listed)
    for n in listed:
        if n.parent is not None and n.parent not in by_id:
            raise ValueError(f"node {n.id!r}: unknown parent {n.parent!r} (known: {', '.join(sorted(by_id))})")
    _check_no_cycle(by_id)
    roots = [n.id for n in listed if n.parent is None]
    if len(roots) != 1:
        raise ValueError(f"the tree needs exactly one root (a node without parent), found {roots}")
    for n in listed:
        _check_kinds(n, by_id)
    children: dict[str, tuple[str, ...]] = {}
    for n in listed:
        if n.parent is not None:
            children[n.parent] = (*children.get(n.parent, ()), n.id)
    tree = OrgTree(by_id, roots[0], children)
    _check_units_and_prefixes(tree)
    return tree


def _unique(nodes: list[OrgNode]) -> dict[str, OrgNode]:
    seen: dict[str, OrgNode] = {}
    for n in nodes:
        if n.id in seen:
            raise ValueError(f"duplicate node id {n.id!r}")
        seen[n.id] = n
    return seen


def _check_no_cycle(by_id: Mapping[str, OrgNode]) -> None:
    for start in by_id:
        chain, parent = [start], by_id[start].parent
        while parent is not None:
            if parent in chain:
                raise ValueError(f"the parents form a cycle: {' → '.join([*chain[chain.index(parent) :], parent])}")
            chain.append(parent)
            parent = by_id[parent].parent


def _check_kinds(node: OrgNode, by_id: Mapping[str, OrgNode]) -> None:
    if node.parent is None:
        return
    parent = by_id[node.parent]
    if KIND_ORDER.index(node.kind) <= KIND_ORDER.index(parent.kind):
        raise ValueError(
            f"node {node.id!r} ({node.kind}) cannot be under {parent.id!r} ({parent.kind}): "
            f"kinds go {' → '.join(KIND_ORDER)}"
        )


def _check_units_and_prefixes(tree: OrgTree) -> None:
    owner: dict[str, str] = {}
    for n in tree.nodes.values():
        for unit in n.units:
            if unit in owner:
                raise ValueError(f"unit {unit!r} is attached to both {owner[unit]!r} and {n.id!r}")
            owner[unit] = n.id
        inherited = _ancestor_prefix(tree, n)
        if n.grid_prefix and inherited and not n.grid_prefix.startswith(inherited):
            raise ValueError(f"node {n.id!r}: grid_prefix {n.grid_prefix!r} lies outside its parent's {inherited!r}")
    prefixes = [n.grid_prefix for n in tree.nodes.values() if n.grid_prefix]
    if dupes := sorted({p for p in prefixes if prefixes.count(p) > 1}):
        raise ValueError(f"grid_prefix {dupes} given to more than one node")


def _ancestor_prefix(tree: OrgTree, node: OrgNode) -> str | None:
    parent = tree.nodes.get(node.parent or "")
    while parent is not None:
        if parent.grid_prefix:
            return parent.grid_prefix
        parent = tree.nodes.get(parent.parent or "")
    return None
