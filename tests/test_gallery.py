"""figures/gallery/ holds exactly the pictures that `ibl gallery` can regenerate, and every demo,
experiment and preset it names exists."""

import pytest

from implicit_bias_lab.experiments.demos import DEMOS
from implicit_bias_lab.experiments.gallery import GALLERY, GALLERY_DIR, regenerate
from implicit_bias_lab.experiments.registry import EXPERIMENTS, load_experiment


def test_gallery_folder_matches_what_the_code_can_produce():
    on_disk = sorted(p.name for p in GALLERY_DIR.iterdir() if p.is_file())
    assert on_disk == sorted(GALLERY)


@pytest.mark.parametrize("file", sorted(GALLERY))
def test_every_entry_names_something_that_exists(file):
    entry = GALLERY[file]
    if entry.kind == "demo":
        assert entry.name in DEMOS
    else:
        assert entry.kind == "run" and entry.name in EXPERIMENTS
        assert entry.preset in load_experiment(entry.name).PRESETS


def test_unknown_gallery_file_is_refused(tmp_path):
    with pytest.raises(ValueError, match="gallery file must be one of"):
        regenerate(["nope.png"], tmp_path)


def test_regenerating_one_entry_writes_it(tmp_path):
    (written,) = regenerate(["rotation.png"], tmp_path)
    assert written == tmp_path / "rotation.png" and written.stat().st_size > 10_000
