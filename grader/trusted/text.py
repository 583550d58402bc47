"""One rule for every byte a student controls, applied where text leaves the trusted side.

A student's text (exception messages, tracebacks, captured output, file and folder names)
reaches people through results.json (Markdown that Gradescope renders in the staff's and the
student's browser), the staff's terminal (`grade`, `gradescope`, `batch`,
make_submission.py) and the batch CSV (opened in a spreadsheet). The rule:

1. `visible`: the text becomes valid, printable Unicode. Undecodable bytes, lone surrogates
   (also the `surrogateescape` ones a non-UTF-8 file name decodes to), C0/C1 controls (ESC
   and so every ANSI/CSI/OSC sequence, BEL, CR, backspace), Unicode line separators and bidi
   overrides are written as visible backslash escapes ("\\x1b", "\\udc80", "\\u202e"); only
   newline and tab stay. The result always encodes to UTF-8 and to JSON, and a terminal shows
   it as text, never as a command.
2. Markdown: a student's text appears only inside code (`code_block`, `code_span`,
   `table_cell`), whose fence is longer than any backtick run in the text, so it cannot
   close it; inside code, Markdown and HTML are shown literally (no image, link or tag).
   `markdown_text` escapes every ASCII punctuation mark, for the rare place code won't do.
3. `for_csv_cell`: one line, and a cell a spreadsheet would read as a formula (starting with
   = + - @ tab or CR, OWASP "CSV injection") gets a leading apostrophe.

`visible`, `for_terminal`, `for_csv_cell` and `deep_visible` are idempotent; no function raises
on any str or bytes.
"""
from __future__ import annotations

import re

# Rendered as escapes: C0 but newline and tab, DEL, C1, surrogates, line/paragraph separators,
# and the bidi controls that reorder what a reader sees ("Trojan Source").
_HIDDEN = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\ud800-\udfff\u2028\u2029"
                     "\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]")
_BACKTICKS = re.compile("`+")
_PUNCTUATION = re.compile(r"""([!"#$%&'()*+,\-./:;<=>?@\[\\\]^_`{|}~])""")
# A spreadsheet reads a cell starting so as a formula (OWASP); tab and CR never start a cell
# here, `for_csv_cell` writes them as "\\t" and "\\r". Full-width forms too, for some locales.
FORMULA_STARTS = tuple("=+-@\uff1d\uff0b\uff0d\uff20")


def _escape(match: re.Match) -> str:
    code = ord(match.group())
    if 0xDC80 <= code <= 0xDCFF:  # surrogateescape: the undecodable byte it stands for
        return f"\\x{code - 0xDC00:02x}"
    return f"\\x{code:02x}" if code <= 0xFF else f"\\u{code:04x}"


def visible(text: str | bytes) -> str:
    """`text` as printable, valid Unicode: bytes are decoded as UTF-8 (an undecodable byte
    becomes "\\xNN"); controls but newline and tab, lone surrogates, U+2028/9 and bidi
    controls become backslash escapes. Safe to print, to encode as UTF-8 and to put in JSON."""
    if isinstance(text, (bytes, bytearray)):
        text = bytes(text).decode("utf-8", "surrogateescape")
    elif not isinstance(text, str):
        text = str(text)
    return _HIDDEN.sub(_escape, text)


def for_terminal(text: str | bytes) -> str:
    """What a staff terminal may print: `visible` (no escape sequence reaches the terminal)."""
    return visible(text)


def _fence_for(text: str, minimum: int) -> str:
    longest = max((len(run) for run in _BACKTICKS.findall(text)), default=0)
    return "`" * max(minimum, longest + 1)


def code_block(text: str | bytes) -> str:
    """A fenced Markdown code block showing `text` literally ("" for empty text): the fence is
    longer than any backtick run in the text, so no line of it can close the block."""
    text = visible(text)
    if not text:
        return ""
    fence = _fence_for(text, 3)
    return f"{fence}\n{text}\n{fence}"


def code_span(text: str | bytes) -> str:
    """An inline Markdown code span showing `text` literally on one line (newlines and tabs
    become spaces; "" for empty text); padded with a space on each side, which CommonMark
    strips, so a leading or trailing backtick cannot join the fence."""
    text = visible(text).replace("\n", " ").replace("\t", " ")
    if not text.strip():
        return ""
    fence = _fence_for(text, 1)
    return f"{fence} {text} {fence}"


def table_cell(text: str | bytes) -> str:
    """A Markdown table cell showing `text` literally: a code span in which "|" becomes "¦"
    (GFM splits a row at a pipe even inside code, and its backslash escape is itself
    escapable, so the pipe is replaced rather than escaped)."""
    return code_span(visible(text).replace("|", "\u00a6"))


def markdown_text(text: str | bytes) -> str:
    """`text` as Markdown prose that renders literally: every ASCII punctuation mark is
    backslash-escaped (no emphasis, link, image, HTML tag or autolink can start); newlines
    are kept."""
    return _PUNCTUATION.sub(r"\\\1", visible(text))


def for_csv_cell(value):
    """A value for one CSV cell a person will open in a spreadsheet: numbers (not bools) are
    returned as they are; anything else becomes one line of `visible` text (newline, CR and
    tab as "\\n", "\\r", "\\t"), and a cell starting like a formula gets a leading apostrophe."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return value
    text = visible(value if isinstance(value, (str, bytes, bytearray)) else str(value))
    text = text.replace("\n", "\\n").replace("\t", "\\t")  # a leading tab or CR is now "\\"
    return "'" + text if text.startswith(FORMULA_STARTS) else text


def deep_visible(value):
    """`value` (JSON-like: dicts, lists, str, numbers) with every string, key included, made
    `visible`: the last pass before results.json is written."""
    if isinstance(value, str):
        return visible(value)
    if isinstance(value, dict):
        return {visible(str(k)): deep_visible(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [deep_visible(v) for v in value]
    return value


def describe(exc: BaseException, limit: int = 1000) -> str:
    """"Type: message" of an exception whose __str__ may raise, loop or return anything,
    `visible` and at most `limit` characters; never raises."""
    try:
        name = type(exc).__name__
        name = name if isinstance(name, str) else "Exception"
    except Exception:  # noqa: BLE001 - a hostile metaclass
        name = "Exception"
    try:
        message = str(exc)
        message = message if isinstance(message, str) else ""
    except Exception:  # noqa: BLE001 - a hostile __str__ fails its own test, not the grader
        message = "<the exception's message could not be read>"
    text = f"{name}: {message}" if message else name
    return visible(text[:limit])
