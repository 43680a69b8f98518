"""The one loader for Pulumi project and stack files: safe YAML, refused when ambiguous.

PyYAML lets the last of two equal keys win silently, reads tabs only to fail with a scanner
trace, and the files may not even be UTF-8. Here every such case is an `YamlFileError` naming
the file and the line; the document is returned with the line of every node, so errors found
later (a spec field) can point at the line that set it.

Values are read as the Pulumi CLI reads them: it decodes config with Go's gopkg.in/yaml into
`interface{}`, where a scalar that looks like a timestamp stays the string it was written as
(yaml.v2/v3 decode.go, "It looks like a timestamp but for backward compatibility reasons we
set it as a string"), so `version: 2026-10-01` is the string "2026-10-01" here too. Tags that
make no JSON config value (`!!binary`, `!!set`, `!!omap`, local `!tags`) are refused naming
the field. Hostile structure is refused before it is expanded: nesting deeper than MAX_DEPTH,
aliases that expand past MAX_VALUES values (a "billion laughs"), and recursive aliases.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from mlinfra.errors import InputError, read_text
from mlinfra.wording import describe

Path_ = tuple[Any, ...]  # keys / indexes from the document root

# A stack file nests ~8 levels (config > mlinfra:platform > serving > models > 0 > canary > ...)
# and holds a few hundred values; these bounds are far above that and far below what hurts
# (the composer recurses per level; aliases multiply the values every reader walks).
MAX_DEPTH = 64
MAX_VALUES = 100_000

_STR = "tag:yaml.org,2002:str"
_TIMESTAMP = "tag:yaml.org,2002:timestamp"
# The tags of JSON-shaped values (plus the merge key `<<`), the only ones Pulumi config holds.
_VALUE_TAGS = frozenset(
    f"tag:yaml.org,2002:{t}" for t in ("str", "int", "float", "bool", "null", "map", "seq", "merge")
)


class YamlFileError(InputError):
    """A YAML file that cannot be read as the configuration it should be."""


@dataclass
class YamlDoc:
    path: Path
    data: Any
    lines: dict[Path_, int] = field(default_factory=dict)  # node path -> 1-based line
    written: dict[Path_, str] = field(default_factory=dict)  # node path -> a plain non-string scalar's text

    def line_of(self, path: Path_) -> int | None:
        """The line of the deepest node on `path` that exists (a missing field: its parent's)."""
        for n in range(len(path), -1, -1):
            if path[:n] in self.lines:
                return self.lines[path[:n]]
        return None

    def value_at(self, path: Path_) -> Any:
        """The value at `path` (None when there is none)."""
        node = self.data
        for key in path:
            try:
                node = node[key]
            except (KeyError, IndexError, TypeError):
                return None
        return node


def load_yaml(path: str | Path) -> YamlDoc:
    """Read a YAML file: UTF-8, no tab indentation, no duplicate keys, safe tags only."""
    p = Path(path)
    text = read_text(p, YamlFileError, "a YAML file")
    for n, text_line in enumerate(text.splitlines(), 1):
        indent = text_line[: len(text_line) - len(text_line.lstrip(" \t"))]
        if "\t" in indent:
            raise YamlFileError("tab in indentation; YAML indents with spaces only", file=p, line=n)
    loader = _Loader(text, p)
    try:
        node = loader.get_single_node()
    except yaml.MarkedYAMLError as e:
        mark = e.problem_mark or e.context_mark
        line = mark.line + 1 if mark is not None else None
        problem = " ".join(str(x) for x in (e.context, e.problem) if x)
        raise YamlFileError(f"YAML syntax error: {problem}", file=p, line=line) from None
    except yaml.YAMLError as e:
        raise YamlFileError(f"YAML error: {e}", file=p) from None
    finally:
        loader.dispose()
    if node is None:
        return YamlDoc(p, None)
    _check_expansion(node, p)
    doc = YamlDoc(p, None)
    _walk(node, (), doc)
    try:
        doc.data = _Loader(text).construct_document(node)
    except yaml.constructor.ConstructorError as e:
        mark = e.problem_mark
        raise YamlFileError(
            f"YAML error: {e.problem}", file=p, line=mark.line + 1 if mark is not None else None
        ) from None
    return doc


class _Loader(yaml.SafeLoader):
    """SafeLoader reading scalars as Go's yaml does into Pulumi config: no implicit timestamps
    (an explicit `!!timestamp` is its text too), and no nesting deeper than MAX_DEPTH."""

    yaml_implicit_resolvers = {
        first: [(tag, regexp) for tag, regexp in resolvers if tag != _TIMESTAMP]
        for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
    }

    def __init__(self, stream: str, file: Path | None = None):
        super().__init__(stream)
        self.file = file
        self._depth = 0

    def compose_node(self, parent: yaml.Node | None, index: Any) -> yaml.Node:
        self._depth += 1
        try:
            if self._depth > MAX_DEPTH:
                mark = self.peek_event().start_mark
                raise YamlFileError(
                    f"nested deeper than {MAX_DEPTH} levels; a Pulumi config needs a handful",
                    file=self.file,
                    line=mark.line + 1,
                )
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1


_Loader.add_constructor(_TIMESTAMP, _Loader.construct_yaml_str)


def _check_expansion(root: yaml.Node, file: Path) -> None:
    """Refuse a document whose aliases expand past MAX_VALUES values or MAX_DEPTH levels, or
    refer to a node that contains them, counted on the composed graph (each node once)."""
    sizes: dict[int, tuple[int, int]] = {}  # id(node) -> (values, depth) once expanded
    open_: set[int] = set()
    aliases = 0

    def measure(node: yaml.Node) -> tuple[int, int]:
        nonlocal aliases
        key = id(node)
        if key in sizes:
            aliases += 1
            return sizes[key]
        if key in open_:
            raise YamlFileError(
                "a YAML alias refers to the node that contains it (an endless value)",
                file=file,
                line=node.start_mark.line + 1,
            )
        open_.add(key)
        values, depth = 1, 1
        if isinstance(node, yaml.MappingNode | yaml.SequenceNode):
            for child in _children(node):
                v, d = measure(child)
                values, depth = values + v, max(depth, d + 1)
        open_.discard(key)
        sizes[key] = (values, depth)
        if values > MAX_VALUES or depth > MAX_DEPTH:
            what = (
                f"more than {MAX_VALUES:,} values (a Pulumi config holds a few hundred)"
                if values > MAX_VALUES
                else f"more than {MAX_DEPTH} levels deep"
            )
            raise YamlFileError(
                f"YAML aliases expand this document to {what}" if aliases else f"the document holds {what}",
                file=file,
                line=node.start_mark.line + 1,
            )
        return values, depth

    measure(root)


def _children(node: yaml.Node) -> list[yaml.Node]:
    if isinstance(node, yaml.MappingNode):
        return [n for pair in node.value for n in pair]
    return list(node.value)


def _walk(node: yaml.Node, path: Path_, doc: YamlDoc) -> None:
    file = doc.path
    doc.lines[path] = node.start_mark.line + 1
    if node.tag not in _VALUE_TAGS and node.tag != _TIMESTAMP:
        raise YamlFileError(
            f"YAML tag {_short_tag(node.tag)} makes no config value; Pulumi config holds strings, "
            "numbers, booleans, lists and mappings (write the value as a plain string)",
            file=file,
            line=node.start_mark.line + 1,
            field=_dotted(path) or None,
        )
    if isinstance(node, yaml.ScalarNode) and node.style is None and node.tag != _STR:
        doc.written[path] = node.value
    if isinstance(node, yaml.MappingNode):
        seen: dict[Any, int] = {}
        for key_node, value_node in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                _walk(value_node, path, doc)
                continue
            key = key_node.value if isinstance(key_node, yaml.ScalarNode) else None
            if key is None or key_node.tag not in _VALUE_TAGS:
                raise YamlFileError(
                    "a key must be a plain value", file=file, line=key_node.start_mark.line + 1
                )
            if key in seen:
                raise YamlFileError(
                    f"duplicate key {key!r} (first at line {seen[key]}); YAML keeps only one of them",
                    file=file,
                    line=key_node.start_mark.line + 1,
                    field=_dotted((*path, key)),
                )
            seen[key] = key_node.start_mark.line + 1
            _walk(value_node, (*path, key), doc)
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            _walk(item, (*path, i), doc)


def _short_tag(tag: str) -> str:
    return "!!" + tag.removeprefix("tag:yaml.org,2002:") if tag.startswith("tag:yaml.org,2002:") else tag


def _dotted(path: Path_) -> str:
    return ".".join(str(p) for p in path)


def require_mapping(doc: YamlDoc, path: Path_, what: str, allow_missing: bool = True) -> dict[str, Any]:
    """The mapping at `path` of the document ({} when absent and allowed), or a YamlFileError."""
    node: Any = doc.data
    for key in path:
        node = node.get(key) if isinstance(node, dict) else None
    if node is None and allow_missing:
        return {}
    if not isinstance(node, dict):
        raise YamlFileError(
            f"{'must be' if path else what + ' must be'} a mapping (key: value lines), got {_kind(node)}",
            file=doc.path,
            line=doc.line_of(path),
            field=_dotted(path) or None,
        )
    return node


_kind = describe
