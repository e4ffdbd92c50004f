"""Datasets, the pool of labelled / unlabelled ids, and the dataset registry."""

from bayesal.data.dataset import Dataset
from bayesal.data.pool import Pool, balanced_initial_ids
from bayesal.data.registry import available_datasets, load_dataset
from bayesal.data.two_moons import load_two_moons

__all__ = [
    "Dataset",
    "Pool",
    "available_datasets",
    "balanced_initial_ids",
    "load_dataset",
    "load_two_moons",
]
