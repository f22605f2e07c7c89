"""Reading delimited text tables with errors that name the file and the physical line.

The happy path is one pandas C-engine read with explicit dtypes; everything
else here runs only when something is wrong, to say exactly what and where:

* integer columns are read by pandas' own inference and must come out as
  int64: pandas silently reads ``1.0`` or ``1e3`` as floats and would cast
  them to integers (rounding ``2**53 + 1`` to ``2**53``), so any other dtype
  means some field is not an integer literal (or overflows int64), and the
  first such field is located and reported;
* header names are read by us (a UTF-8 byte-order mark and spaces around the
  commas are accepted), must be unique and must contain the required columns;
* bytes that are not UTF-8 are reported with their line (MovieLens CSV files
  are UTF-8; the ``::`` files fall back to latin-1 elsewhere);
* a damaged zip member (zlib / CRC errors, truncation) is reported with the
  line where reading stopped;
* line numbers are physical (1-based, the header is line 1): blank lines
  count, and a quoted field spanning lines counts every line it spans; the
  line given for a record is the line where it starts, and an unterminated
  quote is reported at the line where its record starts.

``src`` is any object with ``open(name)`` (a context manager yielding a
binary file) and ``label(name)`` (a string naming the file in messages).
"""

from __future__ import annotations

import codecs
import csv
import io
import lzma
import re
import warnings
import zipfile
import zlib

import numpy as np
import pandas as pd

from ._errors import MovieLensFormatError

INT_RE = r"\s*[+-]?\d+\s*"
_INT64_MIN, _INT64_MAX = -(2**63), 2**63 - 1
_CHUNK = 1 << 24
#: What reading a damaged (zip) stream raises (zip sources convert these, and bz2's OSError, to DamagedFileError).
DAMAGED_STREAM_ERRORS = (zlib.error, lzma.LZMAError, zipfile.BadZipFile, EOFError)


class DamagedFileError(MovieLensFormatError):
    """A source file could not be read to its end (raised by the sources' ``open``)."""

    def __init__(self, label, cause):
        self.cause = f"{type(cause).__name__}: {cause}"
        super().__init__(f"{label}: the file is damaged and cannot be read ({self.cause}); "
                         "re-download or re-extract it")


_READ_ERRORS = (*DAMAGED_STREAM_ERRORS, DamagedFileError)


# ----------------------------------------------------------------------------
# physical line numbers
# ----------------------------------------------------------------------------
def _blank(row):
    """A csv row pandas skips as a blank line (empty, or only spaces / tabs)."""
    return not row or (len(row) == 1 and row[0].strip(" \t\r") == "")


def _record_start_csv(src, name, target, quoting):
    """1-based line where non-blank record ``target`` starts, following quotes like a CSV reader."""
    with src.open(name) as fh:
        text = io.TextIOWrapper(fh, encoding="utf-8", errors="replace", newline="")
        reader = csv.reader(text, strict=False, quoting=csv.QUOTE_MINIMAL if quoting else csv.QUOTE_NONE)
        line_end, index = 0, 0
        for row in reader:
            start, line_end = line_end + 1, reader.line_num
            if _blank(row):
                continue
            if index == target:
                return start
            index += 1
    return None


def _record_start_fast(src, name, target):
    """As :func:`_record_start_csv` for files without quotes, vectorised; None if a quote comes first."""
    seen = 0          # non-blank lines before this chunk
    base = 0          # newlines before this chunk
    carry = False     # the line running into this chunk already has content
    with src.open(name) as fh:
        while True:
            chunk = fh.read(_CHUNK)
            if not chunk:
                break
            b = np.frombuffer(chunk, dtype=np.uint8)
            nl = np.flatnonzero(b == 10)
            content = ~((b == 32) | (b == 9) | (b == 13) | (b == 10))
            cs = np.concatenate([[0], np.cumsum(content, dtype=np.int64)])
            starts = np.concatenate([[0], nl + 1])
            ends = np.concatenate([nl, [b.size]])
            has = (cs[ends] - cs[starts]) > 0
            has[0] |= carry
            complete = has[:-1]
            cum = np.cumsum(complete)
            total = int(cum[-1]) if cum.size else 0
            if seen + total > target:
                k = int(np.searchsorted(cum, target - seen + 1))
                if b'"' in chunk[: int(nl[k]) + 1]:
                    return None
                return base + k + 1
            if b'"' in chunk:
                return None
            seen += total
            base += nl.size
            carry = bool(has[-1])
    if carry and seen == target:
        return base + 1
    return None


def record_line(src, name, row, *, header=True, quoting=True):
    """Physical 1-based line where data row ``row`` (0-based, as pandas counts it) starts, or None."""
    target = row + (1 if header else 0)
    line = _record_start_fast(src, name, target)
    if line is None:
        line = _record_start_csv(src, name, target, quoting)
    return line


def where(src, name, row, *, header=True, quoting=True):
    """``"<file>, line N"`` for data row ``row`` (``"data row k"`` if the line cannot be found)."""
    line = record_line(src, name, row, header=header, quoting=quoting)
    return f"{src.label(name)}, line {line}" if line is not None else f"{src.label(name)}, data row {row + 1}"


def _last_record_start(src, name):
    """Line where the last record starts (the one an unterminated quote runs to the end of the file)."""
    last = None
    with src.open(name) as fh:
        text = io.TextIOWrapper(fh, encoding="utf-8", errors="replace", newline="")
        reader = csv.reader(text, strict=False)
        line_end = 0
        for row in reader:
            start, line_end = line_end + 1, reader.line_num
            if not _blank(row):
                last = start
    return last


# ----------------------------------------------------------------------------
# the errors that are not about a field's value
# ----------------------------------------------------------------------------
def damaged_stream_error(src, name):
    """A MovieLensFormatError if ``name`` cannot be read to its end (damaged zip member), else None."""
    newlines = 0
    try:
        with src.open(name) as fh:
            while True:
                chunk = fh.read(1 << 16)  # small reads: the line reported is close to the damage
                if not chunk:
                    return None
                newlines += chunk.count(b"\n")
    except _READ_ERRORS as exc:
        cause = exc.cause if isinstance(exc, DamagedFileError) else f"{type(exc).__name__}: {exc}"
        return MovieLensFormatError(
            f"{src.label(name)}, line {newlines + 1}: the file is damaged and cannot be read past this point "
            f"({cause}); re-download or re-extract it"
        )


def utf8_error(src, name):
    """A MovieLensFormatError naming the line of the first byte that is not UTF-8, or None."""
    decoder = codecs.getincrementaldecoder("utf-8")()
    offset, newlines = 0, 0
    with src.open(name) as fh:
        while True:
            chunk = fh.read(_CHUNK)
            final = not chunk
            try:
                decoder.decode(chunk, final=final)
            except UnicodeDecodeError as exc:
                pending = len(exc.object) - len(chunk)       # undecoded bytes carried from before
                pos = exc.start - pending                     # position in this chunk (may be < 0)
                head = chunk[: max(pos, 0)]
                line = newlines + head.count(b"\n") + 1
                line_start = head.rfind(b"\n") + 1 if b"\n" in head else None
                column = (pos - line_start + 1) if line_start is not None else None
                col = f", column {column}" if column is not None and column > 0 else ""
                byte = exc.object[exc.start]
                return MovieLensFormatError(
                    f"{src.label(name)}, line {line}{col}: byte 0x{byte:02x} is not valid UTF-8 "
                    "(MovieLens CSV files are UTF-8; re-encode the file)"
                )
            if final:
                return None
            offset += len(chunk)
            newlines += chunk.count(b"\n")


def read_header(src, name):
    """Column names of the first non-blank line: BOM and spaces around names dropped, quotes stripped."""
    try:
        with src.open(name) as fh:
            for raw in fh:
                text = raw.decode("utf-8", errors="replace").lstrip("\ufeff").strip()
                if text:
                    return [c.strip().strip('"').strip() for c in text.split(",")]
    except _READ_ERRORS:
        raise damaged_stream_error(src, name) from None
    return []


def check_columns(src, name, header, required):
    """Refuse a header without the ``required`` columns or naming a column twice."""
    seen = set()
    for column in header:
        if column in seen:
            raise MovieLensFormatError(f"{src.label(name)}, line 1: column {column!r} appears twice in the header "
                                       f"{header}; refusing to guess which one is meant")
        seen.add(column)
    missing = [c for c in required if c not in header]
    if missing:
        raise MovieLensFormatError(
            f"{src.label(name)}, line 1: missing column(s) {missing}; header has {header} "
            f"(expected {list(required)})"
        )


def _field_count_error(src, name, sep, header):
    """Message for the first record whose field count differs from the first record's, or None."""
    with src.open(name) as fh:
        text = io.TextIOWrapper(fh, encoding="utf-8", errors="replace", newline="")
        reader = csv.reader(text, delimiter=sep, strict=False,
                            quoting=csv.QUOTE_NONE if sep == ":" else csv.QUOTE_MINIMAL)
        expected = None
        line_end = 0
        for row in reader:
            start, line_end = line_end + 1, reader.line_num
            if _blank(row) or all(not f.strip() for f in row):
                continue
            if expected is None:
                expected = len(row)
                if header:
                    continue
            if len(row) != expected:
                if sep == ":":  # the '::' layout, split on ':' (fields at even positions)
                    return (f"{src.label(name)}, line {start}: expected {(expected + 1) // 2} '::'-separated "
                            f"fields, got {sep.join(row)!r}")
                return (f"{src.label(name)}, line {start}: expected {expected} fields, got {len(row)}: "
                        f"{sep.join(row)!r}"[:300])
    return None


def _int_problem(values):
    """(row, problem) of the first value that is not an int64 literal, or None; values are strings."""
    s = pd.Series(values, dtype=object).astype(str)
    bad = ~s.str.fullmatch(INT_RE).to_numpy(dtype=bool)
    first = int(np.flatnonzero(bad)[0]) if bad.any() else None
    # literals that look like integers but overflow int64 (only long ones can)
    long = np.flatnonzero(~bad & (s.str.len().to_numpy() > 18))
    for r in long.tolist():
        if first is not None and r > first:
            break
        if not _INT64_MIN <= int(s.iloc[r]) <= _INT64_MAX:
            return r, f"has {s.iloc[r].strip()!r}, outside the int64 range"
    if first is None:
        return None
    value = s.iloc[first]
    return first, ("is empty" if value.strip() == "" else f"has {value!r}")


def _bad_field_error(src, name, kinds, read_kwargs, header=True, fields=None):
    """Re-read as strings; message for the first field of an int/float column that is not one, or None.

    ``kinds`` maps column -> "int" | "float" | "str".
    """
    kw = dict(read_kwargs)
    kw.update(dtype=str, keep_default_na=False, na_filter=False)
    with src.open(name) as fh:
        df = pd.read_csv(fh, **kw)
    best = None
    for col, kind in kinds.items():
        if kind == "str" or col not in df.columns:
            continue
        if kind == "int":
            found = _int_problem(df[col].to_numpy())
            if found is not None and (best is None or found[0] < best[0]):
                best = (found[0], col, f"{found[1]}, expected an integer")
        else:
            s = df[col].astype(str)
            num = pd.to_numeric(s, errors="coerce").to_numpy(dtype=np.float64)
            bad = ~np.isfinite(num)
            if bad.any():
                r = int(np.flatnonzero(bad)[0])
                problem = "is empty" if s.iloc[r].strip() == "" else f"has {s.iloc[r]!r}"
                if best is None or r < best[0]:
                    best = (r, col, f"{problem}, expected a number")
    if best is None:
        return None
    r, col, problem = best
    label = (fields or {}).get(col, col)
    quoting = read_kwargs.get("quoting", csv.QUOTE_MINIMAL) != csv.QUOTE_NONE
    return f"{where(src, name, r, header=header, quoting=quoting)}: field {label!r} {problem}"


def _explain(src, name, exc, kinds, read_kwargs, header, fields):
    """The MovieLensFormatError for a failed read (only computed on this error path)."""
    if isinstance(exc, UnicodeDecodeError):
        found = utf8_error(src, name)
        if found is not None:
            return found
    found = damaged_stream_error(src, name)
    if found is not None:
        return found
    if isinstance(exc, pd.errors.ParserError) and "EOF inside string" in str(exc):
        line = _last_record_start(src, name)
        return MovieLensFormatError(f"{src.label(name)}, line {line}: a quoted field starting in this record is "
                                    "never closed (unterminated quote)")
    try:
        msg = _field_count_error(src, name, read_kwargs.get("sep", ","), header)
        if msg is None:
            msg = _bad_field_error(src, name, kinds, read_kwargs, header, fields)
    except UnicodeDecodeError:
        found = utf8_error(src, name)
        msg = str(found) if found is not None else None
    if msg is None:
        msg = f"{src.label(name)}: cannot parse: {type(exc).__name__}: {exc}"
    return MovieLensFormatError(msg)


# ----------------------------------------------------------------------------
# the read
# ----------------------------------------------------------------------------
def read_table(src, name, kinds, read_kwargs, *, header=True, fields=None):
    """Read a table with pandas' C engine; integer columns strict; any problem -> MovieLensFormatError.

    Parameters
    ----------
    kinds : dict
        Column -> "int" (must be int64 literals), "float" (float64) or "str".
    read_kwargs : dict
        Extra ``pandas.read_csv`` arguments (``sep``, ``names``, ``usecols``, ...).
    header : bool
        Whether line 1 is a header (for line numbers).
    fields : dict, optional
        Column -> name used in messages (the ``::`` layout's UserID, ...).

    Returns
    -------
    pandas.DataFrame
        Integer columns as int64, float columns as float64, str columns as object.
    """
    kw = dict(read_kwargs)
    dtypes = {c: (np.float64 if k == "float" else str) for c, k in kinds.items() if k != "int"}
    kw.update(dtype=dtypes, engine="c", index_col=False)
    try:
        with src.open(name) as fh, warnings.catch_warnings():
            # a too-long first row only warns ("loss of data"): make it an error
            warnings.simplefilter("error", pd.errors.ParserWarning)
            warnings.simplefilter("ignore", pd.errors.DtypeWarning)  # mixed chunks: caught by the dtype check
            df = pd.read_csv(fh, **kw)
    except (ValueError, TypeError, OverflowError, pd.errors.ParserError, pd.errors.ParserWarning,
            *_READ_ERRORS) as exc:
        raise _explain(src, name, exc, kinds, read_kwargs, header, fields) from None
    for col, kind in kinds.items():
        if kind != "int" or col not in df.columns:
            continue
        if len(df) == 0:
            df[col] = df[col].astype(np.int64)
        elif df[col].dtype != np.int64:
            # pandas fell back to floats (1.0, 1e3), unsigned (> 2**63 - 1), bool or strings
            exc = ValueError(f"column {col!r} is not all int64 literals")
            raise _explain(src, name, exc, kinds, read_kwargs, header, fields) from None
    return df


def parse_int(src, name, line_no, field, value):
    """One integer field of a hand-parsed (``::``) line; MovieLensFormatError naming the line otherwise."""
    if re.fullmatch(INT_RE, value) is None:
        problem = "is empty" if not value.strip() else f"has {value!r}"
        raise MovieLensFormatError(f"{src.label(name)}, line {line_no}: field {field!r} {problem}, expected an integer")
    number = int(value)
    if not _INT64_MIN <= number <= _INT64_MAX:
        raise MovieLensFormatError(f"{src.label(name)}, line {line_no}: field {field!r} has {value.strip()!r}, "
                                   "outside the int64 range, expected an integer")
    return number
