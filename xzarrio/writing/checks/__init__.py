"""Checks of a write's arguments against the object and what the store holds.

Each raises an :mod:`xzarrio.errors` error that names what was expected,
before anything is written. One module per kind of check:

- :mod:`~xzarrio.writing.checks.arguments`: the object, its names and
  attributes, ``mode``, ``group`` and the other keywords;
- :mod:`~xzarrio.writing.checks.append`: an append against the store;
- :mod:`~xzarrio.writing.checks.region`: a region write against the store;
- :mod:`~xzarrio.writing.checks.encoding`: a user's ``encoding=``.
"""

from __future__ import annotations

from .append import check_append, fit_strings
from .arguments import (
    MODES,
    as_dataset,
    check_all_attrs,
    check_flag,
    check_group,
    check_kept_layout,
    check_mapping,
    check_mode,
    check_names,
    check_optional_flag,
    check_storable,
)
from .encoding import check_encoding, stored_unit
from .region import check_region, resolve_region, stored_index, without_indexes

__all__ = [
    "MODES",
    "as_dataset",
    "check_all_attrs",
    "check_append",
    "check_encoding",
    "check_flag",
    "check_group",
    "check_kept_layout",
    "check_mapping",
    "check_mode",
    "check_names",
    "check_optional_flag",
    "check_region",
    "check_storable",
    "fit_strings",
    "resolve_region",
    "stored_index",
    "stored_unit",
    "without_indexes",
]
