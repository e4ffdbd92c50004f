"""Sample data to try a labelling session on: scikit-learn's digits as image files.

``python -m bayesal.data.samples OUT [--count N] [--labelled-per-class K]`` writes
``N`` 8x8 grayscale digit images (PNG) at the top of the folder ``OUT`` (unlabelled)
and ``K`` per class in class folders ``OUT/zero`` .. ``OUT/nine`` (already labelled):
the layout of :func:`bayesal.data.images.read_image_folder`. A count out of range, or an
``OUT`` that cannot be written, is one line on stderr and exit status 2.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from bayesal._atomic import atomic_write
from bayesal.errors import BayesalError, InvalidInputError

__all__ = ["DIGIT_NAMES", "write_digit_images"]

DIGIT_NAMES = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")
_FIRST_UNLABELLED = 1000  # unlabelled images come from here on, labelled ones before


def write_digit_images(
    folder: str | Path, count: int = 500, labelled_per_class: int = 0
) -> NDArray[np.int64]:
    """Write digit images into ``folder`` (created); return the true labels of the
    unlabelled ones, in file-name order (``img0000.png``, ``img0001.png``, ...).

    Raises:
        InvalidInputError: ``count`` outside 1..797 or ``labelled_per_class`` outside
            0..90 (scikit-learn has 1,797 digits).
    """
    from PIL import Image
    from sklearn.datasets import load_digits

    digits = load_digits()
    most = len(digits.target) - _FIRST_UNLABELLED
    if not 1 <= count <= most:
        raise InvalidInputError(f"count must be between 1 and {most}, got {count}")
    if not 0 <= labelled_per_class <= 90:
        raise InvalidInputError(
            f"labelled_per_class must be between 0 and 90, got {labelled_per_class}"
        )
    images = np.round(digits.images * (255 / 16)).astype(np.uint8)
    folder = Path(folder)

    def save(pixels: NDArray[np.uint8], path: Path) -> None:
        atomic_write(path, lambda fh: Image.fromarray(pixels).save(fh, format="PNG"))

    for c in range(10 if labelled_per_class else 0):
        rows = np.flatnonzero(digits.target[:_FIRST_UNLABELLED] == c)[:labelled_per_class]
        for r in rows:
            save(images[r], folder / DIGIT_NAMES[c] / f"d{r:04d}.png")
    for i in range(count):
        save(images[_FIRST_UNLABELLED + i], folder / f"img{i:04d}.png")
    labels: NDArray[np.int64] = digits.target[_FIRST_UNLABELLED : _FIRST_UNLABELLED + count]
    return labels.astype(np.int64)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m bayesal.data.samples", description=__doc__.splitlines()[0]
    )
    parser.add_argument("out", type=Path, help="folder to write the images into")
    parser.add_argument("--count", type=int, default=500, help="unlabelled images (<= 797)")
    parser.add_argument("--labelled-per-class", type=int, default=0)
    args = parser.parse_args(argv)
    try:
        write_digit_images(args.out, args.count, args.labelled_per_class)
    except BayesalError as exc:  # a bad count: one line, exit status 2, no traceback
        flag = "--labelled-per-class" if "labelled_per_class" in str(exc) else "--count"
        parser.exit(2, f"{parser.prog}: error: {flag}: {exc}\n")
    except OSError as exc:  # OUT under a file, no permission, a full disk
        if exc.errno is None:
            raise
        where = f"{exc.filename}: " if exc.filename is not None else ""
        parser.exit(2, f"{parser.prog}: error: {where}{exc.strerror or exc}\n")
    print(f"wrote {args.count} unlabelled digit images to {args.out}")


if __name__ == "__main__":
    main()
