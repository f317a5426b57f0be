"""No two classes in payivr share a name: a name in a traceback or an import says which one."""

import ast
from collections import defaultdict
from pathlib import Path

import payivr


def classes_by_name() -> dict[str, list[str]]:
    root = Path(payivr.__file__).parent
    found: dict[str, list[str]] = defaultdict(list)
    for path in sorted(root.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ClassDef):
                found[node.name].append(f"{path.relative_to(root.parent)}:{node.lineno}")
    return found


def test_no_two_classes_share_a_name() -> None:
    found = classes_by_name()
    assert len(found) > 300
    assert {name: places for name, places in found.items() if len(places) > 1} == {}
