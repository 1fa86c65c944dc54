"""Read a user's table file (CSV or Parquet) with the file-level checks done first.

Before pandas parses a CSV file, its bytes are checked: empty or header-only,
binary or not UTF-8 (with the line and column of the first bad byte and a hint
at Latin-1), a semicolon- or tab-delimited file (named, with the delimiter to
use), a duplicated column header (pandas would silently rename it), rows with
too many fields. Only an empty cell is a missing value: text such as ``NaN``,
``NA`` or ``yes`` is kept as text, so the validation reports it instead of
silently dropping the value. Every problem is a :class:`~longmod.data.validate.Problem`
naming the file, the line and the column; the file is only read.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pandas as pd

from longmod.data.validate import Problem, TrialDataError

#: File types :func:`read_table` accepts.
TABLE_SUFFIXES: tuple[str, ...] = (".csv", ".parquet")


def _line_col(data: bytes, pos: int) -> tuple[int, int]:
    """1-based line and column (in bytes) of byte offset ``pos``."""
    line = data.count(b"\n", 0, pos) + 1
    start = data.rfind(b"\n", 0, pos) + 1
    return line, pos - start + 1


def csv_text(path: Path, data: bytes) -> str:
    """The text of a CSV file's bytes, or :class:`TrialDataError` saying why it is not usable CSV text.

    Examples
    --------
    >>> from pathlib import Path
    >>> csv_text(Path("p.csv"), b"a,b\\n1,2\\n")
    'a,b\\n1,2\\n'
    >>> csv_text(Path("p.csv"), b"")
    Traceback (most recent call last):
    ...
    longmod.data.validate.TrialDataError: 1 problem(s) in the trial data:
      - p.csv: the file is empty; a table needs a header line (column names, comma-separated) and one line per row
    """
    where = str(path)
    if not data.strip():
        raise TrialDataError([Problem(where, None, None, "the file is empty; a table needs a header line (column "
                                                         "names, comma-separated) and one line per row")])
    if b"\x00" in data[:8192]:
        line, col = _line_col(data, data.index(b"\x00"))
        raise TrialDataError([Problem(where, line, None, f"binary content (a NUL byte at column {col}): this is not a "
                                                         "CSV text file; export the table as CSV (UTF-8) or Parquet")])
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line, col = _line_col(data, exc.start)
        byte = data[exc.start]
        hint = ""
        try:
            ch = data[exc.start:exc.start + 1].decode("cp1252")
            hint = f" (in Latin-1/Windows-1252 it would be {ch!r})"
        except UnicodeDecodeError:
            pass
        raise TrialDataError([Problem(where, line, None, f"not UTF-8 text: byte 0x{byte:02x} at column {col}{hint}; "
                                                         "save the file as CSV UTF-8")]) from None


def _header_problems(where: str, text: str) -> list[Problem]:
    first = text.lstrip("\r\n").splitlines()[0]
    header = next(csv.reader([first]))
    if len(header) == 1:
        for sep, name in ((";", "semicolons"), ("\t", "tabs")):
            if sep in first:
                return [Problem(where, 1, None, f"the header is one column ({first[:60]!r}): the file looks "
                                                f"delimited by {name}; longmod reads comma-separated CSV (in a "
                                                "spreadsheet: save as 'CSV (comma delimited)')")]
    out = []
    seen: dict[str, int] = {}
    for i, name in enumerate(header, start=1):
        if name.strip() == "":
            out.append(Problem(where, 1, f"#{i}", "column without a name in the header; every column needs a name"))
            continue
        if name in seen:
            out.append(Problem(where, 1, name, f"column name appears twice in the header (columns {seen[name]} and "
                                               f"{i}); column names must be unique"))
        seen.setdefault(name, i)
    return out


def read_table(path: str | Path) -> pd.DataFrame:
    """Read a patients or measurements table, checking the file before parsing it.

    Parameters
    ----------
    path : str or pathlib.Path
        A ``.csv`` (comma-separated, UTF-8, header on line 1) or ``.parquet`` file.

    Returns
    -------
    pandas.DataFrame
        Every column as read; in a CSV only empty cells are missing values
        (``patient_id`` is text).

    Raises
    ------
    TrialDataError
        The file is missing, empty, header-only, binary, not UTF-8, not
        comma-delimited, has a duplicated or empty column name, or a row
        with too many fields.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> f = pathlib.Path(tempfile.mkdtemp()) / "m.csv"
    >>> _ = f.write_text("patient_id,day,value\\n01,0,NaN\\n")
    >>> t = read_table(f)
    >>> t["patient_id"].tolist(), t["day"].tolist(), t["value"].tolist()
    (['01'], [0], ['NaN'])
    >>> _ = f.write_text("patient_id;day;value\\n01;0;5\\n")
    >>> read_table(f)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    longmod.data.validate.TrialDataError: 1 problem(s) in the trial data:
      - ...m.csv, line 1: the header is one column ('patient_id;day;value'): the file looks delimited by semicolons; ...
    """
    path = Path(path)
    where = str(path)
    if path.suffix not in TABLE_SUFFIXES:
        raise TrialDataError([Problem(where, None, None, f"unsupported file type {path.suffix!r}; use "
                                                         f"{' or '.join(TABLE_SUFFIXES)}")])
    if not path.is_file():
        raise TrialDataError([Problem(where, None, None, "file not found")])
    if path.suffix == ".parquet":
        try:
            frame = pd.read_parquet(path)
        except ImportError as exc:
            raise TrialDataError([Problem(where, None, None, f"reading Parquet needs pyarrow ({exc}); install "
                                                             "longmod[parquet] or give a CSV file")]) from None
        except Exception as exc:  # noqa: BLE001 - any reader error means the file is not valid Parquet
            raise TrialDataError([Problem(where, None, None, f"not a valid Parquet file ({type(exc).__name__}: "
                                                             f"{exc})")]) from None
        if frame.empty:
            raise TrialDataError([Problem(where, None, None, "the table has no rows")])
        return frame
    text = csv_text(path, path.read_bytes())
    problems = _header_problems(where, text)
    if problems:
        raise TrialDataError(problems)
    try:
        frame = pd.read_csv(io.StringIO(text), dtype=str, keep_default_na=False, na_values=[""])
    except pd.errors.ParserError as exc:
        raise TrialDataError([Problem(where, None, None, f"not a well-formed CSV table: {exc}; every line needs "
                                                         "as many fields as the header")]) from None
    if frame.empty:
        raise TrialDataError([Problem(where, None, None, "the file has a header line but no data rows")])
    return _numeric(frame)


def _numeric(frame: pd.DataFrame) -> pd.DataFrame:
    """Columns whose every non-empty cell is a number become numbers; the others stay text."""
    out = frame.copy()
    for c in out.columns:
        if c == "patient_id":
            continue
        num = pd.to_numeric(out[c], errors="coerce")
        if (num.notna() | out[c].isna()).all():
            out[c] = num
    return out
