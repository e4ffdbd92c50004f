"""Segmentation masks in a labelling session: how they are checked, stored, posted,
exported and imported.

A mask is an ``[H, W]`` array of class indices in ``[0, C)`` at the session's image
size (the size the model sees: ``data.params.size`` of an image folder, else the
arrays' own ``H x W``), not the image file's own resolution.

* **Stored** (:meth:`~bayesal.session.store.SessionStore.add_labels`, table ``masks``):
  one row per label event, ``height``, ``width``, ``data`` = zlib-compressed ``uint8``
  bytes of the mask in row-major order (:func:`encode_mask`), and ``digest`` (the first
  62 bits of its SHA-256), which is what two annotations are compared by: under
  ``resolve: majority`` or ``reviewer`` two masks agree only when they are identical.
* **Posted** (``POST /api/mask``; :func:`parse_mask_payload`): ``{"height": H, "width":
  W, "data": base64 of the H*W bytes, one class index per pixel, row-major}``; anything
  else (a wrong size, a class out of range, bytes that are not base64, a string over
  :data:`MAX_MASK_CHARS`) is refused with the reason.
* **Exported** (:func:`export_masks`): an ``.npz`` file (``item_ids`` int64 ``[n]``,
  ``refs`` ``[n]`` strings, ``masks`` uint8 ``[n, H, W]``, ``class_names``; with
  ``annotations=True`` also ``annotators`` ``[n]``, one row per annotation), or a folder
  of PNG files ``<item_id>.png`` (8-bit grey, pixel value = class index), plus
  ``classes.json`` (the class names in index order) and, for annotations,
  ``<item_id>.<annotator>.png``. Written whole or not at all (a temporary file or folder
  renamed into place).
* **Imported** (:func:`import_masks`): the same ``.npz`` (``item_ids`` and ``masks``) or
  a folder of ``<item_id>.png``; every mask is checked before any is recorded.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import io
import json
import os
import shutil
import tempfile
import zlib
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from bayesal.errors import DataNotFoundError, InvalidInputError

if TYPE_CHECKING:
    from bayesal.session.session import LabellingSession

__all__ = [
    "MAX_MASK_CHARS",
    "MAX_MASK_PIXELS",
    "check_mask",
    "decode_mask",
    "encode_mask",
    "export_masks",
    "import_masks",
    "mask_digest",
    "mask_payload",
    "parse_mask_payload",
]

#: The largest mask a session takes (pixels): 4096 x 4096.
MAX_MASK_PIXELS = 4096 * 4096
#: The longest base64 string a posted mask may have (that of MAX_MASK_PIXELS bytes).
MAX_MASK_CHARS = 4 * ((MAX_MASK_PIXELS + 2) // 3)


def check_mask(mask: object, height: int, width: int, num_classes: int) -> np.ndarray:
    """``mask`` as a ``uint8`` ``[height, width]`` array of class indices.

    Raises:
        InvalidInputError: not an array of whole numbers, another size (both named), a
            class outside ``[0, num_classes)`` (the value and a pixel named).
    """
    try:
        array = np.asarray(mask)
    except (TypeError, ValueError):
        raise InvalidInputError("a mask must be an array of class indices") from None
    if array.dtype == bool or not (
        np.issubdtype(array.dtype, np.integer) or np.issubdtype(array.dtype, np.floating)
    ):
        raise InvalidInputError(f"a mask must hold class indices, got dtype {array.dtype}")
    if array.ndim != 2:
        raise InvalidInputError(
            f"a segmentation label is a mask, an [{height}, {width}] array of class indices "
            f"(one per pixel), not {type(mask).__name__} of shape {list(array.shape)}"
        )
    if array.shape != (height, width):
        raise InvalidInputError(
            f"mask of size {list(array.shape)}; this session's masks are [{height}, {width}] "
            "(the image size the model sees)"
        )
    if np.issubdtype(array.dtype, np.floating):
        if not np.isfinite(array).all() or (array != np.round(array)).any():
            raise InvalidInputError("a mask must hold whole class indices (no NaN or fractions)")
    bad = np.argwhere((array < 0) | (array >= num_classes))
    if len(bad):
        r, c = (int(v) for v in bad[0])
        value = array[r, c].item()
        raise InvalidInputError(
            f"mask class {value!r} at pixel (row {r}, column {c}) is out of range: "
            f"classes are 0 to {num_classes - 1}"
        )
    return array.astype(np.uint8)


def encode_mask(mask: np.ndarray) -> bytes:
    """zlib-compressed row-major ``uint8`` bytes of a checked mask."""
    return zlib.compress(np.ascontiguousarray(mask, dtype=np.uint8).tobytes(), 6)


def decode_mask(blob: bytes, height: int, width: int) -> np.ndarray:
    """The ``uint8`` ``[height, width]`` mask of :func:`encode_mask`'s bytes."""
    raw = zlib.decompress(blob)
    return np.frombuffer(raw, dtype=np.uint8).reshape(height, width).copy()


def mask_digest(mask: np.ndarray) -> int:
    """The first 62 bits of the SHA-256 of the mask's size and bytes: equal masks, equal
    digests (what resolve rules compare)."""
    array = np.ascontiguousarray(mask, dtype=np.uint8)
    h = hashlib.sha256(np.asarray(array.shape, dtype=np.int64).tobytes() + array.tobytes())
    return int.from_bytes(h.digest()[:8], "big") >> 2


def mask_payload(mask: np.ndarray) -> dict[str, Any]:
    """A mask as JSON: ``{"height", "width", "data": base64 of its bytes}``."""
    array = np.ascontiguousarray(mask, dtype=np.uint8)
    return {
        "height": int(array.shape[0]),
        "width": int(array.shape[1]),
        "data": base64.b64encode(array.tobytes()).decode("ascii"),
    }


def parse_mask_payload(payload: object, height: int, width: int, num_classes: int) -> np.ndarray:
    """A posted mask (see the module docstring) as a checked ``uint8`` ``[H, W]`` array.

    Raises:
        InvalidInputError: what is wrong: not a mapping with height, width and data, a
            size other than the session's, data that is not base64 or too long, a byte
            count other than height x width, a class out of range.
    """
    if not isinstance(payload, Mapping):
        raise InvalidInputError(
            'a mask is {"height": H, "width": W, "data": base64 of H*W class bytes}'
        )
    unknown = sorted(str(k)[:50] for k in payload if k not in ("height", "width", "data"))
    if unknown:
        raise InvalidInputError(f"a mask takes height, width and data, not {unknown}")
    h, w, data = payload.get("height"), payload.get("width"), payload.get("data")
    for name, value in (("height", h), ("width", w)):
        if isinstance(value, bool) or not isinstance(value, int):
            raise InvalidInputError(f"mask {name} must be an integer, got {value!r:.50}")
    assert isinstance(h, int) and isinstance(w, int)
    if (h, w) != (height, width):
        raise InvalidInputError(
            f"mask of size [{h}, {w}]; this session's masks are [{height}, {width}]"
        )
    if not isinstance(data, str):
        raise InvalidInputError("mask data must be a base64 string")
    if len(data) > MAX_MASK_CHARS or len(data) > 4 * ((height * width + 2) // 3) + 4:
        raise InvalidInputError(
            f"mask data of {len(data)} characters is longer than a [{height}, {width}] "
            "mask's base64"
        )
    try:
        raw = base64.b64decode(data.encode("ascii"), validate=True)
    except (binascii.Error, UnicodeEncodeError, ValueError):
        raise InvalidInputError("mask data is not valid base64") from None
    if len(raw) != height * width:
        raise InvalidInputError(
            f"mask data holds {len(raw)} bytes; a [{height}, {width}] mask has "
            f"{height * width} (one class index per pixel)"
        )
    return check_mask(
        np.frombuffer(raw, dtype=np.uint8).reshape(height, width), height, width, num_classes
    )


# --------------------------------------------------------------------------- files


def _png_bytes(mask: np.ndarray) -> bytes:
    from PIL import Image

    out = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(mask, dtype=np.uint8), mode="L").save(out, "PNG")
    return out.getvalue()


def _read_png(path: Path) -> np.ndarray:
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as img:
            if img.mode not in ("L", "P", "I", "I;16"):
                raise InvalidInputError(
                    f"{path.name}: a mask PNG is 8-bit grey (pixel value = class index), "
                    f"got mode {img.mode}"
                )
            return np.asarray(img)
    except (OSError, UnidentifiedImageError) as exc:
        raise InvalidInputError(f"{path.name}: not a readable PNG ({exc})") from None


def export_masks(session: LabellingSession, out: str | Path, *, annotations: bool = False) -> Path:
    """Write the resolved masks (or, ``annotations=True``, every annotator's mask) to
    ``out``: an ``.npz`` file, or a folder of PNGs otherwise (which must not exist yet);
    see the module docstring. Written whole or not at all.

    Raises:
        InvalidInputError: not a segmentation session, or ``out`` is an existing folder.
    """
    if session.task != "segmentation":
        raise InvalidInputError("export_masks: this is not a segmentation session")
    out = Path(out)
    rows = session.mask_rows(annotations=annotations)
    refs = {i: ref for i, ref, _ in session.store.items()}
    height, width = session.mask_size
    if out.suffix.lower() == ".npz":
        arrays: dict[str, np.ndarray] = {
            "item_ids": np.asarray([r[0] for r in rows], dtype=np.int64),
            "refs": np.asarray([refs[r[0]] for r in rows], dtype=str),
            "masks": (
                np.stack([r[2] for r in rows])
                if rows
                else np.zeros((0, height, width), dtype=np.uint8)
            ),
            "class_names": np.asarray(session.label_names, dtype=str),
        }
        if annotations:
            arrays["annotators"] = np.asarray([r[1] for r in rows], dtype=str)
        out.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{out.name}.", suffix=".tmp", dir=out.parent)
        try:
            with os.fdopen(fd, "wb") as fh:
                np.savez_compressed(fh, **arrays)  # type: ignore[arg-type]
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, out)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        return out
    if out.exists():
        raise InvalidInputError(f"{out} exists: give a new folder (or a .npz file)")
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp_dir = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    try:
        (tmp_dir / "classes.json").write_text(json.dumps(session.label_names))
        for item_id, annotator, mask in rows:
            name = f"{item_id}.{_safe(annotator)}.png" if annotations else f"{item_id}.png"
            with open(tmp_dir / name, "wb") as fh:
                fh.write(_png_bytes(mask))
                fh.flush()
                os.fsync(fh.fileno())
        os.replace(tmp_dir, out)
    except BaseException:
        shutil.rmtree(tmp_dir, ignore_errors=True)
        raise
    return out


def _safe(name: str) -> str:
    """An annotator name as a file-name part (letters, digits, ``-_``; others ``_``)."""
    return "".join(c if c.isalnum() or c in "-_" else "_" for c in name)


def import_masks(session: LabellingSession, source: str | Path, *, annotator: str) -> int:
    """Record ``annotator``'s masks from ``source`` (an ``.npz`` with ``item_ids`` and
    ``masks``, or a folder of ``<item_id>.png``): every mask is checked (item, size,
    classes) before any is recorded, then all are recorded in one transaction. Returns
    how many were recorded.

    Raises:
        DataNotFoundError: no such file or folder.
        InvalidInputError: a bad file, item or mask (named); nothing is recorded.
    """
    source = Path(source)
    pairs: list[tuple[object, object]] = []
    if source.is_file():
        try:
            with np.load(source, allow_pickle=False) as npz:
                if "item_ids" not in npz or "masks" not in npz:
                    raise InvalidInputError(
                        f"{source.name}: an .npz of masks holds item_ids and masks"
                    )
                ids, masks = npz["item_ids"], npz["masks"]
        except (OSError, ValueError, zlib.error) as exc:
            raise InvalidInputError(f"{source.name}: not a readable .npz ({exc})") from None
        if ids.ndim != 1 or masks.ndim != 3 or len(ids) != len(masks):
            raise InvalidInputError(
                f"{source.name}: item_ids [n] and masks [n, H, W] expected, got "
                f"{list(ids.shape)} and {list(masks.shape)}"
            )
        if not np.issubdtype(ids.dtype, np.integer):
            raise InvalidInputError(f"{source.name}: item_ids must be integers")
        pairs = [(int(i), m) for i, m in zip(ids, masks, strict=True)]
    elif source.is_dir():
        files = sorted(p for p in source.iterdir() if p.suffix.lower() == ".png")
        for path in files:
            if not path.stem.lstrip("-").isdigit():
                raise InvalidInputError(
                    f"{path.name}: mask files are named <item_id>.png (e.g. 17.png)"
                )
            pairs.append((int(path.stem), _read_png(path)))
    else:
        raise DataNotFoundError(f"{source} does not exist")
    if not pairs:
        raise InvalidInputError(f"{source}: no masks found")
    return session.label_masks(pairs, annotator, source="import")
