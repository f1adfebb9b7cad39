"""What an expression is known to be without running it: the string a constant expression folds to,
the static start of a URL, the SDK member a name reaches. The rules' walk (rules.py) records the
bindings and constants as it goes and asks these questions of the nodes it checks."""

from __future__ import annotations

from dataclasses import dataclass, field

from tree_sitter import Node

from .folding import Folder, Value
from .kinds import Kinds, kinds
from .tsparse import text


@dataclass
class StaticValues:
    src: bytes
    # local name -> SDK path: ("net",) for `import { net }`, () for `import * as sdk`, ("net", "fetch") for
    # `const { fetch } = net`.
    bindings: dict[str, tuple[str, ...]] = field(default_factory=dict)
    constants: dict[str, Value] = field(default_factory=dict)  # const NAME = <foldable value>
    dialect: str = "ts"  # the grammar the nodes come from: its kind ids (kinds.py)
    kinds: Kinds = field(init=False, repr=False)
    _folder: Folder | None = field(default=None, init=False, repr=False)

    def __post_init__(self) -> None:
        self.kinds = kinds(self.dialect)

    text = staticmethod(text)

    # -- what an expression is ------------------------------------------------------------------
    def fold(self, node: Node | None) -> str | None:
        """The string an expression always evaluates to, if that is known without running it
        (kernel/analysis/folding.py says which expressions are evaluated)."""
        return self.folder.string(node)

    def fold_value(self, node: Node | None) -> Value | None:
        """Like fold, but an array of known strings is known too (`['constr', 'uctor']`)."""
        return self.folder.value(node)

    @property
    def folder(self) -> Folder:
        if self._folder is None:
            self._folder = Folder(self.constants, self.kinds)
        return self._folder

    def prefix(self, node: Node | None) -> str | None:
        """The static start of a string expression (`https://host/${q}` -> 'https://host/'), which is
        enough to know a URL's host even when its path is computed."""
        if node is None:
            return None
        folded = self.fold(node)
        if folded is not None:
            return folded
        if node.type == "template_string":
            head = ""
            for child in node.named_children:
                if child.type == "template_substitution":
                    break
                head += self.text(child)
            return head
        if node.type == "binary_expression" and self.text(node.child_by_field_name("operator")) == "+":
            return self.prefix(node.child_by_field_name("left"))
        return None

    def sdk_path(self, node: Node | None) -> tuple[str, ...] | None:
        """The SDK path an expression names (`net.fetch` -> ("net", "fetch")), or None if not SDK.
        Finds the chain's root first, so a chain on a name not bound to the SDK reads no member names."""
        kinds = self.kinds
        members: list[Node] = []
        while node is not None:
            kind = node.kind_id
            if kind in kinds.identifier:
                root = self.bindings.get(self.text(node))
                if root is None:
                    return None
                return root + tuple(self.text(member.child_by_field_name("property"))
                                    for member in reversed(members))
            if kind in kinds.member:
                members.append(node)
                node = node.child_by_field_name("object")
            elif kind in kinds.sdk_step and node.named_child_count:
                node = node.named_children[0]
            else:
                return None
        return None

    def member_root_has(self, node: Node | None, names: frozenset[str]) -> bool:
        """Whether a member/subscript chain goes through one of `names` (e.g. `prototype`)."""
        kinds = self.kinds
        while node is not None and node.kind_id in kinds.chain:
            kind = node.kind_id
            if kind in kinds.member:
                if self.text(node.child_by_field_name("property")) in names:
                    return True
                node = node.child_by_field_name("object")
            elif kind in kinds.subscript:
                if self.fold(node.child_by_field_name("index")) in names:
                    return True
                node = node.child_by_field_name("object")
            else:
                node = node.named_children[0] if node.named_child_count else None
        return False

