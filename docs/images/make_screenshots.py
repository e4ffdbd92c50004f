"""Make the labelling UI's screenshots in docs/images (headless Debian chromium, driven by
Playwright; never a downloaded browser).

A session over 300 of scikit-learn's digits (as 8x8 PNGs), two annotators and a reviewer
(per-annotator tokens, ``resolve: reviewer``, ``overlap: 0.5``): 40 items labelled and a
retrain, so the model's guesses exist; then alice and bob label the same items, one of
them differently (a conflict). Then the pages: ``/label`` (labelling-ui.png),
``/browse`` filtered (labelling-browse.png), ``/yesno`` (labelling-yesno.png),
``/history`` (labelling-history.png) and ``/review`` (labelling-review.png).

Run (about a minute): ``flock /tmp/bayesal-heavy.lock .venv/bin/python
docs/images/make_screenshots.py``
"""

from __future__ import annotations

import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import numpy as np
import yaml

HERE = Path(__file__).resolve().parent
NAMES = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"]
TOKENS = {"alice-token-4567": "alice", "bob-token-891011": "bob", "rita-token-121314": "rita"}
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run"]


def write_digits(folder: Path, n: int) -> list[int]:
    from PIL import Image
    from sklearn.datasets import load_digits

    digits = load_digits()
    images = (digits.images * (255 / 16)).astype(np.uint8)
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        Image.fromarray(images[i]).save(folder / f"img{i:06d}.png")
    return [int(t) for t in digits.target[:n]]


def main() -> int:
    from playwright.sync_api import sync_playwright

    from bayesal.session import LabellingSession

    executable = shutil.which("chromium")
    if executable is None:
        print("chromium is not installed (apt-get install -y chromium)")
        return 2
    with tempfile.TemporaryDirectory(prefix="bayesal-shots-") as tmp:
        root = Path(tmp)
        truth = write_digits(root / "digits", 300)
        config = {
            "data": {"kind": "image_folder", "path": str(root / "digits")},
            "labels": NAMES,
            "model": {"name": "mlp", "params": {"hidden": 64}},
            "posterior": {"name": "mc_dropout", "num_samples": 10},
            "strategy": {"name": "bald"},
            "training": {"epochs": 20, "min_steps": 50, "batch_size": 32},
            "queue_size": 50,
            "retrain_every": 10,
            "stop_set_size": 100,
            "resolve": "reviewer",
            "overlap": 0.5,
            "reviewers": ["rita"],
            "stopping": [{"name": "budget", "params": {"max_labels": 150}}],
        }
        (root / "session.yaml").write_text(yaml.safe_dump(config))
        session = LabellingSession.init(root / "S", root / "session.yaml")
        by_id = {item: truth[int(ref[3:9])] for item, ref, _ in session.store.items()}
        for item in sorted(by_id)[:40]:
            session.label(item, by_id[item], "seed")
        session.retrain()
        session.close()
        (root / "tokens.yaml").write_text("".join(f"{t}: {n}\n" for t, n in TOKENS.items()))
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = int(sock.getsockname()[1])
        server = subprocess.Popen(
            [sys.executable, "-m", "bayesal.web", str(root / "S"), "--port", str(port),
             "--no-retrain", "--annotator-tokens", str(root / "tokens.yaml")],
            start_new_session=True,
        )  # fmt: skip
        url = f"http://127.0.0.1:{port}"
        try:
            for _ in range(600):
                try:
                    if httpx.get(f"{url}/health", timeout=1).status_code == 200:
                        break
                except httpx.HTTPError:
                    time.sleep(0.1)
            token = {name: t for t, name in TOKENS.items()}
            auth = {n: {"authorization": f"Bearer {t}"} for n, t in token.items()}
            # alice and bob label 8 items each; the overlap serves some to both.
            for name in ("alice", "bob"):
                item = httpx.post(f"{url}/api/next", json={}, headers=auth[name]).json()["item"]
                for k in range(8):
                    label = by_id[item["item_id"]]
                    if name == "bob" and k == 0:
                        label = (label + 1) % 10  # one disagreement: a conflict
                    body = httpx.post(
                        f"{url}/api/label",
                        json={"item_id": item["item_id"], "label": label},
                        headers=auth[name],
                    ).json()
                    item = body["next"]
            with sync_playwright() as playwright:
                browser = playwright.chromium.launch(executable_path=executable, args=ARGS)

                def shot(name: str, path: str, file: str, height: int = 900) -> None:
                    context = browser.new_context(viewport={"width": 1280, "height": height})
                    page = context.new_page()
                    page.goto(f"{url}{path}{'&' if '?' in path else '?'}token={token[name]}")
                    page.wait_for_load_state("networkidle")
                    page.screenshot(path=str(HERE / file), full_page=False)
                    context.close()
                    print(f"wrote {HERE / file}")

                shot("alice", "/label", "labelling-ui.png")
                shot(
                    "alice",
                    "/browse?labelled=false&sort=uncertainty&limit=24",
                    "labelling-browse.png",
                )
                shot("alice", "/yesno?label=three", "labelling-yesno.png", 700)
                shot("alice", "/history", "labelling-history.png", 700)
                shot("rita", "/review", "labelling-review.png", 700)
                browser.close()
        finally:
            server.send_signal(signal.SIGKILL)
            server.wait(30)
    return 0


if __name__ == "__main__":
    sys.exit(main())
