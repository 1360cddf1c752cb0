"""Write the catalog of sample exports: one small file per CRM layout we map.

Each file imitates one export layout that ``mappings/`` marks verified or
partial, generated row by row from fictional people (``catalog_kit``) and a
seeded ``random.Random``: nothing is copied from a real export or anyone's
sample. The layouts live in ``catalog_realestate``, ``catalog_sales`` and
``catalog_contacts``. Every row is built from a *case* chosen first
(``clean``, ``x500_email_only``, ``duplicate_id``, ...), which says what the
import must make of it, so each ``<file>.expected.csv`` (row, key, action,
codes, case, warnings) is right by construction.

Usage::

    python sample_data/generate_catalog.py              # rewrite sample_data/catalog/
    python sample_data/generate_catalog.py --out-dir D  # write them somewhere else
"""

from __future__ import annotations

import argparse
import random
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

HERE = Path(__file__).resolve().parent
OUT_DIR = HERE / "catalog"
if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))  # the layout modules sit next to this script

from catalog_contacts import google_contacts, mailchimp, outlook  # noqa: E402
from catalog_kit import Sheet  # noqa: E402
from catalog_realestate import kvcore, realtor_com, sierra  # noqa: E402
from catalog_sales import (  # noqa: E402
    hubspot,
    pipedrive_persons,
    salesforce_dataloader,
    salesforce_report,
    zoho_leads,
)

# --------------------------------------------------------------------------- writing

# (mapping, builder): every sample file, in the order they are written
SHEETS: tuple[tuple[str, Callable[[random.Random], Sheet]], ...] = (
    ("kvcore", kvcore),
    ("sierra", sierra),
    ("realtor_com", realtor_com),
    ("salesforce_dataloader", salesforce_dataloader),
    ("salesforce_dataloader", lambda rng: salesforce_dataloader(rng, upper=True)),
    ("salesforce_report", salesforce_report),
    ("hubspot", hubspot),
    ("zoho_leads", zoho_leads),
    ("pipedrive_persons", pipedrive_persons),
    ("google_contacts", google_contacts),
    ("google_contacts_legacy", lambda rng: google_contacts(rng, legacy=True)),
    ("outlook", outlook),
    ("mailchimp", mailchimp),
)


def build(seed: int = 2025) -> list[tuple[str, Sheet]]:
    """Every sample sheet with the mapping that reads it; depends only on ``seed``."""
    out = []
    for i, (mapping, builder) in enumerate(SHEETS):
        out.append((mapping, builder(random.Random(seed * 100 + i))))
    return out


def write_catalog(out_dir: Path = OUT_DIR, *, seed: int = 2025) -> list[Path]:
    """Write every sample file and its ``.expected.csv`` into ``out_dir``; returns the paths."""
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for _mapping, sheet in build(seed):
        path = out_dir / sheet.name
        path.write_bytes(sheet.data())
        expected = path.with_name(path.stem + ".expected.csv")
        expected.write_bytes(sheet.expected_data())
        written += [path, expected]
    return written


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; return the exit status."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out-dir", type=Path, default=OUT_DIR, help="where the files go")
    args = parser.parse_args(argv)
    for path in write_catalog(args.out_dir):
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
