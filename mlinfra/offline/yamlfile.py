"""The one loader for Pulumi project and stack files: safe YAML, refused when ambiguous.

PyYAML lets the last of two equal keys win silently, reads tabs only to fail with a scanner
trace, and the files may not even be UTF-8. Here every such case is an `YamlFileError` naming
the file and the line; the document is returned with the line of every node, so errors found
later (a spec field) can point at the line that set it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from mlinfra.errors import InputError, read_text
from mlinfra.wording import describe

Path_ = tuple[Any, ...]  # keys / indexes from the document root


class YamlFileError(InputError):
    """A YAML file that cannot be read as the configuration it should be."""


@dataclass
class YamlDoc:
    path: Path
    data: Any
    lines: dict[Path_, int] = field(default_factory=dict)  # node path -> 1-based line

    def line_of(self, path: Path_) -> int | None:
        """The line of the deepest node on `path` that exists (a missing field: its parent's)."""
        for n in range(len(path), -1, -1):
            if path[:n] in self.lines:
                return self.lines[path[:n]]
        return None


def load_yaml(path: str | Path) -> YamlDoc:
    """Read a YAML file: UTF-8, no tab indentation, no duplicate keys, safe tags only."""
    p = Path(path)
    text = read_text(p, YamlFileError, "a YAML file")
    for n, text_line in enumerate(text.splitlines(), 1):
        indent = text_line[: len(text_line) - len(text_line.lstrip(" \t"))]
        if "\t" in indent:
            raise YamlFileError("tab in indentation; YAML indents with spaces only", file=p, line=n)
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as e:
        mark = e.problem_mark or e.context_mark
        line = mark.line + 1 if mark is not None else None
        problem = " ".join(str(x) for x in (e.context, e.problem) if x)
        raise YamlFileError(f"YAML syntax error: {problem}", file=p, line=line) from None
    except yaml.YAMLError as e:
        raise YamlFileError(f"YAML error: {e}", file=p) from None
    if node is None:
        return YamlDoc(p, None)
    lines: dict[Path_, int] = {}
    _walk(node, (), lines, p)
    try:
        data = yaml.SafeLoader(text).construct_document(node)
    except yaml.constructor.ConstructorError as e:
        mark = e.problem_mark
        raise YamlFileError(
            f"YAML error: {e.problem}", file=p, line=mark.line + 1 if mark is not None else None
        ) from None
    return YamlDoc(p, data, lines)


def _walk(node: yaml.Node, path: Path_, lines: dict[Path_, int], file: Path) -> None:
    lines[path] = node.start_mark.line + 1
    if isinstance(node, yaml.MappingNode):
        seen: dict[Any, int] = {}
        for key_node, value_node in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                _walk(value_node, path, lines, file)
                continue
            key = key_node.value if isinstance(key_node, yaml.ScalarNode) else None
            if key is None:
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
            _walk(value_node, (*path, key), lines, file)
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            _walk(item, (*path, i), lines, file)


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
