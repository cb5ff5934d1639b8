"""Regenerate README's "Measured" section from the benches' results files.

README marks each place a results file goes:

    <!-- results: bench/reconcile/results.md -->
    (replaced by that file, its title left out)
    <!-- /results -->

Every figure between the marks is what a bench script printed; nothing there is typed by
hand. Run by every `make bench-*` target after its bench, or alone: `make bench-readme`.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BLOCK = re.compile(
    r"(?P<open><!-- results: (?P<path>\S+) -->\n)(?P<body>.*?)(?P<close><!-- /results -->)",
    re.DOTALL,
)


def embedded(text: str) -> str:
    """A results file as it sits inside README: without its title, its headings demoted
    below README's section."""
    lines = text.strip("\n").splitlines()
    if lines and lines[0].startswith("# "):
        lines = lines[1:]
    demoted = [f"###{line}" if line.startswith("#") else line for line in lines]
    return "\n".join(demoted).strip("\n") + "\n"


def regenerate(readme: str, root: Path) -> tuple[str, list[str]]:
    """README with every marked block replaced; also the results files that were missing."""
    missing: list[str] = []

    def replace(match: re.Match[str]) -> str:
        source = root / match["path"]
        if not source.is_file():
            missing.append(match["path"])
            return match[0]
        return f"{match['open']}{embedded(source.read_text(encoding='utf-8'))}{match['close']}"

    return BLOCK.sub(replace, readme), missing


def main() -> int:
    readme_path = ROOT / "README.md"
    readme = readme_path.read_text(encoding="utf-8")
    if not BLOCK.search(readme):
        print("README.md has no <!-- results: PATH --> block", file=sys.stderr)
        return 1
    updated, missing = regenerate(readme, ROOT)
    for path in missing:
        print(f"README block left as it was: {path} does not exist", file=sys.stderr)
    if updated != readme:
        readme_path.write_text(updated, encoding="utf-8")
        print("README.md: Measured section regenerated from the results files")
    return 1 if missing else 0


if __name__ == "__main__":
    sys.exit(main())
