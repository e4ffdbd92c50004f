"""Read and write the idx format of MNIST-style datasets, with numpy only.

An idx file is a 4-byte magic number ``0x00 0x00 <dtype code> <ndim>``, then ``ndim``
big-endian uint32 dimensions, then the array in C order, big-endian. The files are
usually gzip-compressed; :func:`read_idx` detects gzip by its magic bytes, not the name.
Format reference: http://yann.lecun.com/exdb/mnist/ (bottom of the page).
"""

from __future__ import annotations

import gzip
import os
import struct
import zlib
from pathlib import Path

import numpy as np

from bayesal._atomic import atomic_write_bytes
from bayesal.errors import InvalidInputError

__all__ = ["IDX_DTYPES", "read_idx", "write_idx"]

# dtype code (third magic byte) -> big-endian numpy dtype, as the format defines them.
IDX_DTYPES: dict[int, np.dtype] = {
    0x08: np.dtype(">u1"),
    0x09: np.dtype(">i1"),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}
_GZIP_MAGIC = b"\x1f\x8b"


def _read_bytes(path: Path) -> bytes:
    try:
        with open(path, "rb") as fh:
            raw = fh.read()
    except FileNotFoundError:
        raise
    except OSError as exc:
        raise InvalidInputError(f"{path}: cannot read idx file ({exc})") from exc
    if raw[:2] != _GZIP_MAGIC:
        return raw
    try:
        return gzip.decompress(raw)
    except (EOFError, OSError, zlib.error) as exc:  # truncated or corrupt gzip stream
        raise InvalidInputError(
            f"{path}: corrupt gzip data ({exc}); delete the file and fetch it again"
        ) from exc


def read_idx(path: str | os.PathLike[str]) -> np.ndarray:
    """Read one idx file (plain or gzip-compressed) into a native-endian numpy array.

    Args:
        path: the file; gzip compression is detected from the content.

    Returns:
        An array with the file's shape and dtype (uint8, int8, int16, int32, float32 or
        float64), native byte order, writeable.

    Raises:
        FileNotFoundError: the file does not exist.
        InvalidInputError: the content is not a valid idx file (bad magic number, unknown
            dtype code, no dimensions, truncated or trailing data, corrupt gzip); the
            message names the file.
    """
    path = Path(path)
    raw = _read_bytes(path)
    if len(raw) < 4:
        raise InvalidInputError(
            f"{path}: {len(raw)} bytes is too short for an idx header; the file is truncated"
        )
    zero0, zero1, code, ndim = raw[0], raw[1], raw[2], raw[3]
    if zero0 != 0 or zero1 != 0:
        raise InvalidInputError(
            f"{path}: bad idx magic number 0x{raw[:4].hex()} (must start with 0x0000); "
            "this is not an idx file"
        )
    if code not in IDX_DTYPES:
        known = ", ".join(f"0x{c:02X}" for c in IDX_DTYPES)
        raise InvalidInputError(f"{path}: unknown idx dtype code 0x{code:02X} (known: {known})")
    if ndim == 0:
        raise InvalidInputError(f"{path}: idx header declares 0 dimensions")
    header_len = 4 + 4 * ndim
    if len(raw) < header_len:
        raise InvalidInputError(
            f"{path}: header declares {ndim} dimensions but the file ends after "
            f"{len(raw)} bytes; the file is truncated"
        )
    shape = struct.unpack(f">{ndim}I", raw[4:header_len])
    dtype = IDX_DTYPES[code]
    expected = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    actual = len(raw) - header_len
    if actual != expected:
        what = "truncated" if actual < expected else "followed by extra bytes"
        raise InvalidInputError(
            f"{path}: shape {shape} of {dtype.name} needs {expected} data bytes, found "
            f"{actual}; the file is {what}"
        )
    array = np.frombuffer(raw, dtype=dtype, offset=header_len).reshape(shape)
    # astype copies: the result is native-endian and writeable, not a view of `raw`.
    return array.astype(dtype.newbyteorder("="))


def write_idx(
    path: str | os.PathLike[str], array: np.ndarray, *, compress: bool | None = None
) -> Path:
    """Write ``array`` as an idx file, atomically (temporary file, then ``os.replace``).

    Args:
        path: destination file.
        array: 1-D or more, of dtype uint8, int8, int16, int32, float32 or float64.
        compress: gzip the file; ``None`` (default) compresses when the name ends in ``.gz``.

    Returns:
        The path written.

    Raises:
        InvalidInputError: unsupported dtype, 0-d array, or a dimension >= 2**32.
    """
    path = Path(path)
    array = np.asarray(array)
    codes = {dt.newbyteorder("="): code for code, dt in IDX_DTYPES.items()}
    native = array.dtype.newbyteorder("=")
    if native not in codes:
        raise InvalidInputError(
            f"idx cannot store dtype {array.dtype}; use one of "
            + ", ".join(dt.name for dt in codes)
        )
    if array.ndim == 0 or array.ndim > 255:
        raise InvalidInputError(f"idx needs 1 to 255 dimensions, got {array.ndim}")
    if any(d >= 2**32 for d in array.shape):
        raise InvalidInputError(f"idx dimensions must be < 2**32, got {array.shape}")
    code = codes[native]
    header = bytes([0, 0, code, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape)
    payload = header + np.ascontiguousarray(array, dtype=IDX_DTYPES[code]).tobytes()
    if compress is None:
        compress = path.name.endswith(".gz")
    if compress:
        payload = gzip.compress(payload, mtime=0)
    atomic_write_bytes(path, payload)
    return path
