import numpy as np
import pytest

import mmzoo
from mmzoo.datasets import DataNotFoundError


def test_from_tfds_reads_prepared_mnist_without_network(data_dir):
    ds = mmzoo.data.from_tfds(
        "mnist", "test[:20]", data_dir=data_dir / "tensorflow_datasets",
        features={"image": "image"}, batch_size=8, shuffle=False,
    )
    batches = list(ds)
    assert [int(y.shape[0]) for _, y in batches] == [8, 8, 4]
    x, y = batches[0]
    assert sorted(x) == ["image"]
    assert x["image"].shape == (8, 28, 28, 1) and x["image"].dtype.name == "float32"
    assert 0.0 <= float(np.min(x["image"])) and float(np.max(x["image"])) <= 1.0
    assert float(np.max(x["image"])) > 0.5  # real digits, scaled, not zeros
    assert y.dtype.name == "int64" and set(y.numpy()) <= set(range(10))


def test_from_tfds_feeds_a_model(data_dir):
    model = mmzoo.create_model("avmnist_image_lenet")
    model.compile("adam")
    ds = mmzoo.data.from_tfds("mnist", "train[:64]", data_dir=data_dir, batch_size=32, seed=3)
    history = model.fit(ds, epochs=1, verbose=0)
    assert np.isfinite(history.history["loss"][0])


def test_from_tfds_same_seed_same_order_and_epochs_differ(data_dir):
    def labels(ds):
        return [np.concatenate([y.numpy() for _, y in ds]).tolist() for _ in range(2)]

    make = lambda seed: mmzoo.data.from_tfds(  # noqa: E731
        "mnist", "test[:40]", data_dir=data_dir, batch_size=10, seed=seed
    )
    first, again = labels(make(5)), labels(make(5))
    assert first == again and first[0] != first[1]


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        (dict(name="mnist", features={"image": "pixels"}), ValueError, r"pixels.*features="),
        (dict(name="mnist", label_key="digit"), ValueError, "label_key='digit'"),
        (dict(name="no_such_dataset_xyz"), ValueError, "name='no_such_dataset_xyz'"),
        (dict(name="cifar10"), DataNotFoundError, r"cifar10.*not prepared"),
    ],
)
def test_from_tfds_errors(data_dir, kwargs, error, match):
    with pytest.raises(error, match=match):
        mmzoo.data.from_tfds(data_dir=data_dir, **kwargs)
