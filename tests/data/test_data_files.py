"""A user's own files: tables, arrays, image folders (readers and registered loaders)."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from bayesal.data import (
    MISSING,
    ArrayData,
    available_datasets,
    load_csv,
    load_dataset,
    load_image_folder,
    load_npy,
    read_arrays,
    read_image_folder,
    read_table,
)
from bayesal.errors import DataNotFoundError, InvalidInputError


def write_csv(path: Path, text: str) -> Path:
    path.write_text(text.strip() + "\n")
    return path


@pytest.fixture
def wine_csv(tmp_path: Path) -> Path:
    from sklearn.datasets import load_wine

    frame = load_wine(as_frame=True).frame  # 13 features and "target" (0, 1, 2)
    path = tmp_path / "wine.csv"
    frame.to_csv(path, index=False)
    return path


def test_registered_names() -> None:
    assert {"csv", "parquet", "npy", "image_folder"} <= set(available_datasets())
    assert MISSING == -1


# --------------------------------------------------------------------------- tables


def test_read_table_string_labels_missing_and_ids(tmp_path: Path) -> None:
    path = write_csv(
        tmp_path / "t.csv",
        """
id,a,b,label
r0,1.5,2,dog
r1,0.5,-1,cat
r2,3,4,
r3,2,0, dog
""",
    )
    data = read_table(path, label_column="label", id_column="id")
    assert isinstance(data, ArrayData)
    assert data.x.dtype == np.float32 and data.x.shape == (4, 2)
    np.testing.assert_array_equal(data.x, [[1.5, 2], [0.5, -1], [3, 4], [2, 0]])
    assert data.y.dtype == np.int64
    assert data.y.tolist() == [1, 0, MISSING, 1]  # sorted names: cat=0, dog=1
    assert data.class_names == ("cat", "dog")
    assert data.item_names == ("r0", "r1", "r2", "r3")
    assert data.labelled.tolist() == [True, True, False, True]


def test_read_table_integer_labels_used_as_is(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "t.csv", "a,y\n1,3\n2,\n3,0\n")
    data = read_table(path, label_column="y")
    assert data.y.tolist() == [3, MISSING, 0]
    assert data.class_names is None and data.item_names is None


def test_read_table_without_labels_and_chosen_features(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "t.csv", "a,b,c\n1,2,3\n4,5,6\n")
    data = read_table(path, feature_columns=["c", "a"])
    np.testing.assert_array_equal(data.x, [[3, 1], [6, 4]])
    assert data.y.tolist() == [MISSING, MISSING]


def test_read_table_tsv_and_explicit_format(tmp_path: Path) -> None:
    tsv = tmp_path / "t.tsv"
    tsv.write_text("a\tb\tl\n1\t2\tx\n")
    assert read_table(tsv, label_column="l").x.tolist() == [[1.0, 2.0]]
    txt = write_csv(tmp_path / "t.txt", "a,l\n1,x\n")
    with pytest.raises(InvalidInputError, match="format='csv'"):
        read_table(txt)
    assert read_table(txt, label_column="l", format="csv").class_names == ("x",)


def test_wine_through_the_registry(wine_csv: Path) -> None:
    ds = load_dataset("csv", path=str(wine_csv), label_column="target", test_fraction=0.25)
    assert ds.name == "wine"
    assert ds.num_classes == 3
    assert ds.input_shape == (13,)
    assert ds.num_train + len(ds.test_y) == 178
    assert len(ds.test_y) == round(0.25 * 178)
    assert ds.train_x.dtype == torch.float32 and ds.train_y.dtype == torch.int64
    # standardised with the pool's statistics
    torch.testing.assert_close(ds.train_x.mean(0), torch.zeros(13), atol=1e-5, rtol=0)
    torch.testing.assert_close(ds.train_x.std(0, unbiased=False), torch.ones(13), atol=1e-4, rtol=0)
    # deterministic under the seed, different under another seed
    again = load_csv(wine_csv, "target", test_fraction=0.25)
    assert torch.equal(ds.train_x, again.train_x) and torch.equal(ds.test_y, again.test_y)
    other = load_csv(wine_csv, "target", test_fraction=0.25, seed=1)
    assert not torch.equal(ds.test_x, other.test_x)


def test_wine_split_partitions_the_rows(wine_csv: Path) -> None:
    raw = pd.read_csv(wine_csv)
    ds = load_csv(wine_csv, "target", test_fraction=0.25, standardize=False)
    both = torch.cat([ds.train_x, ds.test_x]).numpy()
    expected = raw.drop(columns="target").to_numpy(dtype=np.float32)
    order = np.lexsort(both.T[::-1])
    np.testing.assert_array_equal(both[order], expected[np.lexsort(expected.T[::-1])])
    assert sorted(torch.cat([ds.train_y, ds.test_y]).tolist()) == sorted(raw["target"])


def test_relative_paths_are_relative_to_the_working_directory(
    wine_csv: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(wine_csv.parent)
    ds = load_dataset("csv", path="wine.csv", label_column="target")
    assert ds.num_train == 178 and ds.test_x.shape == (0, 13) and ds.test_y.shape == (0,)


def test_standardisation_uses_training_statistics_only(tmp_path: Path) -> None:
    train = write_csv(tmp_path / "train.csv", "a,const,y\n0,5,a\n2,5,b\n4,5,a\n")
    test = write_csv(tmp_path / "test.csv", "const,a,y,extra\n7,100,c,x\n5,-2,b,y\n")
    ds = load_csv(train, "y", test_path=test)
    mean, std = 2.0, np.std([0, 2, 4])
    torch.testing.assert_close(ds.train_x[:, 0], torch.tensor([-2, 0, 2]) / std)
    torch.testing.assert_close(ds.test_x[:, 0], (torch.tensor([100.0, -2.0]) - mean) / std)
    # a constant column is centred, not scaled
    torch.testing.assert_close(ds.train_x[:, 1], torch.zeros(3))
    torch.testing.assert_close(ds.test_x[:, 1], torch.tensor([2.0, 0.0]))
    # class names merged across files: a, b, c
    assert ds.num_classes == 3
    assert ds.train_y.tolist() == [0, 1, 0] and ds.test_y.tolist() == [2, 1]


def test_integer_labels_num_classes_spans_train_and_test(tmp_path: Path) -> None:
    train = write_csv(tmp_path / "train.csv", "a,y\n0,0\n1,1\n")
    test = write_csv(tmp_path / "test.csv", "a,y\n0,4\n")
    ds = load_csv(train, "y", test_path=test, standardize=False)
    assert ds.num_classes == 5
    assert ds.train_x.tolist() == [[0.0], [1.0]]


def test_parquet(tmp_path: Path) -> None:
    pytest.importorskip(
        "pyarrow",
        reason="pyarrow is not installed (`make test` installs it; pip install 'bayesal[parquet]')",
    )
    frame = pd.DataFrame(
        {
            "f1": [1.0, 2.0, 3.0, 4.0],
            "f2": np.arange(4, dtype=np.int32),
            "cls": ["b", "a", None, "b"],
        }
    )
    path = tmp_path / "data.parquet"
    frame.to_parquet(path)
    data = read_table(path, label_column="cls")
    assert data.y.tolist() == [1, 0, MISSING, 1] and data.class_names == ("a", "b")
    np.testing.assert_array_equal(data.x[:, 1], [0, 1, 2, 3])
    labelled = frame.dropna()
    labelled.to_parquet(tmp_path / "labelled.parquet")
    ds = load_dataset(
        "parquet", path=str(tmp_path / "labelled.parquet"), label_column="cls", standardize=False
    )
    assert ds.num_train == 3 and ds.num_classes == 2 and ds.input_shape == (2,)


def test_parquet_without_pyarrow_says_what_to_install(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "data.parquet"
    path.write_bytes(b"PAR1")
    monkeypatch.setitem(sys.modules, "pyarrow", None)  # import pyarrow -> ImportError
    with pytest.raises(DataNotFoundError, match=r"pip install pyarrow.*bayesal\[parquet\]"):
        read_table(path)


# --------------------------------------------------------------------------- table errors


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(DataNotFoundError, match="nope.csv"):
        read_table(tmp_path / "nope.csv")
    with pytest.raises(DataNotFoundError, match="does not exist"):
        load_dataset("csv", path=str(tmp_path / "nope.csv"), label_column="y")


def test_missing_label_and_feature_columns_list_the_columns(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "t.csv", "alpha,beta\n1,2\n")
    with pytest.raises(InvalidInputError, match=r"label column 'target'.*'alpha', 'beta'"):
        read_table(path, label_column="target")
    with pytest.raises(InvalidInputError, match=r"feature columns 'x', 'z'.*'alpha', 'beta'"):
        read_table(path, feature_columns=["alpha", "x", "z"])
    with pytest.raises(InvalidInputError, match=r"id column 'key'"):
        read_table(path, id_column="key")


def test_nan_and_inf_features_name_rows_and_columns(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "t.csv", "a,b,y\n1,2,0\n1,,1\n3,inf,0\n")
    with pytest.raises(
        InvalidInputError, match=r"row 1 column 'b' \(nan\).*row 2 column 'b' \(inf\)"
    ):
        read_table(path, label_column="y")
    too_big = write_csv(tmp_path / "big.csv", "a\n1e300\n")
    with pytest.raises(InvalidInputError, match="row 0 column 'a'"):
        read_table(too_big)


def test_nan_rows_listed_with_ids_and_truncated(tmp_path: Path) -> None:
    rows = "\n".join(f"k{i}," for i in range(8))
    path = write_csv(tmp_path / "t.csv", "id,a\n" + rows)
    with pytest.raises(InvalidInputError, match=r"row 0 \(id 'k0'\).*8 in all"):
        read_table(path, id_column="id")


def test_non_numeric_feature_column(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "t.csv", "a,colour,y\n1,red,0\n2,blue,1\n")
    with pytest.raises(InvalidInputError, match=r"not numeric: 'colour'.*'red'.*feature_columns"):
        read_table(path, label_column="y")
    assert read_table(path, label_column="y", feature_columns=["a"]).x.shape == (2, 1)


def test_empty_tables(tmp_path: Path) -> None:
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    with pytest.raises(InvalidInputError, match="empty"):
        read_table(empty)
    header_only = write_csv(tmp_path / "header.csv", "a,b,y")
    with pytest.raises(InvalidInputError, match="no rows"):
        read_table(header_only, label_column="y")


def test_bad_integer_labels(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "t.csv", "a,y\n1,0\n2,-1\n3,1.5\n")
    with pytest.raises(InvalidInputError, match=r"row 1 \(-1\), row 2 \(1.5\).*leave the cell"):
        read_table(path, label_column="y")


def test_duplicate_ids(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "t.csv", "id,a\nx,1\ny,2\nx,3\n")
    with pytest.raises(InvalidInputError, match="unique; repeated: x"):
        read_table(path, id_column="id")


def test_simulation_loaders_need_every_label(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "t.csv", "a,y\n1,0\n2,\n3,1\n")
    with pytest.raises(
        InvalidInputError, match=r"1 of 3 items have no label \(row 1\).*read_table"
    ):
        load_csv(path, "y")


def test_test_path_and_fraction_together_and_bad_fraction(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "t.csv", "a,y\n1,0\n2,1\n3,1\n")
    with pytest.raises(InvalidInputError, match="not both"):
        load_csv(path, "y", test_path=path, test_fraction=0.5)
    with pytest.raises(InvalidInputError, match=r"\[0, 1\)"):
        load_csv(path, "y", test_fraction=1.0)
    with pytest.raises(InvalidInputError, match="label_column"):
        load_dataset("csv", path=str(path))


def test_mixed_label_kinds_across_files(tmp_path: Path) -> None:
    train = write_csv(tmp_path / "train.csv", "a,y\n1,cat\n")
    test = write_csv(tmp_path / "test.csv", "a,y\n1,0\n")
    with pytest.raises(InvalidInputError, match="all class names or all integer"):
        load_csv(train, "y", test_path=test)


# --------------------------------------------------------------------------- arrays


def test_npy_float64_inputs_with_labels(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(10, 2, 3))  # float64
    y = np.arange(10) % 3
    np.save(tmp_path / "x.npy", x)
    np.save(tmp_path / "y.npy", y)
    ds = load_dataset(
        "npy", path=str(tmp_path / "x.npy"), labels_path=str(tmp_path / "y.npy"), test_fraction=0.2
    )
    assert ds.train_x.dtype == torch.float32 and ds.input_shape == (2, 3)
    assert ds.num_train == 8 and len(ds.test_y) == 2 and ds.num_classes == 3
    both = torch.cat([ds.train_x, ds.test_x])
    assert sorted(both.sum((1, 2)).tolist()) == pytest.approx(
        sorted(x.astype(np.float32).sum((1, 2)).tolist()), abs=1e-5
    )


def test_npz_with_x_and_y_and_test_files(tmp_path: Path) -> None:
    x = np.linspace(0, 1, 12, dtype=np.float64).reshape(6, 2)
    np.savez(tmp_path / "train.npz", x=x, y=np.array([0, 1, 0, 1, 2, 2]))
    np.savez(tmp_path / "test.npz", x=x[:2], y=np.array([3, 0]))
    ds = load_npy(tmp_path / "train.npz", test_path=tmp_path / "test.npz")
    assert ds.name == "train" and ds.num_classes == 4
    torch.testing.assert_close(ds.train_x, torch.as_tensor(x, dtype=torch.float32))
    assert ds.test_y.tolist() == [3, 0]
    np.save(tmp_path / "tx.npy", x[:2])
    np.save(tmp_path / "ty.npy", np.array([1, 1]))
    ds = load_npy(
        tmp_path / "train.npz",
        test_path=tmp_path / "tx.npy",
        test_labels_path=tmp_path / "ty.npy",
    )
    assert ds.test_y.tolist() == [1, 1] and ds.num_classes == 3


def test_read_arrays_missing_labels(tmp_path: Path) -> None:
    x = np.ones((4, 2))
    np.save(tmp_path / "x.npy", x)
    unlabelled = read_arrays(tmp_path / "x.npy")
    assert unlabelled.y.tolist() == [MISSING] * 4 and unlabelled.x.dtype == np.float32
    np.save(tmp_path / "y.npy", np.array([2, -1, 0, -1]))
    assert read_arrays(tmp_path / "x.npy", labels_path=tmp_path / "y.npy").y.tolist() == [
        2,
        MISSING,
        0,
        MISSING,
    ]
    np.save(tmp_path / "yf.npy", np.array([1.0, np.nan, 0.0, 2.0]))
    assert read_arrays(tmp_path / "x.npy", labels_path=tmp_path / "yf.npy").y.tolist() == [
        1,
        MISSING,
        0,
        2,
    ]
    np.save(tmp_path / "ys.npy", np.array(["b", "", "a", "b"]))
    named = read_arrays(tmp_path / "x.npy", labels_path=tmp_path / "ys.npy")
    assert named.y.tolist() == [1, MISSING, 0, 1] and named.class_names == ("a", "b")
    with pytest.raises(InvalidInputError, match=r"2 of 4 items have no label.*read_arrays"):
        load_npy(tmp_path / "x.npy", labels_path=tmp_path / "y.npy")
    with pytest.raises(InvalidInputError, match="no labels; pass labels_path"):
        load_npy(tmp_path / "x.npy")


def test_array_errors(tmp_path: Path) -> None:
    with pytest.raises(DataNotFoundError, match="missing.npy"):
        read_arrays(tmp_path / "missing.npy")
    np.savez(tmp_path / "d.npz", inputs=np.ones((3, 2)), labels=np.zeros(3, dtype=int))
    with pytest.raises(InvalidInputError, match=r"no array 'x'.*'inputs', 'labels'.*x_key"):
        read_arrays(tmp_path / "d.npz")
    data = read_arrays(tmp_path / "d.npz", x_key="inputs", y_key="labels")
    assert data.y.tolist() == [0, 0, 0]
    np.save(tmp_path / "x.npy", np.ones((3, 2)))
    np.save(tmp_path / "y.npy", np.zeros(4, dtype=int))
    with pytest.raises(InvalidInputError, match="3 inputs but .* 4 labels"):
        read_arrays(tmp_path / "x.npy", labels_path=tmp_path / "y.npy")
    np.save(tmp_path / "nan.npy", np.array([[1.0, np.nan], [np.inf, 0.0]]))
    with pytest.raises(InvalidInputError, match=r"item 0 index \[1\].*item 1 index \[0\]"):
        read_arrays(tmp_path / "nan.npy")
    np.save(tmp_path / "onehot.npy", np.eye(3))
    with pytest.raises(InvalidInputError, match="one-hot"):
        read_arrays(tmp_path / "x.npy", labels_path=tmp_path / "onehot.npy")
    np.save(tmp_path / "flat.npy", np.ones(3))
    with pytest.raises(InvalidInputError, match=r"shape \[N, \.\.\.\]"):
        read_arrays(tmp_path / "flat.npy")
    (tmp_path / "junk.npy").write_text("not numpy")
    with pytest.raises(InvalidInputError, match="junk.npy: not a .npy or .npz file"):
        read_arrays(tmp_path / "junk.npy")


# --------------------------------------------------------------------------- images


def make_png(path: Path, value: int, size: tuple[int, int] = (4, 3), mode: str = "L") -> None:
    from PIL import Image

    path.parent.mkdir(parents=True, exist_ok=True)
    color = value if mode == "L" else (value, 0, 255 - value)
    Image.new(mode, (size[1], size[0]), color).save(path)  # PIL sizes are (width, height)


@pytest.fixture
def image_root(tmp_path: Path) -> Path:
    root = tmp_path / "pics"
    make_png(root / "dog" / "b.png", 255)
    make_png(root / "dog" / "a.PNG", 51)
    make_png(root / "cat" / "1.png", 0)
    make_png(root / "unknown.png", 102)
    (root / "notes.txt").write_text("ignored")
    return root


def test_read_image_folder(image_root: Path) -> None:
    data = read_image_folder(image_root)
    assert data.class_names == ("cat", "dog")
    assert data.item_names == ("cat/1.png", "dog/a.PNG", "dog/b.png", "unknown.png")
    assert data.y.tolist() == [0, 1, 1, MISSING]
    assert data.x.shape == (4, 1, 4, 3) and data.x.dtype == np.float32
    np.testing.assert_allclose(data.x[:, 0, 0, 0], [0.0, 0.2, 1.0, 0.4], atol=1e-6)
    rgb = read_image_folder(image_root, mode="RGB", size=(2, 5))
    assert rgb.x.shape == (4, 3, 2, 5)
    np.testing.assert_allclose(rgb.x[1, :, 1, 4], [0.2, 0.2, 0.2], atol=1e-6)  # gray -> RGB


def test_rgb_channels_first(tmp_path: Path) -> None:
    make_png(tmp_path / "colour" / "c" / "x.png", 255, mode="RGB")  # (255, 0, 0): red
    data = read_image_folder(tmp_path / "colour", mode="RGB")
    assert data.x.shape == (1, 3, 4, 3)
    np.testing.assert_array_equal(data.x[0, :, 2, 1], [1.0, 0.0, 0.0])


def test_image_sizes_must_agree_unless_resized(image_root: Path) -> None:
    make_png(image_root / "cat" / "big.png", 10, size=(8, 8))
    with pytest.raises(InvalidInputError, match=r"differ in size.*8x8.*size=\(height, width\)"):
        read_image_folder(image_root)
    assert read_image_folder(image_root, size=6).x.shape == (5, 1, 6, 6)


def test_load_image_folder(image_root: Path, tmp_path: Path) -> None:
    with pytest.raises(InvalidInputError, match=r"1 of 4 items have no label \(unknown.png\)"):
        load_image_folder(image_root)
    (image_root / "unknown.png").unlink()
    ds = load_dataset("image_folder", root=str(image_root), test_fraction=0.34)
    assert ds.name == "pics" and ds.num_classes == 2
    assert ds.num_train == 2 and len(ds.test_y) == 1 and ds.input_shape == (1, 4, 3)
    test_root = tmp_path / "pics_test"
    make_png(test_root / "bird" / "x.png", 1)
    make_png(test_root / "dog" / "y.png", 2)
    ds = load_image_folder(image_root, test_root=test_root, mode="RGB")
    assert ds.num_classes == 3  # bird, cat, dog
    assert ds.train_y.tolist() == [1, 2, 2] and ds.test_y.tolist() == [0, 2]
    assert ds.test_x.shape == (2, 3, 4, 3)


def test_image_folder_errors(tmp_path: Path) -> None:
    with pytest.raises(DataNotFoundError, match="does not exist"):
        read_image_folder(tmp_path / "nope")
    (tmp_path / "empty" / "cat").mkdir(parents=True)
    with pytest.raises(InvalidInputError, match="no images found"):
        read_image_folder(tmp_path / "empty")
    bad = tmp_path / "bad" / "cat" / "x.png"
    bad.parent.mkdir(parents=True)
    bad.write_bytes(b"not an image")
    with pytest.raises(InvalidInputError, match="x.png: cannot read it as an image"):
        read_image_folder(tmp_path / "bad")
    with pytest.raises(InvalidInputError, match="mode must be"):
        read_image_folder(tmp_path / "bad", mode="CMYK")
    with pytest.raises(InvalidInputError, match="size must be"):
        read_image_folder(tmp_path / "bad", size=(0, 3))
