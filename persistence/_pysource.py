"""Python source laid out as ruff formats it: calls, literals, imports, docstrings.

Pure text layout, knowing nothing of what is written (_typerender decides that): so
the typed module is byte for byte the same on every machine, with or without ruff
installed. Whatever fits on a line is written on one line; whatever does not is split
one item per line with a trailing comma (ruff's "magic trailing comma" keeps that
layout). Strings use double quotes, imports are merged and sorted as ruff's isort sorts
them.

>>> print(*layout(Group("f(", ("a", "b"), ")"), 0, 88), sep="\\n")
f(a, b)
>>> print(*layout(Group("f(", ("a", "b"), ")"), 0, 6), sep="\\n")
f(
    a,
    b,
)
>>> print(quoted("it's"), quoted('say "hi"'))
"it's" 'say "hi"'
"""

from __future__ import annotations

import re
import textwrap
from dataclasses import dataclass

__all__ = [
    "Group",
    "annotated",
    "docstring",
    "from_imports",
    "layout",
    "method_docstring",
    "quoted",
    "tuple_of",
    "union",
]


@dataclass(frozen=True, slots=True)
class Group:
    """`head` + items separated by commas + `tail`: a call, a signature, a literal."""

    head: str
    items: tuple[str | Group, ...]
    tail: str


def _flat(node: str | Group) -> str:
    if isinstance(node, str):
        return node
    return node.head + ", ".join(_flat(i) for i in node.items) + node.tail


def layout(node: str | Group, indent: int, width: int, suffix: str = "") -> list[str]:
    """`node` at `indent`, on one line if it fits, else one item per line.

    >>> layout(Group("x = [", (Group("(", ("1", "2"), ")"), "3"), "]"), 4, 16)
    ['    x = [', '        (1, 2),', '        3,', '    ]']
    """
    pad = " " * indent
    flat = _flat(node)
    if isinstance(node, str) or indent + len(flat) + len(suffix) <= width or not node.items:
        return [pad + flat + suffix]
    lines = [pad + node.head]
    for item in node.items:
        lines += layout(item, indent + 4, width, ",")
    return [*lines, pad + node.tail + suffix]


def quoted(text: str) -> str:
    """A string literal as ruff writes it: double quotes unless that needs more escapes.

    >>> print(quoted("it's"), quoted('a "b"'), quoted("a\\\\b"))
    "it's" 'a "b"' "a\\\\b"
    """
    if not text.isprintable():
        return repr(text)
    if '"' in text and "'" not in text:
        return "'" + text.replace("\\", "\\\\") + "'"
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def tuple_of(head: str, items: tuple[str, ...], indent: int, width: int) -> list[str]:
    """`head` then a tuple of `items`, at `indent`: `(x,)` for one item, as ruff writes it.

    >>> tuple_of("key = ", ('"id"',), 4, 88)
    ['    key = ("id",)']
    >>> tuple_of("key = ", ('"a"', '"b"'), 4, 88)
    ['    key = ("a", "b")']
    """
    if len(items) == 1:
        return [f"{' ' * indent}{head}({items[0]},)"]
    return layout(Group(head + "(", items, ")"), indent, width)


def from_imports(lines: list[str], width: int) -> list[str]:
    """`from m import a, b` lines merged per module and sorted the way ruff's isort does
    (by module; names: CONSTANTS, then Classes, then functions).

    >>> from_imports(["from typing import cast", "from typing import TYPE_CHECKING, Any"], 88)
    ['from typing import TYPE_CHECKING, Any, cast']
    >>> from_imports(["from m import a, b"], 16)
    ['from m import (', '    a,', '    b,', ')']
    """
    merged: dict[str, set[str]] = {}
    for line in lines:
        module, imported = line[len("from ") :].split(" import ")
        merged.setdefault(module, set()).update(n.strip() for n in imported.split(","))

    def order(name: str) -> tuple[int, str, str]:
        kind = 0 if name.isupper() and len(name) > 1 else 1 if name[:1].isupper() else 2
        return kind, name.lower(), name

    out = []
    for module, names in sorted(merged.items()):
        ordered = sorted(names, key=order)
        flat = f"from {module} import {', '.join(ordered)}"
        if len(flat) <= width:
            out.append(flat)
        else:
            out += [f"from {module} import (", *(f"    {n}," for n in ordered), ")"]
    return out


def annotated(name: str, annotation: str, indent: int, width: int) -> list[str]:
    """`name: annotation` at `indent`; too long for a line, split as ruff splits it:
    inside the brackets of a lone subscript, else in parentheses on a line of its own.

    >>> annotated("when", "datetime | None", 4, 88)
    ['    when: datetime | None']
    >>> annotated("when", "datetime | None", 4, 20)
    ['    when: (', '        datetime | None', '    )']
    >>> annotated("tags", "list[str | None]", 4, 20)
    ['    tags: list[', '        str | None', '    ]']
    >>> annotated("tags", "list[str] | None", 4, 20)
    ['    tags: (', '        list[str] | None', '    )']
    """
    pad = " " * indent
    line = f"{pad}{name}: {annotation}"
    if len(line) <= width:
        return [line]
    # One subscript (no | outside its brackets): ruff splits inside its brackets.
    head, bracket, inner = annotation.partition("[")
    if bracket and annotation.endswith("]") and _closes_last(annotation, len(head)):
        body = f"{pad}    {inner[:-1]}"
        if len(body) <= width:
            return [f"{pad}{name}: {head}[", body, f"{pad}]"]
    return [f"{pad}{name}: (", f"{pad}    {annotation}", f"{pad})"]


def _closes_last(text: str, start: int) -> bool:
    """Whether the bracket opened at `text[start]` is closed by the last character."""
    depth = 0
    for i, ch in enumerate(text[start:], start):
        depth += {"[": 1, "]": -1}.get(ch, 0)
        if depth == 0:
            return i == len(text) - 1
    return False


def union(head: str, parts: list[str], width: int) -> list[str]:
    """`head` then `parts` joined by |, as ruff writes it: on one line if it fits, else
    in parentheses, on one line or one part per line.

    >>> union("T: TypeAlias = ", ["int", "str"], 88)
    ['T: TypeAlias = int | str']
    >>> union("T: TypeAlias = ", ["int", "str"], 20)
    ['T: TypeAlias = (', '    int | str', ')']
    >>> union("T: TypeAlias = ", ["int", "str"], 12)
    ['T: TypeAlias = (', '    int', '    | str', ')']
    """
    flat = " | ".join(parts)
    if len(head) + len(flat) <= width:
        return [head + flat]
    if 4 + len(flat) <= width:
        return [head + "(", "    " + flat, ")"]
    return [head + "(", "    " + parts[0], *(f"    | {p}" for p in parts[1:]), ")"]


def _escape(line: str) -> str:
    """A line of a docstring as it reads in the source: a backslash stays a backslash,
    and the third of three quotes in a row is escaped (they would end the docstring)."""
    return line.replace("\\", "\\\\").replace('"' * 3, '""\\"')


def docstring(text: str, indent: int, width: int) -> list[str]:
    """`text` (a COMMENT ON) as a docstring at `indent`, wrapped to fit; [] if empty.

    >>> docstring("A row of  users.", 4, 88)
    ['    \"\"\"A row of users.\"\"\"']
    >>> docstring("A row of users.", 4, 20)
    ['    \"\"\"A row of', '    users.', '    \"\"\"']
    >>> docstring(" ", 0, 88)
    []
    """
    pad = " " * indent
    text = " ".join(text.split())
    if not text:
        return []
    if text.endswith('"'):
        text += " "  # a fourth quote would end the docstring early
    quote = '"' * 3
    if indent + len(text) + 6 <= width:
        return [f"{pad}{quote}{_escape(text)}{quote}"]
    lines = [_escape(line) for line in textwrap.wrap(text, width - indent - 3)]
    rest = [f"{pad}{line}" for line in lines[1:]]
    return [f"{pad}{quote}{lines[0]}", *rest, pad + quote]


def method_docstring(text: str, where: str, width: int) -> list[str]:
    """A method's docstring (at 8 spaces): `text` (a doc comment) wrapped to fit, then
    `where`, on the summary's line if all fits on one.

    >>> method_docstring("Users by name.", "(users.sql:3)", 88)
    ['        \"\"\"Users by name. (users.sql:3)\"\"\"']
    >>> print(*method_docstring("Users by name.\\n\\nNewest first.", "(users.sql:3)", 88),
    ...       sep="\\n")
            \"\"\"Users by name.
    <BLANKLINE>
            Newest first.
            (users.sql:3)
            \"\"\"
    """
    room = width - 16
    first, *rest = _paragraphs(text)
    summary = [_escape(line) for line in textwrap.wrap(first, room)] or [""]
    while rest and not rest[0]:
        rest.pop(0)  # the blank line after the summary is written below
    body = [_escape(line) for para in rest for line in textwrap.wrap(para, room) or [""]]
    if not body and len(summary) == 1 and len(summary[0]) + len(where) <= room - 2:
        text = f"{summary[0]} {where}"
    else:
        text = "\n".join([*summary, "", *body, where, ""])
    quote = '"' * 3
    return (
        f"        {quote}{text}{quote}".replace("\n", "\n        ")
        .replace("        \n", "\n")
        .split("\n")
    )


def _paragraphs(text: str) -> list[str]:
    """The comment's paragraphs, each joined onto one line to be wrapped as a whole
    (wrapping line by line leaves fragments): a blank line ends one, and so does a line
    that starts a list item; blank lines between paragraphs are kept, as "".

    >>> _paragraphs("One sentence that\\ngoes on.\\n\\n- an item\\n- another")
    ['One sentence that goes on.', '', '- an item', '- another']
    """
    paragraphs: list[str] = []
    current: list[str] = []
    for line in text.splitlines():
        stripped = line.strip()
        if current and (not stripped or _ITEM.match(stripped)):
            paragraphs.append(" ".join(current))
            current = []
        if stripped:
            current.append(stripped)
        elif paragraphs and paragraphs[-1]:
            paragraphs.append("")
    if current:
        paragraphs.append(" ".join(current))
    return paragraphs or [""]


_ITEM = re.compile(r"[-*+]\s|\d+[.)]\s")
