"""SQLite parameters that are bytes or None bound without a failing adapter lookup.

Python's ``sqlite3`` binds an ``int``, ``float``, ``str`` or ``bytearray`` parameter as it is.
Any other, our blobs (``bytes``) and NULLs (``None``) among them, it first looks up in its
adapter registry; on a miss it asks the protocol for ``__adapt__`` and the value for
``__conform__``, and on Python 3.11 the first of those raises and clears an ``AttributeError``.
An identity adapter registered for each type turns the miss into a hit that hands the value
back unchanged, and the driver binds it as before (decision 041).
"""

from __future__ import annotations

import sqlite3

_NOTHING: dict[object, None] = {}


def bind_bytes_and_none_directly() -> None:
    """Register identity adapters for ``bytes`` and ``None`` (for every connection of this
    process; registering again changes nothing). Both adapters are C functions: ``bytes``'s
    own ``__bytes__`` returns the object itself, and an empty dict's ``get`` returns None."""
    sqlite3.register_adapter(bytes, bytes.__bytes__)
    sqlite3.register_adapter(type(None), _NOTHING.get)
