"""Datasets, the pool of labelled / unlabelled ids, and the dataset registry."""

from bayesal.data.dataset import Dataset
from bayesal.data.digits import load_digits
from bayesal.data.files import (
    MISSING,
    ArrayData,
    load_csv,
    load_npy,
    load_parquet,
    read_arrays,
    read_table,
)
from bayesal.data.images import load_image_folder, read_image_folder
from bayesal.data.pool import Pool, balanced_initial_ids
from bayesal.data.registry import available_datasets, load_dataset
from bayesal.data.two_moons import load_two_moons
from bayesal.data.wine import load_wine

__all__ = [
    "MISSING",
    "ArrayData",
    "Dataset",
    "Pool",
    "available_datasets",
    "balanced_initial_ids",
    "load_csv",
    "load_dataset",
    "load_image_folder",
    "load_npy",
    "load_parquet",
    "load_two_moons",
    "load_digits",
    "load_wine",
    "read_arrays",
    "read_image_folder",
    "read_table",
]
