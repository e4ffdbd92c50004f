"""Write the saved learners of this folder and what each must do after loading.

Run once with the code *before* the learner was split into modules (issue 23, item 1):
``python tests/data/saved_learners/make_saves.py``. The files are committed; the test
``tests/test_learner_persistence.py`` loads them with the current code and checks that
each loaded learner proposes, predicts and retrains exactly as the saving code said it
would (``expected.json``). Do not regenerate them with newer code: their point is that
they were written by the old one.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.datasets import make_moons

from bayesal import ActiveLearner, __version__

HERE = Path(__file__).resolve().parent
TRAINING = {"epochs": 5, "min_steps": 40, "batch_size": 16, "lr": 0.01}


def pool() -> tuple[np.ndarray, np.ndarray]:
    x, y = make_moons(48, noise=0.15, random_state=7)
    return x.astype(np.float32), y.astype(np.int64)


def learners() -> dict[str, ActiveLearner]:
    x, y = pool()
    ids = 100 + 3 * np.random.default_rng(0).permutation(len(x))  # not positions
    labels = np.full(len(x), -1)
    labels[[0, 1, 2, 3, 5, 8]] = y[[0, 1, 2, 3, 5, 8]]
    made = {
        # MC dropout, custom ids, k-center cold start, a named embed.
        "mc_dropout_bald": ActiveLearner(
            x,
            model="two_moons_mlp",
            strategy="bald",
            num_samples=8,
            ids=ids,
            labels=labels,
            training=TRAINING,
            cold_start="kcenter",
            embed="inputs",
            device="cpu",
            seed=3,
        ),
        # An ensemble of two, EPIG with fixed targets, a pool subset, scoring settings.
        "ensemble_epig": ActiveLearner(
            x,
            model="two_moons_mlp",
            strategy="epig",
            posterior="ensemble",
            posterior_params={"members": 2},
            labels=labels,
            training=TRAINING,
            target_inputs=__import__("torch").from_numpy(x[:6].copy()),
            pool_subset=30,
            prefilter=None,
            max_log_probs_bytes=1 << 20,
            device="cpu",
            seed=5,
        ),
        # No network: a forest; a stochastic strategy with params.
        "forest_power_bald": ActiveLearner(
            x,
            model=None,
            posterior="forest",
            posterior_params={"n_estimators": 8},
            num_classes=2,
            strategy="power_bald",
            strategy_params={"temperature": 0.5},
            labels=labels,
            device="cpu",
            seed=11,
        ),
    }
    return made


def main() -> None:
    x, y = pool()
    expected: dict[str, Any] = {"bayesal_version": __version__, "saves": {}}
    for name, learner in learners().items():
        first = learner.query(3)
        learner.teach(first, y[learner._rows_of(first)])
        learner.fit()  # the fitted posterior is saved with the file
        learner.save(HERE / f"{name}.pt")
        probe = learner.predict_log_probs(x[:4]).double().tolist()
        nxt = learner.query(3)  # what the loaded learner must propose
        learner.teach(nxt, y[learner._rows_of(nxt)])
        after = learner.query(2)  # after retraining with the round's seeds
        expected["saves"][name] = {
            "round": learner.round - 2,
            "labelled_ids": sorted(int(i) for i in learner.labelled_ids if i not in nxt),
            "predict_log_probs_first_4": probe,
            "next_query_3": [int(i) for i in nxt],
            "then_query_2": [int(i) for i in after],
        }
    (HERE / "expected.json").write_text(json.dumps(expected, indent=1) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
