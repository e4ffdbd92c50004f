"""A scripted two-annotator session through the labelling app's JSON API: the agreement
figure and the conflicts a reviewer resolves.

A labelling session over scikit-learn's 8x8 digits (``--items`` PNGs, cycled) with
``overlap`` (default 1.0: every item is served to a second annotator) and ``resolve:
reviewer`` is served by the real app (:func:`bayesal.web.create_app`, in-process through
FastAPI's TestClient, each annotator signed in by a per-annotator token; background
retraining off, so the run is deterministic). Two scripted annotators take turns, each
following the page's flow (``POST /api/next`` once, then ``POST /api/label``, whose answer
carries the next item, leased), ``--labels`` labels each:

* **alice** gives every item its true class;
* **bob** gives the true class too, except on a seeded ``--wrong`` share of his labels
  (exactly ``round(wrong * labels)`` of them, chosen by ``--seed``), where he gives
  another class, also drawn from the seed.

Then ``GET /api/status`` gives ``agreement`` (kappa, method, items with two annotations)
and ``conflicts``; the reviewer (``rita``, named in ``reviewers``) reads ``GET
/api/conflicts`` and resolves each conflict to the item's true class with ``POST
/api/resolve``; the status is read again. The script computes Cohen's kappa itself, by
hand, from the two annotators' labels of the items both labelled (as the API answered
them) and stops with an error if it differs from the app's.

Writes ``team_session.json`` under ``--out`` (default
``benchmarks/results/labelling_page``): the settings and seed, the labels per annotator,
the items with two annotations, the app's agreement, the hand-computed kappa, the
conflicts before and after review, and every annotation.

Run (seconds; light):
    flock /tmp/bayesal-heavy.lock .venv/bin/python benchmarks/bench_team_session.py
Options: --items --labels --wrong --overlap --seed --out
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import tempfile
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
import yaml

NAMES = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"]
ANNOTATORS = ("alice", "bob")
REVIEWER = "rita"
#: Per-annotator tokens of this run (not secrets: the app is in-process).
TOKENS = {
    "alice-bench-token": "alice",
    "bob-bench-token": "bob",
    "rita-bench-token": REVIEWER,
}
TOKEN_OF = {name: token for token, name in TOKENS.items()}


def log(message: str = "") -> None:
    print(message, flush=True)


def write_digits(folder: Path, n: int) -> list[int]:
    """``n`` 8x8 digit PNGs (scikit-learn's 1797, cycled); their classes in name order."""
    from PIL import Image
    from sklearn.datasets import load_digits

    digits = load_digits()
    images = (digits.images * (255 / 16)).astype(np.uint8)
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        Image.fromarray(images[i % len(images)]).save(folder / f"img{i:06d}.png")
    return [int(digits.target[i % len(images)]) for i in range(n)]


def make_session(root: Path, args: argparse.Namespace) -> tuple[Path, dict[int, int], dict]:
    from bayesal.session import LabellingSession

    truth = write_digits(root / "digits", args.items)
    config = {
        "data": {"kind": "image_folder", "path": str(root / "digits")},
        "labels": NAMES,
        "model": {"name": "mlp", "params": {"hidden": 64}},
        "posterior": {"name": "mc_dropout", "num_samples": 10},
        "strategy": {"name": "bald"},
        "training": {"epochs": 10, "min_steps": 30, "batch_size": 32},
        "queue_size": 50,
        "retrain_every": 10,
        "stop_set_size": 100,
        "seed": args.seed,
        "overlap": args.overlap,
        "resolve": "reviewer",
        "reviewers": [REVIEWER],
    }
    (root / "session.yaml").write_text(yaml.safe_dump(config))
    session = LabellingSession.init(root / "S", root / "session.yaml")
    by_id = {item: truth[int(ref[3:9])] for item, ref, _ in session.store.items()}
    session.close()
    return root / "S", by_id, config


def cohen_kappa_by_hand(a: list[int], b: list[int]) -> float:
    """Cohen's kappa of two label lists of the same items: ``(p_o - p_e) / (1 - p_e)``,
    ``p_o`` the share of items with the same label, ``p_e = sum_c (n_a(c)/N)(n_b(c)/N)``;
    1.0 when ``p_e`` is 1 (one and the same class everywhere)."""
    n = len(a)
    if n == 0 or n != len(b):
        raise ValueError("two non-empty label lists of the same length are needed")
    p_o = sum(x == y for x, y in zip(a, b, strict=True)) / n
    count_a, count_b = Counter(a), Counter(b)
    p_e = sum(count_a[c] * count_b[c] for c in count_a) / (n * n)
    if p_e == 1.0:
        return 1.0
    return (p_o - p_e) / (1.0 - p_e)


def _ok(answer: Any) -> dict[str, Any]:
    if answer.status_code != 200:
        raise RuntimeError(f"{answer.request.method} {answer.request.url}: {answer.text}")
    return answer.json()


def run(session_dir: Path, truth: dict[int, int], args: argparse.Namespace) -> dict[str, Any]:
    from fastapi.testclient import TestClient

    from bayesal.web import create_app

    rng = np.random.default_rng(args.seed)
    n_wrong = round(args.wrong * args.labels)
    wrong_at = sorted(int(i) for i in rng.choice(args.labels, size=n_wrong, replace=False))
    # Another class for each wrong label: the true one shifted by 1 to 9.
    shifts = [int(s) for s in rng.integers(1, len(NAMES), size=n_wrong)]
    wrong_shift = dict(zip(wrong_at, shifts, strict=True))

    app = create_app(session_dir, annotator_tokens=TOKENS, retrain=False)
    labelled: dict[str, dict[int, int]] = {name: {} for name in ANNOTATORS}
    annotations: list[dict[str, Any]] = []
    with TestClient(app, base_url="http://127.0.0.1", follow_redirects=False) as client:

        def as_(name: str) -> dict[str, str]:
            return {"authorization": f"Bearer {TOKEN_OF[name]}"}

        current: dict[str, int | None] = {}
        for step in range(args.labels):
            for name in ANNOTATORS:
                if step == 0:
                    item = _ok(client.post("/api/next", json={}, headers=as_(name)))["item"]
                    current[name] = None if item is None else item["item_id"]
                item_id = current[name]
                if item_id is None:
                    raise RuntimeError(f"{name}: nothing left to label at label {step + 1}")
                label = truth[item_id]
                if name == "bob" and step in wrong_shift:
                    label = (label + wrong_shift[step]) % len(NAMES)
                answer = _ok(
                    client.post(
                        "/api/label",
                        json={"item_id": item_id, "label": NAMES[label]},
                        headers=as_(name),
                    )
                )
                if answer["label_index"] != label or answer["annotator"] != name:
                    raise RuntimeError(f"unexpected answer {answer}")
                labelled[name][item_id] = label
                annotations.append(
                    {
                        "annotator": name,
                        "item_id": item_id,
                        "label": NAMES[label],
                        "true": NAMES[truth[item_id]],
                        "event_id": answer["event_id"],
                    }
                )
                nxt = answer["next"]
                current[name] = None if nxt is None else nxt["item_id"]

        before = _ok(client.get("/api/status", headers=as_(REVIEWER)))
        queue = _ok(client.get("/api/conflicts", headers=as_(REVIEWER)))["items"]
        resolved = []
        for conflict in queue:
            item_id = conflict["item_id"]
            decided = _ok(
                client.post(
                    "/api/resolve",
                    json={"item_id": item_id, "label": NAMES[truth[item_id]]},
                    headers=as_(REVIEWER),
                )
            )
            resolved.append(
                {
                    "item_id": item_id,
                    "annotations": {a["annotator"]: a["label"] for a in conflict["annotations"]},
                    "reviewer_label": decided["label"],
                    "conflicts_left": decided["conflicts"],
                }
            )
        after = _ok(client.get("/api/status", headers=as_(REVIEWER)))
        queue_after = _ok(client.get("/api/conflicts", headers=as_(REVIEWER)))["items"]
        both = sorted(set(labelled["alice"]) & set(labelled["bob"]))
        resolved_labels = {
            i: _ok(client.get(f"/api/items/{i}", headers=as_(REVIEWER)))["label"] for i in both
        }

    a = [labelled["alice"][i] for i in both]
    b = [labelled["bob"][i] for i in both]
    kappa_hand = cohen_kappa_by_hand(a, b)
    agreement = before["agreement"]
    if agreement["items"] != len(both) or agreement["method"] != "cohen":
        raise RuntimeError(f"agreement {agreement} over {len(both)} shared items")
    if abs(agreement["kappa"] - kappa_hand) > 1e-12:
        raise RuntimeError(f"kappa: app {agreement['kappa']!r}, by hand {kappa_hand!r}")
    disagreements = sum(x != y for x, y in zip(a, b, strict=True))
    return {
        "labels_per_annotator": {name: len(labelled[name]) for name in ANNOTATORS},
        "status_labels_per_annotator": before["per_annotator"],
        "items_two_annotations": len(both),
        "items_one_annotation": len(set(labelled["alice"]) ^ set(labelled["bob"])),
        "wrong_labels_bob": n_wrong,
        "wrong_labels_bob_on_shared_items": sum(labelled["bob"][i] != truth[i] for i in both),
        "disagreements": disagreements,
        "observed_agreement": 1 - disagreements / len(both),
        "agreement": agreement,
        "agreement_after_review": after["agreement"],
        "kappa_by_hand": kappa_hand,
        "kappa_matches": True,
        "conflicts_before_review": before["conflicts"],
        "conflicts_queue_before_review": len(queue),
        "resolved_by_reviewer": resolved,
        "conflicts_after_review": after["conflicts"],
        "conflicts_queue_after_review": len(queue_after),
        "shared_items_resolved_to_true_label": sum(
            resolved_labels[i] == NAMES[truth[i]] for i in both
        ),
        "annotations": annotations,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--items", type=int, default=200, help="digit images in the pool")
    parser.add_argument("--labels", type=int, default=60, help="labels per annotator")
    parser.add_argument("--wrong", type=float, default=0.1, help="bob's share of wrong labels")
    parser.add_argument("--overlap", type=float, default=1.0, help="the session's overlap")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/labelling_page"))
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory(prefix="bayesal-team-") as tmp:
        session_dir, truth, config = make_session(Path(tmp), args)
        result = run(session_dir, truth, args)
    config["data"]["path"] = "<temporary folder>/digits"
    out = {
        "benchmark": "benchmarks/bench_team_session.py",
        "settings": {
            "items": args.items,
            "labels_per_annotator": args.labels,
            "wrong_share_bob": args.wrong,
            "overlap": args.overlap,
            "resolve": "reviewer",
            "annotators": list(ANNOTATORS),
            "reviewer": REVIEWER,
            "retrain": False,
            "client": "fastapi.testclient.TestClient over bayesal.web.create_app",
            "session_config": config,
        },
        "seed": args.seed,
        **result,
        "python": platform.python_version(),
        "platform": platform.platform(),
    }
    args.out.mkdir(parents=True, exist_ok=True)
    path = args.out / "team_session.json"
    path.write_text(json.dumps(out, indent=2) + "\n")
    agreement = result["agreement"]
    log(
        f"{result['items_two_annotations']} items with two annotations "
        f"({result['labels_per_annotator']}); {result['disagreements']} disagreements; "
        f"kappa {agreement['kappa']:.4f} ({agreement['method']}; by hand "
        f"{result['kappa_by_hand']:.4f}); conflicts {result['conflicts_before_review']} "
        f"before review, {result['conflicts_after_review']} after"
    )
    log(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
