"""Config validation: every bad value or key is an error naming its dotted key."""

import pytest

from mmzoo.config import (
    ConfigError,
    default_config,
    describe_config,
    load_config,
    parse_override,
    read_yaml,
    resolve_model,
    set_dotted,
    to_yaml,
)

# (config, dotted key named in the error, another fragment of the message)
BAD_CONFIGS = [
    ({"trainig": {"epochs": 3}}, "trainig", "Did you mean 'training'?"),
    ({"training": {"epoch": 3}}, "training.epoch", "Did you mean 'training.epochs'?"),
    ({"training": {"epochs": "ten"}}, "training.epochs",
     "training.epochs must be a positive integer. Received: training.epochs='ten'"),
    ({"training": {"epochs": 0}}, "training.epochs", "positive integer"),
    ({"training": {"epochs": 2.5}}, "training.epochs", "positive integer"),
    ({"training": {"batch_size": True}}, "training.batch_size", "positive integer"),
    ({"training": {"seed": -1}}, "training.seed", "integer >= 0"),
    ({"training": {"deterministic": "yes"}}, "training.deterministic", "true or false"),
    ({"training": "fast"}, "training", "must be a mapping"),
    ({"training": {"optimizer": {"name": "adamm"}}}, "training.optimizer.name",
     "Did you mean 'adam'?"),
    ({"training": {"optimizer": {"learning_rate": -1}}}, "training.optimizer.learning_rate",
     "positive number"),
    ({"training": {"optimizer": {"learning_rate": "fast"}}},
     "training.optimizer.learning_rate", "Received: training.optimizer.learning_rate='fast'"),
    ({"training": {"optimizer": {"lr": 0.1}}}, "training.optimizer.lr", "learning_rate"),
    ({"training": {"schedule": {"name": "cosin"}}}, "training.schedule.name",
     "Did you mean 'cosine'?"),
    ({"training": {"schedule": {"alpha": 2}}}, "training.schedule.alpha", "[0, 1]"),
    ({"training": {"early_stopping_patience": 0}}, "training.early_stopping_patience",
     "positive integer"),
    ({"dataset": {"name": "embeded"}}, "dataset.name", "Did you mean 'embedded'?"),
    ({"dataset": {"options": {"num_trian": 10}}}, "dataset.options.num_trian",
     "Did you mean 'dataset.options.num_train'?"),
    ({"dataset": {"options": [1, 2]}}, "dataset.options", "mapping"),
    ({"dataset": {"seed": "zero"}}, "dataset.seed", "integer >= 0"),
    ({"dataset": {"limits": {"trian": 10}}}, "dataset.limits.trian",
     "Did you mean 'dataset.limits.train'?"),
    ({"dataset": {"limits": {"train": -5}}}, "dataset.limits.train", "positive integer"),
    ({"training": {"monitor": "val_acc"}}, "training.monitor", "Did you mean 'val_accuracy'?"),
    ({"model": {"preset": "trimodal_gate"}}, "model.preset", "Did you mean 'trimodal_gated'?"),
    ({"model": {"fusion": "gatd"}}, "model.fusion", "Did you mean 'gated'?"),
    ({"model": {"fusion_options": {"dimm": 3}}}, "model.fusion_options.dimm",
     "Did you mean 'model.fusion_options.dim'?"),
    ({"model": {"head": "multi"}}, "model.head", "multiclass"),
    ({"model": {"head_options": {"hiden_units": [3]}}}, "model.head_options.hiden_units",
     "Did you mean 'model.head_options.hidden_units'?"),
    ({"model": {"inputs": {"text": {"tower": "lstmm"}}}}, "model.inputs.text.tower",
     "Did you mean 'lstm'?"),
    ({"model": {"inputs": {"text": {"unitz": 3}}}}, "model.inputs.text.unitz",
     "Did you mean 'model.inputs.text.units'?"),
    ({"model": {"inputs": {"text": "lstm"}}}, "model.inputs.text", "tower spec"),
    ({"model": {"inputs": {"depth": {"tower": "conv"}}}}, "model.inputs.depth",
     "has no input 'depth'"),
    ({"model": {"preset": None, "inputs": {"image": {"filters": [8], "tower": "lenet"}}}},
     "model.inputs.image.filters", "not an option of the image tower 'lenet'"),
    ({"model": {"inputs": {"image": {"input_shape": [28, 28, 1]}}}},
     "model.inputs.image.input_shape", "(32, 32, 3)"),
    ({"model": {"inputs": {"audio": {"sample_rate": 16000}}}}, "model.inputs.audio.sample_rate",
     "8000"),
    ({"model": {"modality_dropout": 1.5}}, "model.modality_dropout", "[0, 1)"),
    ({"model": {"preset": None, "inputs": {"image": None}}}, "model.inputs.image",
     "has no input 'image'"),
    ({"distribution": {"strategy": "mirror"}}, "distribution.strategy",
     "Did you mean 'mirrored'?"),
    ({"distribution": {"cpu_devices": 0}}, "distribution.cpu_devices", "positive integer"),
    ({"speed": {"mixed_precision": "fp16"}}, "speed.mixed_precision", "mixed_float16"),
    ({"speed": {"jit_compile": "yes"}}, "speed.jit_compile", "'auto', true or false"),
    ({"speed": {"steps_per_execution": 0}}, "speed.steps_per_execution", "positive integer"),
    ({"output": {"verbose": 3}}, "output.verbose", "one of"),
    ({"output": {"tensorbord": False}}, "output.tensorbord",
     "Did you mean 'output.tensorboard'?"),
    ({"name": "my run/1"}, "name", "folder name"),
    ({"text": {"tokenizer": "bpe"}}, "text.tokenizer", "vectorization"),
    ({"text": {"max_tokens": 5000}}, "text.max_tokens", "vocab_size (1000)"),
    ({"evaluation": {"baselines": "high"}}, "evaluation.baselines", "mapping"),
    # Checked by the fusion layer, TaskHead and modality_of, re-raised with the key.
    ({"model": {"fusion_options": {"dim": -1}}}, "model.fusion_options.dim", "positive integer"),
    ({"model": {"fusion": "cross_attention", "fusion_options": {"num_heads": 3}}},
     "model.fusion_options.num_heads", "divisible by `num_heads`"),
    ({"model": {"head_options": {"dropout": 2}}}, "model.head_options.dropout", "[0, 1)"),
    ({"model": {"inputs": {"image": {"modality": "video"}}}}, "model.inputs.image.modality",
     "Received: modality='video'"),
    ({"training": {"monitor": "val_mae"}}, "training.monitor", "val_accuracy"),
    ({"model": {"head": "regression"}}, "model.head", "labels of dataset 'embedded'"),
]


@pytest.mark.parametrize(
    "config, key, fragment", BAD_CONFIGS, ids=[case[1] + f"-{i}" for i, case in
                                               enumerate(BAD_CONFIGS)]
)
def test_bad_config_names_its_key(config, key, fragment):
    with pytest.raises(ConfigError) as info:
        load_config(config)
    message = str(info.value)
    assert info.value.key == key
    assert key in message
    assert fragment in message
    assert isinstance(info.value, ValueError)


def test_defaults_are_valid_and_complete():
    config = load_config()
    assert config == load_config(default_config())
    assert config["model"]["preset"] == "trimodal_gated"
    assert config["dataset"]["name"] == "embedded"
    lines = describe_config()
    assert any(line.startswith("training.epochs = 20") for line in lines)


def test_overrides_and_types():
    config = load_config(
        {"training": {"epochs": 3}},
        overrides=["training.seed=7", "model.fusion=concat", "training.optimizer.learning_rate=2e-3",
                   "dataset.options.num_train=100", "speed.jit_compile=false"],
    )
    assert config["training"]["epochs"] == 3
    assert config["training"]["seed"] == 7
    assert config["training"]["optimizer"]["learning_rate"] == 0.002
    assert config["dataset"]["options"] == {"num_train": 100}
    assert config["speed"]["jit_compile"] is False
    assert parse_override("a.b=[1, 2]") == ("a.b", [1, 2])
    assert parse_override("name=demo") == ("name", "demo")
    with pytest.raises(ConfigError, match="section.key=value"):
        parse_override("training.epochs")
    with pytest.raises(ConfigError, match="training.epochs is not a mapping"):
        set_dotted({"training": {"epochs": 3}}, "training.epochs.x", 1)


def test_yaml_is_read_safely(tmp_path):
    path = tmp_path / "config.yaml"
    path.write_text("training:\n  epochs: 2\n  optimizer:\n    learning_rate: 2e-3\n")
    config = load_config(path)
    assert config["training"]["epochs"] == 2
    assert config["training"]["optimizer"]["learning_rate"] == 0.002  # YAML 1.1 reads a string

    marker = tmp_path / "pwned"
    path.write_text(f"name: !!python/object/apply:os.system ['touch {marker}']\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        read_yaml(path)
    assert not marker.exists()

    path.write_text("training:\n  epochs: [1\n")
    with pytest.raises(ConfigError, match="line"):
        read_yaml(path)
    path.write_text("- 1\n- 2\n")
    with pytest.raises(ConfigError, match="mapping of sections"):
        read_yaml(path)
    with pytest.raises(ConfigError, match="not found"):
        read_yaml(tmp_path / "missing.yaml")


def test_round_trip_through_yaml(tmp_path):
    config = load_config({"name": "x", "training": {"epochs": 2}})
    path = tmp_path / "config.yaml"
    path.write_text(to_yaml(config))
    assert load_config(path) == load_config(config)


def test_model_is_filled_in_from_the_dataset():
    config = load_config({
        "model": {
            "preset": None,
            "inputs": {"image": {"tower": "conv", "filters": [4]}, "text": {"tower": "cnn"}},
            "fusion": "concat",
        },
        "text": {"sequence_length": 12, "max_tokens": 300},
    })
    kwargs = resolve_model(config)
    assert kwargs["inputs"]["image"]["input_shape"] == (32, 32, 3)
    assert kwargs["inputs"]["text"]["input_shape"] == (12,)
    assert kwargs["inputs"]["text"]["vocab_size"] == 300
    assert kwargs["num_outputs"] == 10
    assert len(kwargs["head_options"]["class_names"]) == 10


def test_null_removes_a_preset_input():
    config = load_config({"model": {"inputs": {"text": None, "audio": None}}})
    kwargs = resolve_model(config)
    assert list(kwargs["inputs"]) == ["image"]
    assert kwargs["modality_dropout"] == 0.0  # nothing to drop with one input


def test_demo_config_is_valid_and_quotes_the_recorded_baselines():
    import json
    import pathlib

    repo = pathlib.Path(__file__).resolve().parents[1]
    config = load_config(repo / "configs" / "demo.yaml")
    assert config["name"] == "demo" and config["dataset"]["name"] == "embedded"
    recorded = json.loads((repo / "benchmarks" / "results" / "embedded_baselines.json")
                          .read_text())["test_accuracy"]
    assert config["evaluation"]["baselines"] == {m: recorded[m] for m in ("image", "text", "audio")}


@pytest.mark.parametrize("spec, key, fragment", [
    ({"image": {"filters": [0]}}, "model.inputs.image.filters",
     "model.inputs.image.filters: `filters` must be a non-empty list"),
    ({"text": {"units": 0}}, "model.inputs.text.units", "Received: units=0"),
])
def test_tower_builders_check_their_options_under_the_config_key(spec, key, fragment):
    from mmzoo.config import check_model_builds

    kwargs = resolve_model(load_config({"model": {"inputs": spec}}))
    with pytest.raises(ConfigError) as info:
        check_model_builds(kwargs)
    assert info.value.key == key and fragment in str(info.value)


def test_choices_and_metric_names_come_from_their_owners():
    from mmzoo.config import STRATEGY_KINDS, TOKENIZERS
    from mmzoo.heads import TaskHead
    from mmzoo.preprocessing.text import TOKENIZER_KINDS
    from mmzoo.training import strategy

    assert STRATEGY_KINDS is strategy.STRATEGY_KINDS
    assert set(TOKENIZERS) < set(TOKENIZER_KINDS)
    config = load_config({"model": {"head": "multiclass"},
                          "training": {"monitor": "val_accuracy"}})
    assert config["training"]["monitor"] == "val_accuracy"
    head = TaskHead("binary", num_outputs=1)
    assert [m.name for m in head.default_metrics()] == list(head.metric_names()[1:])


def test_loading_a_config_starts_no_tensorflow_runtime():
    """`distribution.cpu_devices` can only be set before TensorFlow's runtime starts."""
    import subprocess
    import sys

    code = (
        "from tensorflow.python.eager import context\n"
        "from mmzoo.config import load_config\n"
        "load_config({'model': {'fusion': 'tensor', 'head_options': {'dropout': 0.5}}})\n"
        "assert not context.context()._initialized\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, capture_output=True)


def test_an_input_without_a_tower_gets_its_modality_default():
    from mmzoo.config.model import DEFAULT_TOWERS

    config = load_config({"model": {"preset": None, "inputs": {"image": {"filters": [8]}}}})
    kwargs = resolve_model(config)
    assert kwargs["inputs"]["image"]["tower"] == DEFAULT_TOWERS["image"] == "conv"
    assert kwargs["inputs"]["image"]["filters"] == [8]
    everything = resolve_model(load_config({"model": {"preset": None}}))  # one per input
    assert {n: s["tower"] for n, s in everything["inputs"].items()} == {
        "image": "conv", "text": "cnn", "audio": "log_mel_conv"}
