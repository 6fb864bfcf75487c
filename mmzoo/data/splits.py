"""Seeded train / validation / test splits of one table, keeping groups whole.

`split_rows` cuts the rows of one manifest into splits by fraction. With a group
column (a speaker, a patient, a product), whole groups are assigned, so no group's
rows fall in two splits: what a model is tested on was never seen in training, not
even as another take of the same speaker. The groups are shuffled with the seed and
dealt to the splits in turn until each has its share of rows.

>>> rows = split_rows(10, {"validation": 0.2, "test": 0.2}, seed=0)
>>> {name: len(indices) for name, indices in rows.items()}
{'train': 6, 'validation': 2, 'test': 2}
>>> groups = ["a", "a", "b", "b", "c", "c", "d", "d"]
>>> parts = split_rows(8, {"validation": 0.25, "test": 0.25}, seed=1, groups=groups)
>>> [sorted({groups[i] for i in part}) for part in parts.values()]
[['c', 'd'], ['a'], ['b']]
"""

import numpy as np

SPLITS = ("train", "validation", "test")


def split_rows(num_rows, fractions, seed=0, groups=None):
    """Row indices of each split.

    Args:
        num_rows: the number of rows.
        fractions: dict from `"validation"` and/or `"test"` to the fraction of rows
            it gets (>= 0; together < 1); the train split gets the rest.
        seed: int; the same seed, rows and groups give the same splits.
        groups: optional sequence, one group key per row: each group lands whole in
            one split (the fractions are then met as closely as whole groups allow).

    Returns:
        Dict `{"train": [...], "validation": [...], "test": [...]}` of sorted row
        indices (a split without a fraction is empty).

    Raises:
        ValueError: a bad fraction, `groups` of the wrong length, or too few rows
            (groups) to give every split with a fraction at least one.
    """
    unknown = sorted(set(fractions) - set(SPLITS[1:]))
    if unknown:
        raise ValueError(f"Split fractions are for 'validation' and 'test'. Received: {unknown}")
    for name, fraction in fractions.items():
        if isinstance(fraction, bool) or not isinstance(fraction, (int, float)) or not (
                0 <= fraction < 1):
            raise ValueError(f"The {name} fraction must be in [0, 1). "
                             f"Received: {name}={fraction!r}")
    if sum(fractions.values()) >= 1:
        raise ValueError(f"The validation and test fractions must leave rows for training. "
                         f"Received: {fractions}")
    if groups is None:
        groups = np.arange(num_rows)
    elif len(groups) != num_rows:
        raise ValueError(f"`groups` needs one key per row ({num_rows}). Received: {len(groups)}")
    keys, group_of_row = np.unique(np.asarray([str(g) for g in groups]), return_inverse=True)
    sizes = np.bincount(group_of_row, minlength=len(keys))
    order = np.random.default_rng(seed).permutation(len(keys))
    wanted = {name: fractions.get(name, 0) for name in SPLITS[1:]}
    needed = sum(1 for f in wanted.values() if f > 0) + 1
    if len(keys) < needed:
        raise ValueError(
            f"{len(keys)} group(s) cannot fill {needed} splits: lower the fractions or give "
            f"more rows. Received: fractions={fractions}"
        )
    assignment = np.zeros(len(keys), np.int64)  # 0 train, 1 validation, 2 test
    position = 0
    for split_index, name in enumerate(SPLITS[1:], start=1):
        if wanted[name] <= 0:
            continue
        target, taken = wanted[name] * num_rows, 0
        # At least one group, then more while that brings the share closer.
        while position < len(order) - 1 and (
                taken == 0 or abs(taken + sizes[order[position]] - target) < abs(taken - target)):
            assignment[order[position]] = split_index
            taken += sizes[order[position]]
            position += 1
    row_split = assignment[group_of_row]
    return {name: np.flatnonzero(row_split == i).tolist() for i, name in enumerate(SPLITS)}
