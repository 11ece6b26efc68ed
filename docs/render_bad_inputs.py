"""Regenerate the catalog table in docs/bad-inputs.md from tests/bad_inputs.py.

Run from anywhere: ``python docs/render_bad_inputs.py``. Every row of the catalog
is run (in a temporary folder) to capture its real error message; the part of
``docs/bad-inputs.md`` between ``<!-- catalog:start -->`` and
``<!-- catalog:end -->`` is replaced, the rest is kept.
"""

from __future__ import annotations

import sys
import warnings
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def main() -> int:
    sys.path.insert(0, str(ROOT))
    from tests.bad_inputs import CATALOG, DOC, capture_all, render_table, split_doc

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # some rows warn before they raise
        table = render_table(capture_all())
    head, _, tail = split_doc(DOC.read_text(encoding="utf-8"))
    DOC.write_text(f"{head}\n{table}\n{tail}", encoding="utf-8")
    print(f"wrote {len(CATALOG)} rows to {DOC.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
