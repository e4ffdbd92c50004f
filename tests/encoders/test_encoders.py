"""Encoders: determinism, the cache (hit, miss, corruption), import-path encoders, the
training data (pool only), config validation and a tiny end-to-end experiment."""

from __future__ import annotations

import importlib.util
import json
import sys
import textwrap
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from bayesal.data.dataset import Dataset
from bayesal.encoders import (
    ENCODERS,
    EncoderCacheWarning,
    SimCLRTrainer,
    build_encoder,
    compute_features,
    default_cache_dir,
    encode_dataset,
    nt_xent,
)
from bayesal.errors import ConfigError, InvalidInputError

TINY_SIMCLR = {"epochs": 1, "batch_size": 16, "width": 4, "features": 8, "min_steps": 0}
TINY_AE = {"epochs": 1, "batch_size": 16, "width": 4, "features": 8}

HELPERS = '''
import torch
from torch import nn
from bayesal.data.dataset import Dataset


def tiny_images(n_train=80, n_test=40, seed=0):
    """4 classes of 8x8 images: a bright quadrant per class, plus noise."""
    g = torch.Generator().manual_seed(seed)

    def make(n):
        y = torch.arange(n) % 4
        x = 0.3 * torch.randn(n, 1, 8, 8, generator=g)
        for i, c in enumerate(y.tolist()):
            r, s = divmod(c, 2)
            x[i, 0, 4 * r : 4 * r + 4, 4 * s : 4 * s + 4] += 2.0
        return x, y

    train_x, train_y = make(n_train)
    test_x, test_y = make(n_test)
    return Dataset("tiny_images", train_x, train_y, test_x, test_y, 4)


def pooled(width=4):
    """A 'pretrained' encoder: 2x2 average pooling of 8x8 images, flattened (16 features)."""
    torch.manual_seed(0)
    return nn.Sequential(nn.AvgPool2d(2), nn.Flatten(), nn.Linear(16, width))


def not_a_module():
    return 42
'''


@pytest.fixture
def helpers(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    folder = tmp_path / "helper_pkg"
    folder.mkdir()
    (folder / "enc_test_helpers.py").write_text(textwrap.dedent(HELPERS))
    monkeypatch.syspath_prepend(str(folder))
    sys.modules.pop("enc_test_helpers", None)
    import enc_test_helpers  # type: ignore[import-not-found]

    return enc_test_helpers


@pytest.fixture
def cache(tmp_path: Path) -> Path:
    return tmp_path / "cache"


def test_registry_names_and_errors() -> None:
    assert {"simclr_mnist", "autoencoder_mnist"} <= set(ENCODERS.names())
    with pytest.raises(InvalidInputError, match="did you mean|Did you mean"):
        build_encoder("simclr_mnits")
    with pytest.raises(InvalidInputError, match="epoch"):
        build_encoder("simclr_mnist", epoch=3)
    with pytest.raises(InvalidInputError, match="positive"):
        build_encoder("simclr_mnist", epochs=0)


def test_a_small_pool_trains_for_at_least_min_steps(helpers: Any) -> None:
    data = helpers.tiny_images()  # a pool of 80 images: 5 steps an epoch at batch 16
    trainer = build_encoder("simclr", **{**TINY_SIMCLR, "min_steps": 12})
    assert trainer.epochs_for(80) == 3  # ceil(12 / 5) epochs > epochs = 1
    assert trainer.epochs_for(4000) == 1  # a large pool keeps its epochs
    _, log = trainer.train(data.train_x, seed=0)
    assert (log.epochs, log.steps) == (3, 15)
    assert build_encoder("simclr").params()["min_steps"] == 3000
    with pytest.raises(InvalidInputError, match="min_steps"):
        build_encoder("simclr", min_steps=-1)


def test_colour_distortion_leaves_grey_images_and_their_random_stream_alone() -> None:
    from bayesal.encoders.augment import random_colour

    g = torch.Generator().manual_seed(0)
    grey = torch.rand(5, 1, 6, 6, generator=g)
    state = g.get_state()
    assert random_colour(grey, g, strength=0.5) is grey
    assert torch.equal(g.get_state(), state)  # draws nothing: MNIST's views are as before
    colour = torch.rand(5, 3, 6, 6, generator=g)
    a = random_colour(colour, torch.Generator().manual_seed(1), strength=0.5)
    b = random_colour(colour, torch.Generator().manual_seed(1), strength=0.5)
    assert a.shape == colour.shape and torch.equal(a, b)
    assert not torch.allclose(a, colour)
    # a grey colour image stays grey: every channel of a pixel gets the same value
    flat = torch.rand(5, 1, 6, 6, generator=g).expand(5, 3, 6, 6)
    out = random_colour(flat, torch.Generator().manual_seed(2), strength=0.5)
    assert torch.allclose(out, out[:, :1].expand_as(out), atol=1e-6)
    with pytest.raises(InvalidInputError, match="colour_jitter"):
        build_encoder("simclr", colour_jitter=2.0)


def test_nt_xent_matches_brute_force() -> None:
    g = torch.Generator().manual_seed(0)
    z = torch.randn(6, 5, generator=g)
    t = 0.3
    zn = torch.nn.functional.normalize(z, dim=1)
    total = 0.0
    for i in range(6):
        j = (i + 3) % 6
        others = [k for k in range(6) if k != i]
        logits = torch.stack([zn[i] @ zn[k] / t for k in others])
        total += -(zn[i] @ zn[j] / t - torch.logsumexp(logits, 0))
    assert torch.allclose(nt_xent(z, t), total / 6, atol=1e-5)


@pytest.mark.parametrize(
    "name,params", [("simclr_mnist", TINY_SIMCLR), ("autoencoder_mnist", TINY_AE)]
)
def test_training_is_deterministic_and_leaves_global_rng(
    helpers: Any, name: str, params: dict[str, Any]
) -> None:
    data = helpers.tiny_images()
    state = torch.get_rng_state()
    enc1, log1 = build_encoder(name, **params).train(data.train_x, seed=3)
    assert torch.equal(torch.get_rng_state(), state)
    enc2, log2 = build_encoder(name, **params).train(data.train_x, seed=3)
    enc3, _ = build_encoder(name, **params).train(data.train_x, seed=4)
    f1, f2, f3 = (compute_features(e, data.test_x) for e in (enc1, enc2, enc3))
    assert f1.shape == (40, 8)
    assert torch.equal(f1, f2)
    assert log1.loss_per_epoch == log2.loss_per_epoch
    assert not torch.equal(f1, f3)


def test_cache_miss_then_hit(helpers: Any, cache: Path) -> None:
    data = helpers.tiny_images()
    feats1, rec1 = encode_dataset(data, "simclr_mnist", TINY_SIMCLR, seed=0, cache_dir=cache)
    assert not rec1["encoder_loaded"] and not rec1["features_loaded"]
    assert rec1["train_seconds"] > 0 and rec1["epochs"] == 1
    assert len(rec1["loss_per_epoch"]) == 1 and "torch" in rec1["versions"]
    folder = Path(rec1["cache_path"])
    assert (folder / "encoder.pt").is_file()
    on_disk = json.loads((folder / "record.json").read_text())
    assert on_disk["pool_digest"] == rec1["pool_digest"]
    feats2, rec2 = encode_dataset(data, "simclr_mnist", TINY_SIMCLR, seed=0, cache_dir=cache)
    assert rec2["encoder_loaded"] and rec2["features_loaded"]
    assert torch.equal(feats1.train_x, feats2.train_x)
    assert torch.equal(feats1.test_x, feats2.test_x)
    # Standardised over the pool; labels untouched.
    assert feats1.train_x.mean(0).abs().max() < 1e-4
    assert torch.equal(feats1.train_y, data.train_y) and torch.equal(feats1.test_y, data.test_y)
    # Another seed, other params, another pool: misses.
    _, rec3 = encode_dataset(data, "simclr_mnist", TINY_SIMCLR, seed=1, cache_dir=cache)
    assert not rec3["encoder_loaded"]
    other = helpers.tiny_images(seed=5)
    _, rec4 = encode_dataset(other, "simclr_mnist", TINY_SIMCLR, seed=0, cache_dir=cache)
    assert not rec4["encoder_loaded"]
    # The same encoder on another test set: the encoder is loaded, the features are new.
    moved = Dataset(data.name, data.train_x, data.train_y, data.test_x[:10], data.test_y[:10], 4)
    _, rec5 = encode_dataset(moved, "simclr_mnist", TINY_SIMCLR, seed=0, cache_dir=cache)
    assert rec5["encoder_loaded"] and not rec5["features_loaded"]


@pytest.mark.parametrize("victim", ["encoder.pt", "record.json", "features"])
def test_corrupt_cache_files_are_recomputed_with_a_warning(
    helpers: Any, cache: Path, victim: str
) -> None:
    data = helpers.tiny_images()
    feats1, rec1 = encode_dataset(data, "simclr_mnist", TINY_SIMCLR, seed=0, cache_dir=cache)
    folder = Path(rec1["cache_path"])
    path = next(folder.glob("features-*.pt")) if victim == "features" else folder / victim
    path.write_bytes(path.read_bytes()[:20] + b"garbage")
    with pytest.warns(EncoderCacheWarning, match="recomputed"):
        feats2, rec2 = encode_dataset(data, "simclr_mnist", TINY_SIMCLR, seed=0, cache_dir=cache)
    assert torch.equal(feats1.train_x, feats2.train_x)  # deterministic recomputation
    assert rec2["encoder_loaded"] == (victim == "features")
    _, rec3 = encode_dataset(data, "simclr_mnist", TINY_SIMCLR, seed=0, cache_dir=cache)
    assert rec3["encoder_loaded"] and rec3["features_loaded"]  # repaired


def test_trains_on_the_pool_inputs_only(
    helpers: Any, cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = helpers.tiny_images()
    seen: list[Any] = []
    original = SimCLRTrainer.train

    def spy(self: SimCLRTrainer, *args: Any, **kwargs: Any) -> Any:
        seen.append((args, kwargs))
        return original(self, *args, **kwargs)

    monkeypatch.setattr(SimCLRTrainer, "train", spy)
    # A test set full of NaN: anything trained on it would have NaN weights or loss.
    poisoned = Dataset(
        data.name,
        data.train_x,
        data.train_y,
        torch.full_like(data.test_x, float("nan")),
        data.test_y,
        4,
    )
    feats, rec = encode_dataset(poisoned, "simclr_mnist", TINY_SIMCLR, seed=0, cache_dir=cache)
    assert len(seen) == 1
    (args, kwargs) = seen[0]
    assert len(args) == 1 and args[0] is poisoned.train_x and set(kwargs) == {"seed"}
    assert all(torch.isfinite(torch.tensor(rec["loss_per_epoch"])))
    assert torch.isfinite(feats.train_x).all()


def test_import_path_encoder_is_used_as_given(helpers: Any, cache: Path) -> None:
    data = helpers.tiny_images()
    feats, rec = encode_dataset(
        data, "enc_test_helpers:pooled", {"width": 6}, cache_dir=cache, standardize_features=False
    )
    assert rec["pretrained"] and rec["train_seconds"] == 0.0
    expected = compute_features(helpers.pooled(6), data.train_x)
    assert torch.allclose(feats.train_x, expected)
    _, rec2 = encode_dataset(
        data, "enc_test_helpers:pooled", {"width": 6}, cache_dir=cache, standardize_features=False
    )
    assert rec2["features_loaded"]
    with pytest.raises(InvalidInputError, match="nn.Module"):
        encode_dataset(data, "enc_test_helpers:not_a_module", cache_dir=cache)


def test_default_cache_dir(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("BAYESAL_CACHE", str(tmp_path / "c"))
    assert default_cache_dir() == tmp_path / "c" / "encoders"
    monkeypatch.delenv("BAYESAL_CACHE")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "x"))
    assert default_cache_dir() == tmp_path / "x" / "bayesal" / "encoders"


def test_non_image_inputs_are_refused_by_builtin_trainers() -> None:
    with pytest.raises(InvalidInputError, match="images"):
        SimCLRTrainer(**TINY_SIMCLR).train(torch.randn(10, 5), seed=0)


# ------------------------------------------------------------------ experiment config


def _config(cache: Path, **encoder: Any) -> dict[str, Any]:
    return {
        "name": "tiny_encoder",
        "dataset": {"name": "enc_test_helpers:tiny_images"},
        "model": {"name": "mlp", "params": {"in_features": 8, "num_classes": 4, "hidden": 16}},
        "posterior": {"name": "mc_dropout", "num_samples": 5},
        "training": {"epochs": 2, "min_steps": 10, "batch_size": 16},
        "strategies": ["random", "bald"],
        "seeds": 1,
        "initial_labels": 8,
        "acquisition_size": 2,
        "rounds": 2,
        "encoder": {
            "name": "simclr_mnist",
            "params": TINY_SIMCLR,
            "cache_dir": str(cache),
            **encoder,
        },
    }


@pytest.mark.parametrize(
    "change,match",
    [
        ({"name": "simclr_mnits"}, "encoder.name"),
        ({"params": {"epoch": 2}}, "epoch"),
        ({"params": {"epochs": -1}}, "positive"),
        ({"seed": -1}, "encoder.seed"),
        ({"colour": "red"}, "encoder.colour"),
        ({"name": "no_such_module_x:factory"}, "cannot import"),
        ({"reduce": {"method": "tsne", "dims": 2}}, "one of umap, pca"),
        ({"reduce": {"method": "umap"}}, "encoder.reduce.dims"),
    ],
)
def test_config_validation_errors(
    helpers: Any, cache: Path, change: dict[str, Any], match: str
) -> None:
    from bayesal.experiment import config_from_dict

    with pytest.raises(ConfigError, match=match):
        config_from_dict(_config(cache, **change))


def test_config_without_encoder_dumps_as_before(helpers: Any, cache: Path) -> None:
    from bayesal.experiment import config_from_dict
    from bayesal.experiment.trial import config_trial_digest

    raw = _config(cache)
    plain = {k: v for k, v in raw.items() if k != "encoder"}
    assert "encoder" not in config_from_dict(plain).model_dump(mode="json")
    with_enc = config_from_dict(raw)
    moved = config_from_dict({**raw, "encoder": {**raw["encoder"], "cache_dir": "/elsewhere"}})
    # cache_dir does not enter the digest; the encoder does.
    assert config_trial_digest(with_enc, "bald", 0) == config_trial_digest(moved, "bald", 0)
    assert config_trial_digest(with_enc, "bald", 0) != config_trial_digest(
        config_from_dict(plain), "bald", 0
    )
    # A reduce map enters the digest; an encoder without one keeps its digest.
    reduced = config_from_dict({**raw, "encoder": {**raw["encoder"], "reduce": PCA}})
    assert config_trial_digest(reduced, "bald", 0) != config_trial_digest(with_enc, "bald", 0)
    assert "reduce" not in with_enc.encoder.identity()  # type: ignore[union-attr]


def test_tiny_experiment_runs_on_features(
    helpers: Any, cache: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import pandas as pd

    from bayesal.experiment import config_from_dict, run_experiment
    from bayesal.experiment.trial import _cached_encoded

    _cached_encoded.cache_clear()
    config = config_from_dict(_config(cache))
    out = tmp_path / "out"
    results = run_experiment(config, out, workers=1, progress=True)
    table = pd.read_csv(results)
    assert set(table["strategy"]) == {"random", "bald"}
    assert table["n_labels"].max() == 8 + 2 * 2
    record = json.loads((out / "encoder.json").read_text())
    assert record["encoder"] == "simclr_mnist" and record["train_seconds"] > 0
    assert record["feature_dim"] == 8 and not record["encoder_loaded"]
    assert "bayesal: encoder simclr_mnist: trained in" in capsys.readouterr().err
    # A second config of the same encoder in a fresh process-level cache: loaded.
    _cached_encoded.cache_clear()
    run_experiment(config, tmp_path / "out2", workers=1, progress=False)
    again = json.loads((tmp_path / "out2" / "encoder.json").read_text())
    assert again["encoder_loaded"] and again["features_loaded"]
    assert again["train_seconds"] == record["train_seconds"]  # the original training's


def test_changing_the_encoder_refuses_to_resume(helpers: Any, cache: Path, tmp_path: Path) -> None:
    from bayesal.experiment import config_from_dict, run_experiment

    out = tmp_path / "out"
    run_experiment(config_from_dict(_config(cache)), out, workers=1, progress=False)
    with pytest.raises(ConfigError, match="encoder"):
        run_experiment(config_from_dict(_config(cache, seed=1)), out, workers=1, progress=False)


@pytest.mark.parametrize("name", ["mnist_encoder.yaml", "mnist_encoder_quick.yaml"])
def test_shipped_encoder_configs_validate(name: str) -> None:
    from bayesal.experiment import load_config

    root = Path(__file__).resolve().parents[2]
    config = load_config(root / "configs" / name)
    assert config.encoder is not None and config.encoder.name == "simclr_mnist"
    assert config.model is not None and config.model.name == "mlp"
    assert config.initial_labels + config.rounds * config.acquisition_size >= 60


@pytest.mark.parametrize(
    "posterior,strategies",
    [
        pytest.param(
            {"name": "laplace", "params": {"num_samples": 5}},
            ["bald"],
            marks=pytest.mark.skipif(
                importlib.util.find_spec("laplace") is None,
                reason="laplace-torch is not installed (`make laplace-deps`; `make test` "
                "installs it)",
            ),
        ),
        ({"name": "ensemble", "members": 2}, ["bald"]),
        ({"name": "mc_dropout", "num_samples": 5}, ["coreset", "typiclust", "epig"]),
    ],
)
def test_heads_and_strategies_on_features(
    helpers: Any, cache: Path, tmp_path: Path, posterior: dict[str, Any], strategies: list[str]
) -> None:
    import pandas as pd

    from bayesal.experiment import config_from_dict, run_experiment

    raw = {**_config(cache), "posterior": posterior, "strategies": strategies}
    results = run_experiment(config_from_dict(raw), tmp_path / "out", workers=1, progress=False)
    table = pd.read_csv(results)
    assert set(table["strategy"]) == set(strategies)
    assert table["test_accuracy"].notna().all()


def _encode_in_child(folder: str, cache: str) -> bool:
    sys.path.insert(0, folder)
    import enc_test_helpers

    from bayesal.encoders import encode_dataset as encode

    _, record = encode(enc_test_helpers.tiny_images(), "simclr_mnist", TINY_SIMCLR, cache_dir=cache)
    return bool(record["encoder_loaded"])


def test_concurrent_processes_train_one_encoder_once(helpers: Any, cache: Path) -> None:
    import multiprocessing

    folder = str(Path(helpers.__file__).parent)
    with multiprocessing.get_context("spawn").Pool(2) as pool:
        loaded = pool.starmap(_encode_in_child, [(folder, str(cache))] * 2)
    assert sorted(loaded) == [False, True]  # one trained it, the other waited and loaded it
    assert len(list(cache.glob("simclr_mnist-*"))) == 1


# ``encoder: {reduce: ...}``: UMAP / PCA of the features, fitted on the pool only.
PCA = {"method": "pca", "dims": 3}


def test_pca_is_fitted_on_the_pool_only_and_applied_to_the_test_set(
    helpers: Any,
    cache: Path,
) -> None:
    from sklearn.decomposition import PCA as SkPCA

    data = helpers.tiny_images()
    plain, _ = encode_dataset(data, "enc_test_helpers:pooled", {"width": 6}, cache_dir=cache)
    feats, rec = encode_dataset(
        data, "enc_test_helpers:pooled", {"width": 6}, cache_dir=cache, reduce=PCA
    )
    assert feats.train_x.shape == (80, 3) and feats.test_x.shape == (40, 3)
    reference = SkPCA(3, random_state=0).fit(plain.train_x.double().numpy())
    np.testing.assert_allclose(
        feats.test_x.numpy(), reference.transform(plain.test_x.double().numpy()), atol=1e-5
    )
    assert not rec["reduce_loaded"] and rec["feature_dim"] == 3
    again, rec2 = encode_dataset(
        data, "enc_test_helpers:pooled", {"width": 6}, cache_dir=cache, reduce=PCA
    )
    assert rec2["reduce_loaded"] and torch.equal(again.test_x, feats.test_x)
    # Another test set: the map is refitted on the same pool, the pool's rows unchanged.
    moved = type(data)(data.name, data.train_x, data.train_y, data.test_x[:7], data.test_y[:7], 4)
    other, rec3 = encode_dataset(
        moved, "enc_test_helpers:pooled", {"width": 6}, cache_dir=cache, reduce=PCA
    )
    assert not rec3["reduce_loaded"] and torch.allclose(other.train_x, feats.train_x)


@pytest.mark.parametrize(
    ("reduce", "message"),
    [
        ({"method": "tsne", "dims": 2}, "one of umap, pca"),
        ({"method": "pca", "dims": 0}, "positive integer"),
        ({"method": "pca", "dims": 3, "params": {"whiten": True}}, "takes no params"),
        ({"method": "pca", "dims": 3, "colour": 1}, "method, dims, params, seed"),
        ({"method": "pca", "dims": 6}, "below the features' width"),
    ],
)
def test_bad_reduce_settings_are_refused(
    helpers: Any,
    cache: Path,
    reduce: dict[str, Any],
    message: str,
) -> None:
    with pytest.raises(InvalidInputError, match=message):
        encode_dataset(
            helpers.tiny_images(),
            "enc_test_helpers:pooled",
            {"width": 6},
            cache_dir=cache,
            reduce=reduce,
        )


def test_umap_maps_the_pool_and_the_test_set_reproducibly(
    helpers: Any,
    cache: Path,
) -> None:
    pytest.importorskip("umap", reason="umap-learn is not installed (make umap-deps)")
    data = helpers.tiny_images()
    umap_cfg = {"method": "umap", "dims": 2, "params": {"n_neighbors": 10}}
    feats, rec = encode_dataset(
        data, "enc_test_helpers:pooled", {"width": 6}, cache_dir=cache, reduce=umap_cfg
    )
    assert feats.train_x.shape == (80, 2) and feats.test_x.shape == (40, 2)
    assert torch.isfinite(feats.train_x).all() and torch.isfinite(feats.test_x).all()
    assert rec["reduce"]["method"] == "umap" and not rec["reduce_loaded"]
    fresh, _ = encode_dataset(
        data, "enc_test_helpers:pooled", {"width": 6}, cache_dir=cache / "other", reduce=umap_cfg
    )
    assert torch.equal(fresh.train_x, feats.train_x)  # seeded: the same embedding
    # Four well-separated classes stay separable: 1-NN in the map labels the test set.
    d = torch.cdist(feats.test_x, feats.train_x)
    assert (data.train_y[d.argmin(1)] == data.test_y).float().mean() > 0.9
