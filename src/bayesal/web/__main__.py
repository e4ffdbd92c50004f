"""``python -m bayesal.web SESSION [--host H] [--port P] [--token T]``: serve a session
(the same as ``bayesal serve``)."""

from __future__ import annotations

import argparse
import os
import sqlite3
import sys
from pathlib import Path

from bayesal.errors import BayesalError


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bayesal.web", description=__doc__)
    parser.add_argument("session", type=Path, help="a session directory (bayesal session init)")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument(
        "--token",
        default=os.environ.get("BAYESAL_TOKEN"),
        help="shared secret every request must carry (default: $BAYESAL_TOKEN)",
    )
    parser.add_argument(
        "--annotator-tokens",
        type=Path,
        default=None,
        help="YAML/JSON file mapping token -> annotator name",
    )
    parser.add_argument("--no-retrain", action="store_true", help="never retrain")
    parser.add_argument("--log-level", default="warning")
    args = parser.parse_args(argv)
    from bayesal.session.store import DB_NAME, sqlite_error
    from bayesal.web.options import read_annotator_tokens, require_label_extra

    try:
        require_label_extra()
        from bayesal.web.app import serve

        tokens = None
        if args.annotator_tokens is not None:
            tokens = read_annotator_tokens(args.annotator_tokens)
        serve(
            args.session,
            host=args.host,
            port=args.port,
            token=args.token or None,
            annotator_tokens=tokens,
            retrain=not args.no_retrain,
            log_level=args.log_level,
        )
    except (BayesalError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except sqlite3.IntegrityError:
        raise
    except sqlite3.DatabaseError as exc:
        print(f"error: {sqlite_error(exc, args.session / DB_NAME)}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
