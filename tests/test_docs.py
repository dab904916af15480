"""The docs are true: every example runs, the config reference matches the config schema."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from toolwire._config import CONFIG_SCHEMA

ROOT = Path(__file__).parent.parent
PAGES = sorted([ROOT / "README.md", *(ROOT / "docs").rglob("*.md")])
FENCE = re.compile(r"^```python[^\n]*\n(.*?)^```", re.MULTILINE | re.DOTALL)


def examples(page: Path) -> list[str]:
    return FENCE.findall(page.read_text())


@pytest.mark.parametrize(
    "page", [p for p in PAGES if examples(p)], ids=lambda p: str(p.relative_to(ROOT))
)
def test_page_examples_run(page: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every python block of a page runs, in order, in one namespace (as a reader would paste them)."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("TOOLWIRE_CONFIG", raising=False)
    namespace: dict[str, Any] = {"__name__": f"docs_{page.stem.replace('-', '_')}"}
    for index, block in enumerate(examples(page)):
        code = compile(block, f"{page.name}[{index}]", "exec")
        exec(code, namespace)


def config_reference() -> str:
    """The reference table the operating page must hold, made from the config schema."""
    lines = ["| key | type | default | meaning |", "|---|---|---|---|"]
    for section, table in CONFIG_SCHEMA["properties"].items():
        props = table.get("properties", {})
        if section == "tools":
            props = table["additionalProperties"]["properties"]
            section = "tools.NAME"
        for key, spec in props.items():
            kind = spec.get("type") or " or ".join(json.dumps(v) for v in spec.get("enum", []))
            if kind == "array":
                kind = "list of strings"
            default = f"`{json.dumps(spec['default'])}`" if "default" in spec else "not set"
            lines.append(f"| `[{section}] {key}` | {kind} | {default} | {spec['description']} |")
        if section == "plugins":
            pack = table["additionalProperties"]
            lines.append(f"| `[plugins.NAME]` | table | empty | {pack['description']} |")
            defaults = {
                "prefix": '`""`',
                "include": "all",
                "exclude": "`[]`",
                "defer_loading": "`false`",
            }
            for key, spec in pack["properties"].items():
                kind = "list of strings" if spec["type"] == "array" else spec["type"]
                lines.append(
                    f"| `[plugins.NAME] {key}` | {kind} | {defaults[key]} | {spec['description']} |"
                )
        if section == "tools.NAME":
            lines.append(
                "| `[tools.NAME] OPTION` | any | not set | "
                f"{table['additionalProperties']['description']} |"
            )
    return "\n".join(lines)


def test_config_reference_matches_the_schema() -> None:
    """docs/operating.md lists every config key with its type and default, as the schema has them."""
    text = (ROOT / "docs" / "operating.md").read_text()
    start, end = "<!-- config-reference:start -->\n", "\n<!-- config-reference:end -->"
    documented = text.split(start)[1].split(end)[0]
    expected = config_reference()
    assert documented == expected, f"regenerate the table:\n{expected}"
