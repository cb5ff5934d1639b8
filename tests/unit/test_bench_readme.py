"""README's Measured section is the benches' results files, regenerated, never typed."""

from __future__ import annotations

import importlib.util
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
_spec = importlib.util.spec_from_file_location("bench_readme", ROOT / "bench" / "readme.py")
assert _spec is not None and _spec.loader is not None
readme = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(readme)


def test_a_block_becomes_its_results_file_without_the_title(tmp_path: Path) -> None:
    (tmp_path / "r.md").write_text("# Title\n\nRun at commit abc: 12.5 s\n\n## Detail\n\nx\n")
    text = "intro\n<!-- results: r.md -->\nold 99 s\n<!-- /results -->\nafter\n"
    updated, missing = readme.regenerate(text, tmp_path)
    assert missing == []
    assert updated == (
        "intro\n<!-- results: r.md -->\n"
        "Run at commit abc: 12.5 s\n\n##### Detail\n\nx\n"
        "<!-- /results -->\nafter\n"
    )
    assert readme.regenerate(updated, tmp_path) == (updated, [])  # idempotent


def test_a_missing_results_file_leaves_its_block_and_is_named(tmp_path: Path) -> None:
    text = "<!-- results: gone.md -->\nold\n<!-- /results -->\n"
    assert readme.regenerate(text, tmp_path) == (text, ["gone.md"])


def test_readme_is_in_step_with_every_results_file() -> None:
    """Whoever commits a bench's results commits the README regenerated from them."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    paths = [m["path"] for m in readme.BLOCK.finditer(text)]
    assert {"bench/reconcile/results.md", "bench/steady/results.md"} <= set(paths)
    assert readme.regenerate(text, ROOT) == (text, [])
