"""docs/adapters.md runs as written."""

from __future__ import annotations

import re
from pathlib import Path

PAGE = Path(__file__).resolve().parent.parent / "docs" / "adapters.md"


def test_python_blocks_run_in_order() -> None:
    """The page's Python blocks run in order, in one namespace, without error."""
    blocks = re.findall(r"^```python\n(.*?)^```", PAGE.read_text(), flags=re.S | re.M)
    assert len(blocks) >= 2
    namespace: dict[str, object] = {"__name__": "docs_adapters"}
    for i, block in enumerate(blocks):
        code = compile(block, f"{PAGE.name}[block {i}]", "exec", dont_inherit=True)
        exec(code, namespace)  # noqa: S102 - the docs are ours, and running them is the test
