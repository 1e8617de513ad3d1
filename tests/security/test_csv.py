"""Issue 13, item 11 (CSV) and the CSV cases of "Keep it fixed" at the parser: Excel's sep= line,
CR-only endings, one unclosed quote is a row error, formulas, CR/LF in emails, binary, BOM,
duplicate headers, too many rows."""
import pytest

from chalicelib.invitations import csv_rows


def _rows(data: bytes, step: int = 7):
    return list(csv_rows.rows([data[i:i + step] for i in range(0, len(data), step)]))


def test_excels_sep_line_names_the_delimiter_and_is_not_a_row():
    found = _rows(b"sep=;\r\nemail;name\r\na@x.org;Ana, Bell\r\nb@x.org;Bo\r\n")
    assert [(r.number, r.email, r.name) for r in found] == [(2, "a@x.org", "Ana, Bell"), (3, "b@x.org", "Bo")]


@pytest.mark.parametrize("step", [1, 3, 7, 100])
def test_cr_only_line_endings_are_lines(step):
    found = _rows(b"email,name\ra@x.org,Ana\rb@x.org,Bo\r", step)
    assert [(r.number, r.email, r.name) for r in found] == [(2, "a@x.org", "Ana"), (3, "b@x.org", "Bo")]


def test_one_unclosed_quote_is_that_rows_problem_and_the_rest_is_read():
    found = _rows(b'email,name\na@x.org,"Ana\nb@x.org,Bo\nc@x.org,"Cy"\n')
    assert [(r.number, r.email, r.problem) for r in found] == [
        (2, "", csv_rows.UNCLOSED_QUOTE), (3, "b@x.org", None), (4, "c@x.org", None)]


def test_a_quoted_cell_with_a_line_break_is_still_one_row():
    found = _rows(b'email,name\na@x.org,"Ana\nBell"\nb@x.org,Bo\n')
    assert [(r.number, r.email, r.name) for r in found] == [(2, "a@x.org", "Ana\nBell"), (4, "b@x.org", "Bo")]


@pytest.mark.parametrize("cell", ["=cmd|' /C calc'!A0", "+1+1", "-2+3", "@SUM(1)"])
def test_formula_cells_are_row_errors(cell):
    (row,) = _rows(f"email,name\na@x.org,{cell}\n".encode())
    assert row.problem and "formula" in row.problem


def test_bom_and_duplicate_headers_and_binary():
    assert _rows("\ufeffemail\na@x.org\n".encode())[0].email == "a@x.org"
    with pytest.raises(csv_rows.FileProblem) as caught:
        _rows(b"email,E-mail\na@x.org,b@x.org\n")
    assert caught.value.code == "duplicate_column"
    with pytest.raises(csv_rows.FileProblem) as caught:
        _rows(b"\x00\x01\x02PK\x03\x04" * 20)
    assert caught.value.code == "binary"


def test_a_line_break_inside_an_email_cell_never_becomes_an_address(monkeypatch):
    (row,) = _rows(b'email,name\n"a@x.org\nBcc: victim@y.org",Ana\n')
    assert "\n" in row.email  # kept as one cell: the address check refuses it as a whole
    from chalicelib.invitations.addresses import check_address

    assert not check_address(row.email).valid


def test_too_many_rows(monkeypatch):
    monkeypatch.setattr(csv_rows, "MAX_ROWS", 3)
    with pytest.raises(csv_rows.FileProblem) as caught:
        _rows(b"email\n" + b"a@x.org\n" * 4)
    assert caught.value.code == "too_many_rows"
