"""The one escaping rule (grader/trusted/text.py): each function on the attacks of issue 19,
then random text through every function (hypothesis; derandomized, so CI is repeatable)."""
import json
import re

from hypothesis import given, settings, strategies as st

from grader.trusted import text

CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\ud800-\udfff\u2028\u2029\u202a-\u202e"
                     "\u2066-\u2069]")
FUZZ = settings(max_examples=300, deadline=None, derandomize=True)
ANY_TEXT = st.one_of(st.text(), st.binary().map(lambda b: b.decode("utf-8", "surrogateescape")),
                     st.text(alphabet="`|<>![]()\\\x1b\r\n\t =+-@:ahtpimg"))


def test_escape_sequences_are_shown_not_obeyed():
    shown = text.visible("\x1b]0;pwned\x07\x1b[2J\x9b31m\rdone\u202e")
    assert shown == "\\x1b]0;pwned\\x07\\x1b[2J\\x9b31m\\x0ddone\\u202e"


def test_undecodable_bytes_and_lone_surrogates_become_valid_utf8():
    name = b"caf\xe9/\xff".decode("utf-8", "surrogateescape")
    assert text.visible(name) == "caf\\xe9/\\xff" == text.visible(b"caf\xe9/\xff")
    assert text.visible("\ud800x").encode("utf-8") == b"\\ud800x"


def test_code_cannot_be_closed_by_the_text_it_shows():
    block = text.code_block("```\n![x](http://evil/t.png)\n`````")
    assert block.startswith("``````\n") and block.endswith("\n``````")
    assert text.code_span("a ``b`` c") == "``` a ``b`` c ```"
    assert text.table_cell("x | ![i](u)") == "` x \u00a6 ![i](u) `"


def test_markdown_text_starts_no_markup():
    assert text.markdown_text("![i](http://e) <img src=x> <http://e>") == (
        "\\!\\[i\\]\\(http\\:\\/\\/e\\) \\<img src\\=x\\> \\<http\\:\\/\\/e\\>")


def test_csv_cells_never_start_a_formula():
    assert [text.for_csv_cell(v) for v in ("=HYPERLINK(1)", "+1", "-2", "@SUM(A1)", "\t=1",
                                           "\r=1", "\uff1d1", "ok", 3.5, 7)] == [
        "'=HYPERLINK(1)", "'+1", "'-2", "'@SUM(A1)", "\\t=1", "\\x0d=1", "'\uff1d1", "ok",
        3.5, 7]
    assert text.for_csv_cell("a\nb") == "a\\nb"


def test_an_exception_whose_str_raises_is_still_described():
    class Hostile(Exception):
        def __str__(self):
            raise RuntimeError("no")
    assert text.describe(Hostile()) == "Hostile: <the exception's message could not be read>"
    assert text.describe(ValueError("\ud800" + "x" * 5000), limit=10) == "ValueError"[:10]


@FUZZ
@given(ANY_TEXT)
def test_no_function_lets_a_control_through(value):
    for function in (text.visible, text.code_block, text.code_span, text.table_cell,
                     text.markdown_text, text.for_csv_cell):
        shown = function(value)
        assert not CONTROL.search(shown)
        shown.encode("utf-8")
        assert json.loads(json.dumps(shown, ensure_ascii=False)) == shown
    for function in (text.visible, text.for_csv_cell):
        assert function(function(value)) == function(value)


@FUZZ
@given(ANY_TEXT)
def test_code_holds_the_whole_text(value):
    block = text.code_block(value)
    if block:
        fence = block.split("\n", 1)[0]
        assert set(fence) == {"`"} and fence not in block[len(fence):-len(fence)]
    span = text.code_span(value)
    if span:
        fence = span.split(" ", 1)[0]
        assert fence not in span[len(fence):-len(fence)]
        assert "\n" not in span
    assert "|" not in text.table_cell(value)
    assert not text.for_csv_cell(value).startswith(tuple("=+-@\t\r"))
