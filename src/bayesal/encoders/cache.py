"""Train an encoder once, compute features once: an on-disk cache keyed by content.

A *trained* encoder (an :class:`~bayesal.encoders.trainers.EncoderTrainer`) is keyed by
the sha256 of ``{format, encoder name, its parameters, seed, digest of the pool's
inputs}``; a *pretrained* one (an ``nn.Module`` from a user's factory) by its name,
parameters and the digest of its weights. Under ``<cache dir>/<name>-<key>/``:

- ``encoder.pt``: the trained weights (``state_dict``; trained encoders only);
- ``record.json``: the training record (seconds, epochs, loss per epoch, steps,
  versions, the pool's digest, the key, the weights' sha256), written *after* the
  weights, so a record implies its weights;
- ``features-<fkey>.pt`` and ``features-<fkey>.json``: the raw features of the pool and
  the test set (and the validation split, if any), keyed by the encoder's key and the
  digests of those inputs; the JSON (written last) holds the ``.pt`` file's sha256.

Every file is written atomically (:mod:`bayesal._atomic`). On load, the record's key,
the weights' and features' sha256 are checked; a file that fails (corrupt, truncated,
of another key) is recomputed, with an :class:`EncoderCacheWarning`. Training holds an
exclusive ``flock`` on ``<cache dir>/.locks/<key>.lock``, so concurrent processes (the
runner's workers) train one encoder once: the others wait, then load it.

The cache directory: the ``cache_dir`` argument, else ``$BAYESAL_CACHE/encoders``, else
``$XDG_CACHE_HOME/bayesal/encoders``, else ``~/.cache/bayesal/encoders``.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import platform
import re
import time
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from bayesal._atomic import atomic_write_bytes, atomic_write_text
from bayesal.encoders.features import compute_features
from bayesal.encoders.trainers import EncoderTrainer

#: Bumped when what is cached changes meaning (it enters every key).
CACHE_FORMAT = 1


class EncoderCacheWarning(UserWarning):
    """A cached encoder or feature file failed its check and is recomputed."""


def default_cache_dir() -> Path:
    """``$BAYESAL_CACHE/encoders``, else ``$XDG_CACHE_HOME/bayesal/encoders``, else
    ``~/.cache/bayesal/encoders``."""
    root = os.environ.get("BAYESAL_CACHE")
    if root:
        return Path(root).expanduser() / "encoders"
    cache = os.environ.get("XDG_CACHE_HOME") or os.path.join(Path.home(), ".cache")
    return Path(cache).expanduser() / "bayesal" / "encoders"


def tensor_digest(t: Tensor | None) -> str:
    """sha256 of a tensor's dtype, shape and bytes (``"none"`` for None)."""
    if t is None:
        return "none"
    h = hashlib.sha256(f"{t.dtype}|{tuple(t.shape)}|".encode())
    h.update(np.ascontiguousarray(t.detach().cpu().numpy()).tobytes())
    return h.hexdigest()


def state_digest(module: nn.Module) -> str:
    """sha256 of a module's ``state_dict`` (names, dtypes, shapes, values)."""
    h = hashlib.sha256()
    for name, value in sorted(module.state_dict().items()):
        h.update(name.encode())
        h.update(tensor_digest(value).encode())
    return h.hexdigest()


def _json_key(payload: dict[str, Any]) -> str:
    text = json.dumps(payload, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()


def versions() -> dict[str, str]:
    """Versions of what an encoder was trained with (recorded, not part of the key)."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        bayesal_version = version("bayesal")
    except PackageNotFoundError:
        bayesal_version = "unknown"
    return {
        "bayesal": bayesal_version,
        "torch": torch.__version__,
        "numpy": np.__version__,
        "python": platform.python_version(),
    }


@contextmanager
def _exclusive(lock_path: Path) -> Iterator[None]:
    """Hold an exclusive (blocking) flock on ``lock_path``; unlocked where unsupported."""
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    try:
        import fcntl
    except ImportError:  # not POSIX
        yield
        return
    fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
        except OSError:  # a file system without flock
            pass
        yield
    finally:
        os.close(fd)


def _torch_bytes(obj: Any) -> bytes:
    buffer = io.BytesIO()
    torch.save(obj, buffer)
    return buffer.getvalue()


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _read_json(path: Path) -> dict[str, Any] | None:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return None
    return data if isinstance(data, dict) else None


def _warn(path: Path, why: str) -> None:
    warnings.warn(f"{path}: {why}; recomputed", EncoderCacheWarning, stacklevel=4)


@dataclass
class EncodedInputs:
    """Raw features of a dataset's splits through one encoder, and its record.

    ``record``: the training record (``train_seconds`` 0 for a pretrained encoder) plus
    ``encoder_loaded`` / ``features_loaded`` (whether this call found them in the cache),
    ``feature_seconds`` (computing the features now; 0 when loaded) and ``cache_path``.
    """

    train_N_D: Tensor
    test_N_D: Tensor
    val_N_D: Tensor | None
    record: dict[str, Any] = field(default_factory=dict)


def _safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", name)[:60]


class EncoderCache:
    """The cache of encoders and features in ``root`` (see the module docstring)."""

    def __init__(self, root: str | os.PathLike[str] | None = None) -> None:
        self.root = Path(root).expanduser() if root is not None else default_cache_dir()

    # -------------------------------------------------------------- trained encoders

    def trained_key(self, name: str, trainer: EncoderTrainer, seed: int, pool_digest: str) -> str:
        return _json_key(
            {
                "format": CACHE_FORMAT,
                "encoder": name,
                "recipe": type(trainer).__name__,
                "params": trainer.params(),
                "seed": seed,
                "pool": pool_digest,
            }
        )

    def folder(self, name: str, key: str) -> Path:
        return self.root / f"{_safe(name)}-{key[:20]}"

    def _load_trained(
        self, folder: Path, key: str, trainer: EncoderTrainer, input_shape: tuple[int, ...]
    ) -> tuple[nn.Module, dict[str, Any]] | None:
        record_path, weights_path = folder / "record.json", folder / "encoder.pt"
        if not record_path.exists() and not weights_path.exists():
            return None
        record = _read_json(record_path)
        if record is None or record.get("key") != key:
            _warn(record_path, "missing, unreadable or of another key")
            return None
        try:
            data = weights_path.read_bytes()
        except OSError:
            _warn(weights_path, "missing")
            return None
        if _sha(data) != record.get("weights_sha256"):
            _warn(weights_path, "does not match the sha256 in its record (corrupt)")
            return None
        try:
            state = torch.load(io.BytesIO(data), weights_only=True)
            encoder = trainer.build(input_shape)
            encoder.load_state_dict(state)
        except Exception as exc:  # a file that passed its checksum but does not load
            _warn(weights_path, f"cannot be loaded ({type(exc).__name__}: {exc})")
            return None
        encoder.eval()
        return encoder, record

    def trained_encoder(
        self, name: str, trainer: EncoderTrainer, pool_x: Tensor, *, seed: int
    ) -> tuple[nn.Module, dict[str, Any]]:
        """The encoder ``trainer`` trains on ``pool_x`` under ``seed``: loaded from the
        cache, else trained (under the key's lock) and stored. Returns ``(encoder in
        eval mode, record)``; ``record["encoder_loaded"]`` says which."""
        pool_digest = tensor_digest(pool_x)
        key = self.trained_key(name, trainer, seed, pool_digest)
        folder = self.folder(name, key)
        with _exclusive(self.root / ".locks" / f"{key[:20]}.lock"):
            loaded = self._load_trained(folder, key, trainer, tuple(pool_x.shape[1:]))
            if loaded is not None:
                encoder, record = loaded
                return encoder, {**record, "encoder_loaded": True}
            encoder, log = trainer.train(pool_x, seed=seed)
            weights = _torch_bytes(encoder.state_dict())
            record = {
                "key": key,
                "encoder": name,
                "recipe": type(trainer).__name__,
                "params": trainer.params(),
                "seed": seed,
                "pool_digest": pool_digest,
                "pool_size": int(len(pool_x)),
                "input_shape": list(pool_x.shape[1:]),
                "train_seconds": round(log.seconds, 3),
                "epochs": log.epochs,
                "steps": log.steps,
                "loss_per_epoch": log.loss_per_epoch,
                "torch_threads": torch.get_num_threads(),
                "versions": versions(),
                "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                "weights_sha256": _sha(weights),
            }
            atomic_write_bytes(folder / "encoder.pt", weights)
            atomic_write_text(folder / "record.json", json.dumps(record, indent=1) + "\n")
        return encoder, {**record, "encoder_loaded": False}

    # -------------------------------------------------------------- features

    def features(
        self,
        folder: Path,
        encoder_key: str,
        encoder: nn.Module,
        splits: dict[str, Tensor | None],
    ) -> tuple[dict[str, Tensor | None], dict[str, Any]]:
        """Raw features of every split (None stays None), loaded or computed and stored
        under ``folder``. Returns ``(features by split, {features_loaded,
        feature_seconds})``."""
        digests = {split: tensor_digest(x) for split, x in splits.items()}
        fkey = _json_key({"format": CACHE_FORMAT, "encoder": encoder_key, "inputs": digests})
        data_path = folder / f"features-{fkey[:20]}.pt"
        meta_path = folder / f"features-{fkey[:20]}.json"
        with _exclusive(self.root / ".locks" / f"features-{fkey[:20]}.lock"):
            if data_path.exists() or meta_path.exists():
                loaded = self._load_features(data_path, meta_path, fkey, splits)
                if loaded is not None:
                    return loaded, {"features_loaded": True, "feature_seconds": 0.0}
            start = time.perf_counter()
            out = {
                split: None if x is None else compute_features(encoder, x)
                for split, x in splits.items()
            }
            seconds = time.perf_counter() - start
            data = _torch_bytes({k: v for k, v in out.items() if v is not None})
            atomic_write_bytes(data_path, data)
            meta = {"key": fkey, "inputs": digests, "sha256": _sha(data), "seconds": seconds}
            atomic_write_text(meta_path, json.dumps(meta, indent=1) + "\n")
        return out, {"features_loaded": False, "feature_seconds": round(seconds, 3)}

    def reduced(
        self,
        folder: Path,
        features_key: str,
        reduce: dict[str, Any],
        splits: dict[str, Tensor | None],
    ) -> tuple[dict[str, Tensor | None], dict[str, Any]]:
        """The ``splits``' features mapped by ``reduce`` (``{method, dims, params,
        seed}``: :mod:`bayesal.encoders.reduce`, fitted on ``splits["train"]``), loaded or
        computed and stored under ``folder`` like :meth:`features`. Returns ``(mapped
        by split, {reduce_loaded, reduce_seconds})``."""
        from bayesal.encoders.reduce import fit_reduce

        digests = {split: tensor_digest(x) for split, x in splits.items()}
        rkey = _json_key(
            {
                "format": CACHE_FORMAT,
                "features": features_key,
                "inputs": digests,
                "reduce": reduce,
                "versions": versions(),
            }
        )
        data_path = folder / f"reduced-{rkey[:20]}.pt"
        meta_path = folder / f"reduced-{rkey[:20]}.json"
        with _exclusive(self.root / ".locks" / f"reduced-{rkey[:20]}.lock"):
            if data_path.exists() or meta_path.exists():
                loaded = self._load_features(data_path, meta_path, rkey, splits)
                if loaded is not None:
                    return loaded, {"reduce_loaded": True, "reduce_seconds": 0.0}
            start = time.perf_counter()
            train = splits["train"]
            assert train is not None
            others = {split: x for split, x in splits.items() if split != "train"}
            mapped_train, mapped = fit_reduce(
                reduce["method"], reduce["dims"], reduce["params"], reduce["seed"], train, others
            )
            out = {"train": mapped_train, **mapped}
            seconds = time.perf_counter() - start
            data = _torch_bytes({k: v for k, v in out.items() if v is not None})
            atomic_write_bytes(data_path, data)
            meta = {"key": rkey, "inputs": digests, "sha256": _sha(data), "seconds": seconds}
            atomic_write_text(meta_path, json.dumps(meta, indent=1) + "\n")
        return out, {"reduce_loaded": False, "reduce_seconds": round(seconds, 3)}

    def _load_features(
        self, data_path: Path, meta_path: Path, fkey: str, splits: dict[str, Tensor | None]
    ) -> dict[str, Tensor | None] | None:
        meta = _read_json(meta_path)
        if meta is None or meta.get("key") != fkey:
            _warn(meta_path, "missing, unreadable or of another key")
            return None
        try:
            data = data_path.read_bytes()
        except OSError:
            _warn(data_path, "missing")
            return None
        if _sha(data) != meta.get("sha256"):
            _warn(data_path, "does not match the sha256 in its record (corrupt)")
            return None
        try:
            stored = torch.load(io.BytesIO(data), weights_only=True)
        except Exception as exc:
            _warn(data_path, f"cannot be loaded ({type(exc).__name__}: {exc})")
            return None
        out: dict[str, Tensor | None] = {}
        for split, x in splits.items():
            f = stored.get(split) if isinstance(stored, dict) else None
            if (x is None) != (f is None) or (f is not None and len(f) != len(x)):  # type: ignore[arg-type]
                _warn(data_path, f"its {split} features do not match the inputs")
                return None
            out[split] = f
        return out
