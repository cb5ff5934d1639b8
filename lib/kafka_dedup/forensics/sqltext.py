"""Blank out quoted text and comments in the project's own SQL, to find its `:name` parameters.

Only for SQL this package writes (ready queries, views); what a user types is split and
classified by the engine's own parser (kafka_dedup.forensics.guard).
"""

from __future__ import annotations


def _quoted_end(text: str, i: int, backslash_escapes: bool) -> int:
    """The index after the quoted text opening at i (doubled quotes stay inside)."""
    quote, j, n = text[i], i + 1, len(text)
    while j < n:
        if backslash_escapes and text[j] == "\\" and quote != "`":
            j += 2
            continue
        if text[j] == quote:
            if j + 1 < n and text[j + 1] == quote:
                j += 2
                continue
            break
        j += 1
    return min(j + 1, n)


def mask(text: str, backslash_escapes: bool = True) -> str:
    """The text with quoted strings, quoted identifiers and comments blanked out."""
    masked = list(text)
    i, n = 0, len(text)
    while i < n:
        if text[i] in "'\"`":
            end = _quoted_end(text, i, backslash_escapes)
        elif text.startswith("--", i):
            newline = text.find("\n", i)
            end = n if newline < 0 else newline
        elif text.startswith("/*", i):
            close = text.find("*/", i + 2)
            end = n if close < 0 else close + 2
        else:
            i += 1
            continue
        for k in range(i, end):
            if masked[k] != "\n":
                masked[k] = " "
        i = end
    return "".join(masked)
