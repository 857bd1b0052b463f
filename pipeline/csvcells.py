"""CSV cells safe to open in a spreadsheet, and the way back to the exact values.

Excel, LibreOffice and Google Sheets run a cell that starts with `=`, `+`, `-` or `@` (and, in
some versions, a tab or carriage return) as a formula ("formula injection"); report texts are
full of bullet lists ("- Modic type 1 changes at L4-L5."). So every CSV the project writes
escapes its string cells: a string whose first character is one of `=`, `+`, `-`, `@`, TAB, CR
or `'` gets a `'` in front (the quote itself is escaped too, so the rule can always be undone:
drop one leading `'`). Only strings are escaped; numbers, booleans and dates are written as they
are, so a negative number stays a number. results.duckdb (and texts.parquet) hold the exact
values: the CSVs are loaded into DuckDB through `unescape_sql`.

Only the first character is looked at (no regex): writing the cells is the hot path.
"""

from __future__ import annotations

from os import PathLike
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # pandas and pyarrow are imported by the helpers that need them
    import pandas as pd
    import pyarrow as pa

QUOTE = "'"
#: The first characters that get a QUOTE in front.
DANGER = frozenset("=+-@\t\r" + QUOTE)


def escape(value: str) -> str:
    """A string as a CSV cell: `'` in front when it starts with `= + - @`, TAB, CR or `'`."""
    return QUOTE + value if value[:1] in DANGER else value


def unescape(value: str) -> str:
    """The exact string a CSV cell was escaped from: one leading `'` dropped."""
    return value[1:] if value[:1] == QUOTE else value


def escape_cell(value: object) -> object:
    """`escape` for strings; any other value unchanged."""
    return escape(value) if isinstance(value, str) else value


def unescape_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """Unescape the string cells of a DataFrame read from one of the project's CSVs (in place,
    and returned). Numeric, boolean and date columns are left alone."""
    import pandas as pd

    for name in frame.columns:
        column = frame[name]
        if not (column.dtype == object or pd.api.types.is_string_dtype(column.dtype)):
            continue
        try:  # the quick look, when every cell is a string: their first characters
            if QUOTE not in {v[:1] for v in column.to_numpy()}:
                continue
        except TypeError:  # missing values or other objects: the slower look below
            pass
        try:
            quoted = column.str.startswith(QUOTE, na=False)
        except AttributeError:  # an object column without strings
            continue
        if quoted.any():
            frame[name] = column.mask(quoted, column.str[1:])
    return frame


def read_csv(path: str | PathLike, **kwargs) -> pd.DataFrame:
    """`pandas.read_csv` for the project's CSVs, with the string cells unescaped."""
    import pandas as pd

    return unescape_frame(pd.read_csv(path, **kwargs))


def unescape_table(table: pa.Table) -> pa.Table:
    """A pyarrow Table read from one of the project's CSVs with its string columns unescaped."""
    import pyarrow as pa
    import pyarrow.compute as pc

    for i, field in enumerate(table.schema):
        if not (pa.types.is_string(field.type) or pa.types.is_large_string(field.type)):
            continue
        column = table.column(i)
        quoted = pc.fill_null(pc.starts_with(column, QUOTE), False)
        if pc.any(quoted).as_py():
            table = table.set_column(i, field, pc.if_else(quoted, pc.utf8_slice_codeunits(column, 1), column))
    return table


def unescape_sql(column: str) -> str:
    """A DuckDB select item giving a VARCHAR column of a CSV its exact values, under its own name."""
    name = '"' + column.replace('"', '""') + '"'
    return f"CASE WHEN starts_with({name}, '''') THEN substr({name}, 2) ELSE {name} END AS {name}"
