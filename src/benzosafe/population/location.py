"""Where a screen reads its records and writes its flags: a local path, or a URI for Spark.

DuckDB reads and writes files on this machine. Spark reads and writes wherever its Hadoop
client reaches: ``hdfs://``, ``s3a://`` (with the hadoop-aws connector on its classpath),
``file://`` or a local path. :func:`parse_location` turns what the user typed into a
:data:`Location`: a ``file://`` URI or a plain path is a local :class:`~pathlib.Path` (checked
for existence before an engine starts); any other URI stays text, left to Spark, which says
itself when it cannot read it; DuckDB refuses it with a message that names the engine that can.
"""

from __future__ import annotations

import re
from pathlib import Path, PurePosixPath
from urllib.parse import unquote, urlsplit

from benzosafe.errors import InvalidInput

# A local file (Path), or a URI only Spark reads (str, such as "hdfs://nn:8020/fills").
Location = Path | str

_SCHEME = re.compile(r"([A-Za-z][A-Za-z0-9+.-]*)://")


def parse_location(text: str, engine: str, what: str = "input") -> Location:
    """``text`` (a path or a URI) as a :data:`Location` for ``engine``; ``what`` names the
    option in an error."""
    match = _SCHEME.match(text)
    if match is None:
        return Path(text)
    scheme = match.group(1).lower()
    if scheme == "file":
        parts = urlsplit(text)
        if parts.netloc not in ("", "localhost"):
            raise InvalidInput(
                what, f"{text}: a file:// URI names a file on this machine, as file:///path"
            )
        return Path(unquote(parts.path))
    if engine != "spark":
        raise InvalidInput(
            what,
            f"{text} is a {scheme}:// URI: the {engine} engine reads and writes files on this "
            "machine only; --engine spark reads it",
        )
    return text


def suffix(location: Location) -> str:
    """The suffix of the location's last name (".parquet"), of a URI's path too."""
    if isinstance(location, Path):
        return location.suffix
    return PurePosixPath(urlsplit(location).path).suffix
