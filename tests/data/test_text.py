"""The text dataset kind: reading text tables, errors, features, the ``text`` dataset."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from bayesal.data import MISSING
from bayesal.data.registry import available_datasets, load_dataset
from bayesal.data.text import load_text, read_text, read_text_features
from bayesal.data.text_features import fit_text_features
from bayesal.errors import DataNotFoundError, InvalidInputError

SPORT = "match goal team score player coach league season win".split()
COOK = "recipe oven flour sugar butter bake taste dish kitchen".split()
NOISE = "the a of and today really very new".split()


def _corpus(n: int = 60, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    rows = []
    for i in range(n):
        topic = "sport" if i % 2 == 0 else "cooking"
        words = rng.choice((SPORT if topic == "sport" else COOK) + NOISE, size=10)
        rows.append({"doc_id": 1000 + 7 * i, "body": " ".join(words), "topic": topic})
    return pd.DataFrame(rows)


@pytest.fixture
def csv_file(tmp_path: Path) -> Path:
    path = tmp_path / "news.csv"
    _corpus().to_csv(path, index=False)
    return path


def test_read_text_reads_texts_labels_and_ids_from_the_named_columns(csv_file: Path) -> None:
    data = read_text(csv_file, text_column="body", label_column="topic", id_column="doc_id")
    frame = _corpus()
    assert data.texts == tuple(frame["body"])
    assert data.class_names == ("cooking", "sport")
    assert data.y.tolist() == [1 if t == "sport" else 0 for t in frame["topic"]]
    assert data.item_names == tuple(str(v) for v in frame["doc_id"])
    assert data.ids.tolist() == frame["doc_id"].tolist()  # the file's ids, not positions


def test_read_text_in_small_chunks_gives_the_same_data(csv_file: Path) -> None:
    whole = read_text(csv_file, text_column="body", label_column="topic", id_column="doc_id")
    chunked = read_text(
        csv_file, text_column="body", label_column="topic", id_column="doc_id", chunk_rows=7
    )
    assert chunked.texts == whole.texts and chunked.item_names == whole.item_names
    np.testing.assert_array_equal(chunked.y, whole.y)


def test_read_text_parquet_reads_the_same_as_csv(tmp_path: Path, csv_file: Path) -> None:
    pytest.importorskip("pyarrow")
    path = tmp_path / "news.parquet"
    _corpus().to_parquet(path)
    a = read_text(path, text_column="body", label_column="topic", id_column="doc_id", chunk_rows=9)
    b = read_text(csv_file, text_column="body", label_column="topic", id_column="doc_id")
    assert a.texts == b.texts and a.item_names == b.item_names and a.class_names == b.class_names
    np.testing.assert_array_equal(a.y, b.y)


def test_read_text_without_ids_uses_row_numbers_and_empty_labels_are_missing(
    tmp_path: Path,
) -> None:
    path = tmp_path / "t.csv"
    path.write_text('text,label\nfirst text,a\n"second, with comma",\nNA,b\n')
    data = read_text(path, label_column="label")
    assert data.texts == ("first text", "second, with comma", "NA")  # NA is a text
    assert data.y.tolist() == [0, MISSING, 1]
    assert data.item_names is None and data.ids.tolist() == [0, 1, 2]


def test_read_text_string_ids_keep_names_and_learner_ids_are_rows(tmp_path: Path) -> None:
    path = tmp_path / "t.csv"
    path.write_text("id,text\nx-1,hello\nx-2,world\n")
    data = read_text(path, id_column="id")
    assert data.item_names == ("x-1", "x-2") and data.ids.tolist() == [0, 1]


def test_missing_text_column_error_lists_the_columns(csv_file: Path) -> None:
    with pytest.raises(InvalidInputError, match=r"'text' not found.*'doc_id', 'body', 'topic'"):
        read_text(csv_file)


def test_missing_label_column_is_an_error_naming_it(csv_file: Path) -> None:
    with pytest.raises(InvalidInputError, match="'category' not found"):
        read_text(csv_file, text_column="body", label_column="category")


def test_empty_text_cells_are_an_error_naming_rows_and_ids(tmp_path: Path) -> None:
    path = tmp_path / "t.csv"
    path.write_text("id,text\n10,fine\n11,\n12,   \n13,ok\n")
    with pytest.raises(InvalidInputError, match=r"row 1 \(id '11'\): empty.*row 2 \(id '12'\)"):
        read_text(path, id_column="id")


def test_nan_and_non_string_parquet_cells_are_errors_naming_the_row(tmp_path: Path) -> None:
    pytest.importorskip("pyarrow")
    import pyarrow as pa
    import pyarrow.parquet as pq

    path = tmp_path / "t.parquet"
    pq.write_table(pa.table({"text": ["good", None, "fine"]}), path)
    with pytest.raises(InvalidInputError, match=r"text column 'text'.*row 1: empty \(NaN / null\)"):
        read_text(path)
    pq.write_table(pa.table({"text": pa.array([1, 2], pa.int64())}), path)
    with pytest.raises(InvalidInputError, match=r"row 0: not a string \(1\)"):
        read_text(path)


def test_repeated_or_empty_ids_are_errors(tmp_path: Path) -> None:
    path = tmp_path / "t.csv"
    path.write_text("id,text\na,one\na,two\n")
    with pytest.raises(InvalidInputError, match="must be unique; repeated: a"):
        read_text(path, id_column="id")
    path.write_text("id,text\na,one\n,two\n")
    with pytest.raises(InvalidInputError, match="empty in rows 1"):
        read_text(path, id_column="id")


def test_negative_integer_labels_and_a_missing_file_are_errors(tmp_path: Path) -> None:
    path = tmp_path / "t.csv"
    path.write_text("text,label\none,0\ntwo,-2\n")
    with pytest.raises(InvalidInputError, match="must be >= 0; negative in row 1"):
        read_text(path, label_column="label")
    with pytest.raises(DataNotFoundError, match="does not exist"):
        read_text(tmp_path / "nope.csv")


def test_integer_labels_are_class_indices(tmp_path: Path) -> None:
    path = tmp_path / "t.csv"
    path.write_text("text,label\none,2\ntwo,0\nthree,\n")
    data = read_text(path, label_column="label")
    assert data.y.tolist() == [2, 0, MISSING] and data.class_names is None


def test_text_dataset_is_registered_and_fits_features_on_the_pool_only(csv_file: Path) -> None:
    assert "text" in available_datasets()
    params = {"path": str(csv_file), "text_column": "body", "label_column": "topic"}
    d = load_dataset("text", test_fraction=0.25, seed=3, **params)
    assert d.num_classes == 2 and d.num_train == 45 and len(d.test_y) == 15
    assert d.train_x.dtype.__str__() == "torch.float32"
    # standardised by the pool's statistics only: pool mean 0, test mean not forced to 0
    assert np.allclose(d.train_x.mean(0).numpy(), 0, atol=1e-5)
    again = load_dataset("text", test_fraction=0.25, seed=3, **params)
    assert np.array_equal(d.train_x.numpy(), again.train_x.numpy())  # same seed, same features


def test_tfidf_vocabulary_comes_from_the_pool_not_the_test_texts() -> None:
    pool = ["red apple", "green apple", "red pear"]
    featurizer, _ = fit_text_features(
        pool, "tfidf", {"svd_components": None, "standardize": False, "ngram_range": [1, 1]}
    )
    assert featurizer.width == 4  # apple, green, pear, red
    unseen = featurizer.transform(["purple banana"])
    assert unseen.shape == (1, 4) and not unseen.any()


def test_hashing_features_are_stateless_without_svd() -> None:
    params = {"svd_components": None, "standardize": False, "n_features": 64}
    a, xa = fit_text_features(["one two", "three"], "hashing", params)
    b, _ = fit_text_features(["completely different", "pool"], "hashing", params)
    np.testing.assert_array_equal(a.transform(["one two"]), b.transform(["one two"]))
    np.testing.assert_array_equal(xa[:1], b.transform(["one two"]))


def test_svd_width_is_capped_by_a_small_corpus_and_seeded(csv_file: Path) -> None:
    texts = list(_corpus()["body"])
    f1, x1 = fit_text_features(texts, "tfidf", {"svd_components": 500}, seed=1)
    f2, x2 = fit_text_features(texts, "tfidf", {"svd_components": 500}, seed=1)
    assert f1.width < 500 and x1.shape == (60, f1.width)
    np.testing.assert_array_equal(x1, x2)


def test_unknown_feature_method_or_parameter_is_an_error() -> None:
    with pytest.raises(InvalidInputError, match="unknown text features 'bow'"):
        fit_text_features(["a b", "c d"], "bow")
    with pytest.raises(InvalidInputError, match=r"unknown parameters \['max_df'\]"):
        fit_text_features(["a b", "c d"], "tfidf", {"max_df": 0.5})


def test_read_text_features_gives_array_data_with_item_names(csv_file: Path) -> None:
    data, texts, featurizer = read_text_features(
        csv_file, text_column="body", label_column="topic", id_column="doc_id",
        feature_params={"svd_components": 8},
    )  # fmt: skip
    assert data.x.shape == (60, 8) and data.item_names == texts.item_names
    assert featurizer.transform(["goal and score"]).shape == (1, 8)


def test_load_text_with_a_test_file_merges_class_names(tmp_path: Path) -> None:
    train, test = tmp_path / "train.csv", tmp_path / "test.csv"
    _corpus(40).to_csv(train, index=False)
    extra = _corpus(10, seed=1)
    extra.loc[0, "topic"] = "travel"
    extra.to_csv(test, index=False)
    d = load_text(train, text_column="body", label_column="topic", test_path=test)
    assert d.num_classes == 3 and d.num_train == 40 and len(d.test_y) == 10
    assert d.test_x.shape[1] == d.train_x.shape[1]


def test_load_text_refuses_unlabelled_rows(tmp_path: Path) -> None:
    path = tmp_path / "t.csv"
    path.write_text("id,text,label\n5,one,a\n6,two,\n7,three,b\n")
    with pytest.raises(InvalidInputError, match=r"1 of 3 texts have no label \(id '6'\)"):
        load_text(path, id_column="id")


def test_run_config_checks_report_every_missing_text_file_and_column(csv_file: Path) -> None:
    from bayesal.experiment.data_checks import dataset_file_problems

    params = {"path": str(csv_file), "text_column": "bdy", "test_path": "nope.csv"}
    problems = dataset_file_problems("text", params)
    assert problems[0] == "dataset.params.test_path: file 'nope.csv' does not exist"
    assert "dataset.params.text_column: no column 'bdy'" in problems[1]
    assert "did you mean 'body'?" in problems[1]
    assert "dataset.params.label_column: no column 'label'" in problems[2]  # the default
    good = {"path": str(csv_file), "text_column": "body", "label_column": "topic"}
    assert dataset_file_problems("text", good) == []
