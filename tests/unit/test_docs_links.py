"""The documentation points only at what exists: every relative link in README.md and
docs/**/*.md resolves to a file or folder of the repository, and no file cites the old
contract outside the repository (the contract lives in docs/contract/)."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]

_LINK = re.compile(r"(?<!!)\[[^\]\n]*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
_FENCE = re.compile(r"^(```|~~~).*?^\1", re.M | re.S)
_CODE = re.compile(r"`[^`\n]*`")
_EXTERNAL = ("http://", "https://", "mailto:", "ftp://")

OLD_CONTRACT = "shared" + "/spec"
"""Spelt in two pieces so that this file does not mention it itself."""
ALLOWED = {".ci/run", "tests/integration/conftest.py"}
"""They name a build tool kept beside the checkout, not the contract."""


def links(text: str) -> list[str]:
    """The targets of the markdown links in ``text`` (code spans and fenced blocks ignored)."""
    text = _CODE.sub("", _FENCE.sub("", text))
    return [m.group(1) for m in _LINK.finditer(text)]


def test_links_parser() -> None:
    text = ("[a](x.md) [b](../y.md#part) ![img](pic.png) `[c](not.md)` [d](https://e.org)\n"
            "```\n[e](fenced.md)\n```\n[f](<z.md>) [g](w.md \"title\")")
    assert links(text) == ["x.md", "../y.md#part", "https://e.org", "z.md", "w.md"]


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: str(p.relative_to(ROOT)))
def test_relative_links_resolve(doc: Path) -> None:
    missing = []
    for target in links(doc.read_text(encoding="utf-8")):
        if target.startswith(_EXTERNAL) or target.startswith("#"):
            continue
        path = target.split("#", 1)[0].split("?", 1)[0]
        resolved = (doc.parent / path).resolve()
        if not resolved.exists() or not resolved.is_relative_to(ROOT):
            missing.append(target)
    assert not missing, f"{doc.relative_to(ROOT)} links to missing files: {missing}"


def test_no_file_cites_the_old_contract() -> None:
    listed = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
                            cwd=ROOT, capture_output=True, check=True).stdout.decode()
    citing = []
    for name in filter(None, listed.split("\0")):
        path = ROOT / name
        if name in ALLOWED or not path.is_file():
            continue
        try:
            text = path.read_text(encoding="utf-8")
        except UnicodeDecodeError:
            continue
        if OLD_CONTRACT in text:
            citing.append(name)
    assert not citing, f"cite {OLD_CONTRACT} (use docs/contract/ instead): {citing}"
