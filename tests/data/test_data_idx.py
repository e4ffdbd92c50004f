"""The idx reader and writer (bayesal.data.idx)."""

from __future__ import annotations

import gzip
import struct

import numpy as np
import pytest

from bayesal.data.idx import read_idx, write_idx
from bayesal.errors import InvalidInputError


def _idx_bytes(code: int, shape: tuple[int, ...], data: bytes) -> bytes:
    """A hand-built idx file, independent of write_idx."""
    return bytes([0, 0, code, len(shape)]) + struct.pack(f">{len(shape)}I", *shape) + data


def test_reads_hand_built_uint8_images(tmp_path):
    pixels = bytes(range(24))  # 2 images of 3 x 4
    path = tmp_path / "images-idx3-ubyte"
    path.write_bytes(_idx_bytes(0x08, (2, 3, 4), pixels))
    array = read_idx(path)
    assert array.dtype == np.uint8
    assert array.shape == (2, 3, 4)
    assert array[1, 2, 3] == 23 and array[0, 1, 0] == 4  # C order
    array[0, 0, 0] = 7  # result is writeable (not a view of the read-only buffer)


def test_reads_big_endian_int32_and_float32(tmp_path):
    ints = tmp_path / "ints"
    ints.write_bytes(_idx_bytes(0x0C, (3,), struct.pack(">3i", -1, 2, 70000)))
    np.testing.assert_array_equal(read_idx(ints), [-1, 2, 70000])
    assert read_idx(ints).dtype == np.int32
    floats = tmp_path / "floats.gz"
    floats.write_bytes(gzip.compress(_idx_bytes(0x0D, (2,), struct.pack(">2f", 0.5, -3.25))))
    result = read_idx(floats)
    assert result.dtype == np.float32 and result.dtype.isnative
    np.testing.assert_array_equal(result, [0.5, -3.25])


def test_gzip_is_detected_by_content_not_name(tmp_path):
    path = tmp_path / "labels-without-gz-suffix"
    path.write_bytes(gzip.compress(_idx_bytes(0x08, (3,), bytes([9, 0, 4]))))
    np.testing.assert_array_equal(read_idx(path), [9, 0, 4])


@pytest.mark.parametrize("name", ["a-idx3-ubyte", "a-idx3-ubyte.gz"])
@pytest.mark.parametrize("dtype", ["u1", "i1", "i2", "i4", "f4", "f8"])
def test_write_then_read_round_trips(tmp_path, name, dtype):
    array = (np.arange(60).reshape(3, 4, 5) - 20).astype(dtype)
    path = write_idx(tmp_path / name, array)
    assert (path.read_bytes()[:2] == b"\x1f\x8b") == name.endswith(".gz")
    back = read_idx(path)
    assert back.dtype == array.dtype and back.shape == array.shape
    np.testing.assert_array_equal(back, array)
    assert [p.name for p in tmp_path.iterdir()] == [name]  # no temporary file left


def test_write_rejects_unsupported_dtype(tmp_path):
    with pytest.raises(InvalidInputError, match="cannot store dtype"):
        write_idx(tmp_path / "x", np.zeros(3, dtype=np.uint16))


def test_missing_file_is_file_not_found(tmp_path):
    with pytest.raises(FileNotFoundError):
        read_idx(tmp_path / "absent")


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"\x00\x00", "too short"),
        (b"\x01\x00\x08\x01" + struct.pack(">I", 1) + b"\x00", "bad idx magic"),
        (b"\x00\x00\x07\x01" + struct.pack(">I", 1) + b"\x00", "unknown idx dtype code 0x07"),
        (b"\x00\x00\x08\x00", "0 dimensions"),
        (b"\x00\x00\x08\x03" + struct.pack(">I", 2), "truncated"),
        (_idx_bytes(0x08, (2, 3), bytes(5)), "found 5; the file is truncated"),
        (_idx_bytes(0x08, (2, 3), bytes(7)), "extra bytes"),
        (_idx_bytes(0x0C, (2,), bytes(7)), "needs 8 data bytes"),
    ],
)
def test_corrupt_files_raise_naming_the_file(tmp_path, content, message):
    path = tmp_path / "broken-idx1-ubyte"
    path.write_bytes(content)
    with pytest.raises(InvalidInputError, match=message) as info:
        read_idx(path)
    assert str(path) in str(info.value)


def test_truncated_gzip_raises_naming_the_file(tmp_path):
    full = gzip.compress(_idx_bytes(0x08, (1000,), bytes(range(250)) * 4))
    path = tmp_path / "cut.gz"
    path.write_bytes(full[: len(full) // 2])
    with pytest.raises(InvalidInputError, match="corrupt gzip") as info:
        read_idx(path)
    assert str(path) in str(info.value)
