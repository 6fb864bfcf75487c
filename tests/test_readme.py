import re

import mmzoo
from conftest import REPO

README = (REPO / "README.md").read_text()


def _table_names(section):
    block = re.search(rf"<!-- {section} -->(.*?)<!-- /{section} -->", README, re.S).group(1)
    return sorted(re.findall(r"^\| `([^`]+)` \|", block, re.M))


def test_readme_tables_match_the_registries():
    assert _table_names("towers") == mmzoo.list_towers()
    assert _table_names("fusions") == mmzoo.list_fusions()
    assert _table_names("presets") == mmzoo.list_models()


def test_readme_preset_descriptions_match():
    for name in mmzoo.list_models():
        assert f"| `{name}` | {mmzoo.get_preset(name)['description']} |" in README


def test_ci_runs_the_readme_test_command():
    ci = (REPO / ".ci" / "run").read_text().strip().splitlines()[-1]
    assert ci == "make test"
    assert "```bash\nmake test\n```" in README


def test_readme_notebook_examples_run():
    section = README.split("## In a notebook", 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"```python\n(.*?)```", section, re.S)
    assert len(blocks) == 2
    namespace = {}
    for block in blocks:
        exec(compile(block, "README.md", "exec"), namespace)  # noqa: S102
    assert namespace["probabilities"].shape == (4, 10)
    assert namespace["weights"].shape == (4, 3)


def test_readme_preprocessor_example_runs(tmp_path, monkeypatch):
    """The "How it fits together" example: a model's own preprocessor, adapted, called
    on raw text and exported with it."""
    section = README.split("## How it fits together", 1)[1].split("\n## ", 1)[0]
    (block,) = re.findall(r"```python\n(.*?)```", section, re.S)
    monkeypatch.chdir(tmp_path)
    namespace = {}
    exec(compile(block, "README.md", "exec"), namespace)  # noqa: S102
    assert namespace["tensors"]["text"].shape == (1, 16)
    assert (tmp_path / "saved_models" / "mine" / "preprocessor.json").is_file()
    assert mmzoo.verify(tmp_path / "saved_models" / "mine")["parity"]["saved_model"] < 1e-5


def test_readme_images_are_in_the_repository():
    images = re.findall(r"!\[[^\]]*\]\(([^)\s]+)\)", README)
    assert "docs/report.png" in images
    for image in images:
        assert (REPO / image).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", image
