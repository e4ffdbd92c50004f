"""The recipe with twice the epochs on Fashion-MNIST (docs/encoders.md;
benchmarks/encoders/measure_recipe.py --encoder-params '{"epochs": 60}' ->
benchmarks/results/encoders/recipe_budget.json), beside the defaults' recipe.json."""

from __future__ import annotations

from typing import Any

import numpy as np

BUDGET_JSON = "benchmarks/results/encoders/recipe_budget.json"
RECIPE_JSON = "benchmarks/results/encoders/recipe.json"


def _pct(values: list[float]) -> str:
    return f"{100 * float(np.mean(values)):.1f}"


def _derive(data: dict[str, Any]) -> dict[str, Any]:
    r = data["fashion_mnist"]
    v, p = r["versus_gal_cnn"], r["probes"]
    return {
        "epochs": r["encoder_params"].get("epochs", 30),
        "seconds": f"{r['encoder_train_seconds']:.0f}",
        "load": f"{r['load_average_before_after'][0]:.0f}",
        "mlp100": _pct(v["features_mlp_100"]),
        "mlp220": _pct(v["features_mlp_220"]),
        "lin100": _pct(p["features_linear_100"]),
        "cnn100": _pct(v["gal_cnn_std_100"]),
        "cnn220": _pct(v["gal_cnn_std_220"]),
    }


def _steps(c: Any) -> Any:
    """recipe_budget.json's figures beside recipe.json's defaults (as ``d``)."""
    budget, default = c.bench(BUDGET_JSON, _derive), c.bench(RECIPE_JSON, _derive)

    def source(root: Any) -> dict[str, Any]:
        return {**budget(root), "d": default(root)}

    return source


def claims(c: Any) -> list[Any]:
    return [
        c.Claim(
            "docs/encoders.md",
            "twice the epochs ({epochs}, {seconds} s under a load of about {load}) left the "
            "features where they were: the `mlp` head at 100 labels {mlp100}% ({d[mlp100]}% at "
            "the default {d[epochs]} epochs), at 220 labels {mlp220}% ({d[mlp220]}%), the "
            "linear probe "
            "at 100 class-balanced labels {lin100}% ({d[lin100]}%), while the standardised CNN "
            "is at {cnn100}% and {cnn220}%",
            _steps(c),
        )
    ]
