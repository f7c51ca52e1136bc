"""config.yml: keypoint-MoSeq's layout and defaults, in-place edits, save_params."""

from __future__ import annotations

import os
import re
import types

import numpy as np
import pytest
import yaml

from kpcal_core import KpcalError, load_config, save_params, setup_project, update_config

# keypoint-MoSeq 0.8.1 ``generate_config`` output with default arguments
# (two empty lines first, no trailing newline). Checked byte for byte against the text
# written by ``_build_yaml`` and ``generate_config`` of keypoint_moseq/io.py in the
# keypoint-moseq 0.8.1 sdist from PyPI (the same in dattalab/keypoint-moseq at 3f03075),
# with PyYAML 6.0.3.
KPMS_DEFAULT_CONFIG = (
    "\n\n"
    + """#==================== ANATOMY =====================#

# used to access columns in the keypoint data
bodyparts:
- BODYPART1
- BODYPART2
- BODYPART3

# determines the subset of bodyparts to use for modeling and the order in which they are represented
use_bodyparts:
- BODYPART1
- BODYPART2
- BODYPART3

# used for visualization only
skeleton:
- - BODYPART1
  - BODYPART2
- - BODYPART2
  - BODYPART3

# used to initialize heading
anterior_bodyparts:
- BODYPART1

# used to initialize heading
posterior_bodyparts:
- BODYPART3


#==================== FITTING =====================#

# upper bound of uniform noise added to the data during initial AR-HMM fitting; this is used to regularize the model
added_noise_level: 0.1

# number of frames used to fit the PCA model during initialization
PCA_fitting_num_frames: 1000000

# used to define outliers for interpolation when the model is initialized
conf_threshold: 0.5


#================== HYPER PARAMS ==================#

# parameters to convert neural net likelihoods to error size priors
error_estimator:
  intercept: 0.25
  slope: -0.5

# keypoint observation hyperparameters
obs_hypparams:
  nu_s: 5
  nu_sigma: 100000.0
  sigmasq_0: 0.1
  sigmasq_C: 0.1

# autoregressive hyperparameters
ar_hypparams:
  K_0_scale: 10.0
  S_0_scale: 0.01
  latent_dim: 10
  nlags: 3

# transition hyperparameters
trans_hypparams:
  alpha: 5.7
  gamma: 1000.0
  kappa: 1000000.0
  num_states: 100

# centroid movement hyperparameters
cen_hypparams:
  sigmasq_loc: 0.5


#===================== OTHER ======================#

# suffix used to match videos to recording names; this can usually be left empty (see `util.find_matching_videos` for details)
recording_name_suffix: ''

# whether to print progress messages during fitting
verbose: false

# pseudocount used regularize neural network confidences
conf_pseudocount: 0.001

# directory with videos from which keypoints were derived (used for crowd movies)
video_dir: ''

# colormap used for visualization; see `matplotlib.cm.get_cmap` for options
keypoint_colormap: autumn

# whether to whiten principal components; used to initialize the latent pose trajectory `x`
whiten: true

# whether to keep the heading angle fixed; this should only be True if the pose is constrained to a narrow range of angles, e.g. a headfixed mouse.
fix_heading: false

# frames per second of the video recordings
fps: 30
outlier_scale_factor: 6.0"""
)

KPMS_KEY_ORDER = [
    "bodyparts",
    "use_bodyparts",
    "skeleton",
    "anterior_bodyparts",
    "posterior_bodyparts",
    "added_noise_level",
    "PCA_fitting_num_frames",
    "conf_threshold",
    "error_estimator",
    "obs_hypparams",
    "ar_hypparams",
    "trans_hypparams",
    "cen_hypparams",
    "recording_name_suffix",
    "verbose",
    "conf_pseudocount",
    "video_dir",
    "keypoint_colormap",
    "whiten",
    "fix_heading",
    "fps",
    "outlier_scale_factor",
]
KPMS_DEFAULTS = {
    "added_noise_level": 0.1,
    "PCA_fitting_num_frames": 1000000,
    "conf_threshold": 0.5,
    "error_estimator": {"intercept": 0.25, "slope": -0.5},
    "obs_hypparams": {"nu_s": 5, "nu_sigma": 100000.0, "sigmasq_0": 0.1, "sigmasq_C": 0.1},
    "ar_hypparams": {"K_0_scale": 10.0, "S_0_scale": 0.01, "latent_dim": 10, "nlags": 3},
    "trans_hypparams": {"alpha": 5.7, "gamma": 1000.0, "kappa": 1000000.0, "num_states": 100},
    "cen_hypparams": {"sigmasq_loc": 0.5},
    "recording_name_suffix": "",
    "verbose": False,
    "conf_pseudocount": 0.001,
    "video_dir": "",
    "keypoint_colormap": "autumn",
    "whiten": True,
    "fix_heading": False,
    "fps": 30,
    "outlier_scale_factor": 6.0,
}
BODYPARTS = ["nose", "left_ear", "right_ear", "neck", "tail_base"]
SKELETON = [["nose", "left_ear"], ["nose", "right_ear"], ["neck", "tail_base"]]


def kpms_would_load(path) -> dict:
    """keypoint-MoSeq's load_config + check_config_validity, as assertions.

    yaml.safe_load; every template key present (missing keys are a KeyError
    upstream); use_bodyparts within bodyparts; skeleton names within bodyparts;
    anterior/posterior bodyparts within use_bodyparts (build_indexes calls
    use_bodyparts.index); the calibration values are numbers.
    """
    with open(path) as handle:
        config = yaml.safe_load(handle)
    assert isinstance(config, dict)
    for key in KPMS_KEY_ORDER:
        assert key in config, key
    assert isinstance(config["skeleton"], list)  # sum(None, []) fails upstream
    for bp in config["use_bodyparts"]:
        assert bp in config["bodyparts"], bp
    for bp in sum(config["skeleton"], []):
        assert bp in config["bodyparts"], bp
    for key in ("anterior_bodyparts", "posterior_bodyparts"):
        for bp in config[key]:
            assert bp in config["use_bodyparts"], (key, bp)
    for key in ("slope", "intercept"):
        assert isinstance(config["error_estimator"][key], float), key
    assert isinstance(config["conf_threshold"], float)
    assert isinstance(config["conf_pseudocount"], float)
    return config


def new_project(tmp_path, **kwargs):
    project = tmp_path / "project"
    setup_project(project, bodyparts=BODYPARTS, skeleton=SKELETON, **kwargs)
    return project


def config_text(project) -> str:
    return (project / "config.yml").read_text(encoding="utf-8")


# --------------------------------------------------------------------------- setup_project


def test_default_config_is_keypoint_moseqs_text(tmp_path):
    project = tmp_path / "p"
    setup_project(
        project,
        bodyparts=["BODYPART1", "BODYPART2", "BODYPART3"],
        skeleton=[["BODYPART1", "BODYPART2"], ["BODYPART2", "BODYPART3"]],
    )
    text = config_text(project)
    assert text.rstrip("\n") == KPMS_DEFAULT_CONFIG
    assert yaml.safe_load(text) == yaml.safe_load(KPMS_DEFAULT_CONFIG)


def test_setup_project_layout_keys_order_and_defaults(tmp_path):
    project = new_project(tmp_path, video_dir=tmp_path / "videos")
    text = config_text(project)
    config = yaml.safe_load(text)
    assert list(config) == KPMS_KEY_ORDER
    for key, value in KPMS_DEFAULTS.items():
        if key != "video_dir":
            assert config[key] == value, key
            assert type(config[key]) is type(value), key
    assert config["bodyparts"] == BODYPARTS
    assert config["use_bodyparts"] == BODYPARTS
    assert config["skeleton"] == SKELETON
    assert config["anterior_bodyparts"] == ["nose"]
    assert config["posterior_bodyparts"] == ["tail_base"]
    assert config["video_dir"] == str(tmp_path / "videos")
    # the section banners and comments, in keypoint-MoSeq's order
    banners = [line for line in text.split("\n") if line.startswith("#=")]
    assert banners == [
        "#" + f" {s} ".center(50, "=") + "#"
        for s in ("ANATOMY", "FITTING", "HYPER PARAMS", "OTHER")
    ]
    assert text.startswith("\n\n#====")
    assert "# used to initialize heading\nanterior_bodyparts:\n- nose\n" in text
    assert "error_estimator:\n  intercept: 0.25\n  slope: -0.5\n" in text
    kpms_would_load(project / "config.yml")


def test_anterior_posterior_default_to_first_and_last_used_bodypart(tmp_path):
    project = new_project(tmp_path, use_bodyparts=["left_ear", "neck", "right_ear"])
    config = kpms_would_load(project / "config.yml")
    assert config["use_bodyparts"] == ["left_ear", "neck", "right_ear"]
    assert config["anterior_bodyparts"] == ["left_ear"]
    assert config["posterior_bodyparts"] == ["right_ear"]


def test_setup_project_options_like_keypoint_moseq(tmp_path):
    project = new_project(
        tmp_path,
        slope=-0.8,
        kappa=1e4,
        fps=60,
        conf_threshold=1e-5,
        anterior_bodyparts=["nose", "neck"],
    )
    config = kpms_would_load(project / "config.yml")
    assert config["error_estimator"] == {"intercept": 0.25, "slope": -0.8}
    assert config["trans_hypparams"]["kappa"] == 10000.0
    assert config["fps"] == 60
    assert config["conf_threshold"] == 1e-5 and type(config["conf_threshold"]) is float
    assert config["anterior_bodyparts"] == ["nose", "neck"]
    assert list(config)[: len(KPMS_KEY_ORDER)] == KPMS_KEY_ORDER


def test_existing_config_needs_overwrite(tmp_path):
    project = new_project(tmp_path)
    before = config_text(project)
    with pytest.raises(KpcalError, match="config.yml"):
        setup_project(project, bodyparts=["a", "b"])
    assert config_text(project) == before
    setup_project(project, bodyparts=["a", "b"], overwrite=True)
    assert yaml.safe_load(config_text(project))["bodyparts"] == ["a", "b"]


@pytest.mark.parametrize(
    "kwargs, needle",
    [
        (dict(bodyparts=[]), "bodyparts"),
        (dict(bodyparts=["a", "b"], use_bodyparts=["a", "zz"]), "zz"),
        (dict(bodyparts=["a", "b"], skeleton=[["a", "qq"]]), "qq"),
        (dict(bodyparts=["a", "b"], skeleton=[["a", "b", "a"]]), "skeleton"),
        (dict(bodyparts=["a", "b"], skeleton=["ab"]), "skeleton"),
        (dict(bodyparts=["a", "b"], skeleton=[1, 2]), "skeleton"),
        (dict(bodyparts=["a", "b"], use_bodyparts=["a"], posterior_bodyparts=["b"]), "'b'"),
    ],
)
def test_setup_project_bad_input_writes_nothing(tmp_path, kwargs, needle):
    project = tmp_path / "p"
    with pytest.raises(KpcalError) as info:
        setup_project(project, **kwargs)
    assert needle in str(info.value)
    assert not (project / "config.yml").exists()


# --------------------------------------------------------------------------- load_config


def test_load_config_reads_the_file(tmp_path):
    project = new_project(tmp_path)
    assert load_config(project) == yaml.safe_load(config_text(project))


def test_load_config_empty_skeleton_becomes_list(tmp_path):
    project = new_project(tmp_path)
    text = config_text(project).replace(
        "skeleton:\n- - nose\n  - left_ear\n- - nose\n  - right_ear\n- - neck\n  - tail_base\n",
        "skeleton: null\n",
    )
    assert "skeleton: null" in text
    (project / "config.yml").write_text(text)
    assert load_config(project)["skeleton"] == []


@pytest.mark.parametrize(
    "content",
    [
        b"bodyparts: [a, b\nuse_bodyparts: [a]\n",  # unclosed flow list
        b"bodyparts:\n  - a\n - b\n",  # bad indentation
        b"- a\n- b\n",  # a list, not a mapping
        b"just a string\n",
        b"",
        b"bodyparts: [a]\nuse_bodyparts: [\xff]\n",  # not UTF-8
    ],
)
def test_load_config_malformed(tmp_path, content):
    (tmp_path / "config.yml").write_bytes(content)
    with pytest.raises(KpcalError, match="config.yml"):
        load_config(tmp_path)


def test_load_config_missing(tmp_path):
    with pytest.raises(KpcalError, match="config.yml"):
        load_config(tmp_path)


def test_load_config_checks_validity_unless_told_not_to(tmp_path):
    project = new_project(tmp_path)
    text = config_text(project).replace("use_bodyparts:\n- nose", "use_bodyparts:\n- snout")
    (project / "config.yml").write_text(text)
    with pytest.raises(KpcalError, match="snout"):
        load_config(project)
    assert load_config(project, check_if_valid=False)["use_bodyparts"][0] == "snout"


# --------------------------------------------------------------------------- update_config


def test_update_config_changes_only_the_given_values(tmp_path):
    project = new_project(tmp_path)
    before = config_text(project).splitlines()
    returned = update_config(project, kappa=12345.0, fps=50, verbose=True)
    after = config_text(project).splitlines()
    assert len(before) == len(after)
    changed = {a for a, b in zip(before, after, strict=True) if a != b}
    assert changed == {"  kappa: 1000000.0", "fps: 30", "verbose: false"}
    config = kpms_would_load(project / "config.yml")
    assert returned == config
    assert config["trans_hypparams"]["kappa"] == 12345.0
    assert config["fps"] == 50 and config["verbose"] is True


def test_update_config_adds_unknown_keys_at_the_end(tmp_path):
    project = new_project(tmp_path)
    update_config(project, my_note="calibrated by kpcal")
    config = yaml.safe_load(config_text(project))
    assert list(config)[-1] == "my_note"
    assert list(config)[:-1] == KPMS_KEY_ORDER


def test_update_config_refuses_an_invalid_result(tmp_path):
    project = new_project(tmp_path)
    before = config_text(project)
    with pytest.raises(KpcalError, match="zz"):
        update_config(project, use_bodyparts=["zz"])
    assert config_text(project) == before


# --------------------------------------------------------------------------- save_params


def hand_edited_project(tmp_path):
    """A project whose config a person edited: a comment, an extra key, a flow list."""
    project = new_project(tmp_path)
    text = config_text(project)
    text = text.replace(
        "# used to initialize heading\nanterior_bodyparts:",
        "# lab note: heading from the nose (checked 2024-05-01)\n"
        "# used to initialize heading\nanterior_bodyparts:",
    )
    text = text.replace(
        "PCA_fitting_num_frames: 1000000\n",
        "PCA_fitting_num_frames: 1000000\nmy_camera: {name: top, gain: 2}  # trailing note\n",
    )
    text += "lab_extra_key: [1, 2, 3]\n# closing comment\n"
    (project / "config.yml").write_text(text)
    return project, text


def assert_only_calibration_lines_changed(before: str, after: str, slope, intercept, threshold):
    old, new = before.splitlines(), after.splitlines()
    assert len(old) == len(new)
    changed = [(a, b) for a, b in zip(old, new, strict=True) if a != b]
    assert {a.split(":")[0] for a, _ in changed} <= {"conf_threshold", "  slope", "  intercept"}
    config = yaml.safe_load(after)
    assert config["error_estimator"] == {"slope": slope, "intercept": intercept}
    assert config["conf_threshold"] == threshold
    for value in (*config["error_estimator"].values(), config["conf_threshold"]):
        assert type(value) is float


def test_save_params_keeps_everything_else(tmp_path):
    project, before = hand_edited_project(tmp_path)
    returned = save_params(project, {"slope": -0.6123, "intercept": 0.3456, "conf_threshold": 0.2})
    after = config_text(project)
    assert_only_calibration_lines_changed(before, after, -0.6123, 0.3456, 0.2)
    assert "# lab note: heading from the nose (checked 2024-05-01)" in after
    assert "my_camera: {name: top, gain: 2}  # trailing note" in after
    assert after.rstrip("\n").endswith("lab_extra_key: [1, 2, 3]\n# closing comment")
    config = kpms_would_load(project / "config.yml")
    assert returned == config
    before_values = yaml.safe_load(before)
    for key, value in config.items():
        if key not in ("error_estimator", "conf_threshold"):
            assert value == before_values[key], key
    assert list(config) == list(before_values)


@pytest.mark.parametrize(
    "values",
    [
        (1e-5, -2.5e-7, 1e-5),
        (-1.0, 1e20, 0.0),
        (-0.55, 0.2, 1.0),
        (float(np.float32(-0.3)), 3.0, 0.999999),
    ],
)
def test_save_params_values_come_back_as_floats(tmp_path, values):
    project, before = hand_edited_project(tmp_path)
    slope, intercept, threshold = values
    save_params(project, {"slope": slope, "intercept": intercept, "conf_threshold": threshold})
    after = config_text(project)
    assert_only_calibration_lines_changed(before, after, slope, intercept, threshold)
    kpms_would_load(project / "config.yml")


def test_save_params_on_keypoint_moseqs_own_file(tmp_path):
    (tmp_path / "config.yml").write_text(KPMS_DEFAULT_CONFIG)
    save_params(tmp_path, {"slope": -0.7, "intercept": 0.31, "conf_threshold": 0.4})
    after = config_text(tmp_path)
    assert after.startswith("\n\n#====")
    assert_only_calibration_lines_changed(KPMS_DEFAULT_CONFIG, after, -0.7, 0.31, 0.4)
    kpms_would_load(tmp_path / "config.yml")


def test_save_params_estimator_as_object_and_numpy_values(tmp_path):
    project, before = hand_edited_project(tmp_path)
    estimator = types.SimpleNamespace(
        slope=np.float64(-0.45), intercept=np.float32(0.5), conf_threshold=np.float64(0.3)
    )
    save_params(project, estimator)
    after = config_text(project)
    assert "!!" not in after and "numpy" not in after
    assert_only_calibration_lines_changed(before, after, -0.45, 0.5, 0.3)


def test_save_params_adds_a_missing_error_estimator(tmp_path):
    project = new_project(tmp_path)
    text = config_text(project).replace("error_estimator:\n  intercept: 0.25\n  slope: -0.5\n", "")
    (project / "config.yml").write_text(text)
    save_params(project, {"slope": -0.5, "intercept": 0.1, "conf_threshold": 0.5})
    assert yaml.safe_load(config_text(project))["error_estimator"] == {
        "slope": -0.5,
        "intercept": 0.1,
    }


@pytest.mark.parametrize(
    "content",
    [
        None,  # no config.yml
        b"bodyparts: [a, b\n",
        b"- not\n- a mapping\n",
        b"42\n",
        b"bodyparts: [a]\nbodyparts: [b]\nuse_bodyparts: [a]\n",  # duplicate key
    ],
)
def test_save_params_bad_config_leaves_file_unchanged(tmp_path, content):
    if content is not None:
        (tmp_path / "config.yml").write_bytes(content)
    with pytest.raises(KpcalError, match="config.yml"):
        save_params(tmp_path, {"slope": -0.5, "intercept": 0.2, "conf_threshold": 0.5})
    if content is None:
        assert not (tmp_path / "config.yml").exists()
    else:
        assert (tmp_path / "config.yml").read_bytes() == content
    assert [p.name for p in tmp_path.iterdir()] == ([] if content is None else ["config.yml"])


@pytest.mark.parametrize(
    "estimator, needle",
    [
        ({"slope": -0.5, "intercept": 0.2}, "conf_threshold"),
        ({"slope": "steep", "intercept": 0.2, "conf_threshold": 0.5}, "slope"),
        ({"slope": float("nan"), "intercept": 0.2, "conf_threshold": 0.5}, "slope"),
        ({"slope": -0.5, "intercept": float("inf"), "conf_threshold": 0.5}, "intercept"),
        ({"slope": -0.5, "intercept": 0.2, "conf_threshold": -0.1}, "conf_threshold"),
        (types.SimpleNamespace(slope=-0.5), "intercept"),
        (None, "slope"),
    ],
)
def test_save_params_bad_estimator(tmp_path, estimator, needle):
    project = new_project(tmp_path)
    before = config_text(project)
    with pytest.raises(KpcalError) as info:
        save_params(project, estimator)
    assert needle in str(info.value)
    assert config_text(project) == before


def test_save_params_crash_keeps_previous_config(tmp_path, monkeypatch):
    project, before = hand_edited_project(tmp_path)

    def crash(*args):
        raise OSError("power cut")

    monkeypatch.setattr(os, "replace", crash)
    with pytest.raises(OSError):
        save_params(project, {"slope": -0.5, "intercept": 0.2, "conf_threshold": 0.5})
    monkeypatch.undo()
    assert config_text(project) == before
    assert [p.name for p in project.iterdir()] == ["config.yml"]


def test_update_config_numpy_values_become_plain_yaml(tmp_path):
    project = new_project(tmp_path)
    update_config(project, fps=np.int64(25), my_offsets=np.array([1.5, 2.5]), kappa=np.float32(2.0))
    text = config_text(project)
    assert "!!" not in text
    config = kpms_would_load(project / "config.yml")
    assert config["fps"] == 25 and config["my_offsets"] == [1.5, 2.5]
    assert config["trans_hypparams"]["kappa"] == 2.0


def test_update_config_unwritable_value(tmp_path):
    project = new_project(tmp_path)
    before = config_text(project)
    with pytest.raises(KpcalError, match="config.yml"):
        update_config(project, fps=object())
    assert config_text(project) == before


def test_load_config_accepts_a_kpms_project_with_placeholder_heading_bodyparts(tmp_path):
    """keypoint-MoSeq set up from DeepLabCut keeps anterior_bodyparts: [BODYPART1] until edited;
    it only warns about it, and calibration does not need it, so it is not refused."""
    project = tmp_path / "p"
    setup_project(project, bodyparts=["nose", "tail"])
    text = config_text(project).replace(
        "anterior_bodyparts:\n- nose", "anterior_bodyparts:\n- BODYPART1"
    )
    (project / "config.yml").write_text(text)
    assert load_config(project)["anterior_bodyparts"] == ["BODYPART1"]
    save_params(project, {"slope": -0.4, "intercept": 0.3, "conf_threshold": 0.2})
    assert load_config(project)["error_estimator"] == {"intercept": 0.3, "slope": -0.4}


def test_save_params_fast_path_and_round_trip_editor_agree(tmp_path):
    """The in-place number edit and the round-trip editor give the same config."""
    plain = tmp_path / "plain"
    setup_project(plain, bodyparts=["a", "b"])
    flow = tmp_path / "flow"  # a layout the fast path does not take: flow-style mapping
    setup_project(flow, bodyparts=["a", "b"])
    text = config_text(flow).replace(
        "error_estimator:\n  intercept: 0.25\n  slope: -0.5",
        "error_estimator: {intercept: 0.25, slope: -0.5}  # kept",
    )
    (flow / "config.yml").write_text(text)
    values = {"slope": -0.61234, "intercept": 2.5e-6, "conf_threshold": 0.125}
    assert save_params(plain, values) == save_params(flow, values)
    assert yaml.safe_load(config_text(plain)) == yaml.safe_load(config_text(flow))
    assert "# kept" in config_text(flow)


def test_a_key_ruamel_cannot_read_is_an_error_naming_the_file(tmp_path):
    """ruamel.yaml 0.19 raises a bare ValueError on a key such as "._" (its float resolver);
    PyYAML and keypoint-MoSeq read the file. The in-place editor does not need ruamel.yaml
    and edits it; an edit that needs the round-trip editor (here: an anchored value) says
    so, naming the file, and writes nothing."""
    from ruamel.yaml import YAML

    with pytest.raises(ValueError):  # the library's bug, as it is
        YAML().load("bodyparts:\n  ._: null\n")
    setup_project(tmp_path, bodyparts=["nose", "tail"])
    path = tmp_path / "config.yml"
    path.write_text(path.read_text() + "lab_notes:\n  ._: null\n")
    update_config(tmp_path, conf_threshold=0.3)
    assert load_config(tmp_path)["conf_threshold"] == 0.3
    assert path.read_text().endswith("lab_notes:\n  ._: null\n")
    text = path.read_text().replace("conf_threshold: 0.3\n", "conf_threshold: &t 0.3\ncopy: *t\n")
    path.write_text(text)
    with pytest.raises(KpcalError, match="config.yml: cannot be edited keeping its comments"):
        update_config(tmp_path, conf_threshold=0.4)
    assert path.read_text() == text


# ------------------------------------------------ every edit keeps keypoint-MoSeq's comments


def kpms_config_for(bodyparts: list[str], skeleton: list[list[str]]) -> str:
    """The file keypoint-MoSeq's ``generate_config(bodyparts=..., use_bodyparts=...,
    skeleton=..., anterior_bodyparts=[first], posterior_bodyparts=[last])`` writes: its
    template (:data:`KPMS_DEFAULT_CONFIG`) with the anatomy values dumped as it dumps
    them (``yaml.dump({key: value})``); every other line, every comment, as it writes it."""
    text = KPMS_DEFAULT_CONFIG
    placeholders = yaml.safe_load(KPMS_DEFAULT_CONFIG)
    values = {
        "bodyparts": bodyparts,
        "use_bodyparts": bodyparts,
        "skeleton": skeleton,
        "anterior_bodyparts": bodyparts[:1],
        "posterior_bodyparts": bodyparts[-1:],
    }
    for key, value in values.items():
        old = "\n" + yaml.dump({key: placeholders[key]}).strip("\n") + "\n"
        assert text.count(old) == 1, key
        text = text.replace(old, "\n" + yaml.dump({key: value}).strip("\n") + "\n")
    return text


def comment_and_blank_lines(text: str) -> list[str]:
    return [line for line in text.split("\n") if not line.strip() or line.lstrip().startswith("#")]


def test_every_config_edit_keeps_each_comment_of_keypoint_moseqs_file(tmp_path):
    """Front/back bodyparts, a recording's video, use_bodyparts (sampling) and the
    calibration line saved, one after the other, into the config.yml keypoint-MoSeq
    writes: every comment line (and blank line) of its file is still there, byte for
    byte and in order, and only the values saved changed."""
    from kpcal_core import workflows
    from kpcal_core.demo import make_demo_project

    demo = make_demo_project(tmp_path / "p", n_recordings=1, n_frames=30, width=96, height=64)
    project = demo.project_dir
    template = kpms_config_for(demo.bodyparts, demo.skeleton)
    (project / "config.yml").write_text(template)
    before = yaml.safe_load(template)

    workflows.set_anatomy(project, ["nose", "neck"], ["tail_base"])
    recording = next(iter(demo.coordinates))
    workflows.set_video(project, recording, str(next(demo.video_dir.iterdir())))
    data = workflows.open_project(project)
    workflows.draw_samples(data, use_bodyparts=["nose", "neck", "tail_base"], num_samples=4, seed=0)
    workflows.save_calibration(  # a line typed in, not fitted from annotations: confirmed
        data, slope=-0.6125, intercept=0.3375, conf_threshold=0.125, confirm_slope=True
    )

    after = config_text(project)
    assert comment_and_blank_lines(after) == comment_and_blank_lines(template)
    for comment in (  # the ones the round-trip editor used to drop
        "# used to initialize heading\nposterior_bodyparts:",
        "\n\n#==================== FITTING =====================#\n\n",
        "# upper bound of uniform noise added to the data during initial AR-HMM fitting",
    ):
        assert comment in after, comment
    assert after.startswith("\n\n#===") and after.endswith("outlier_scale_factor: 6.0")
    config = kpms_would_load(project / "config.yml")
    expected = {
        **before,
        "anterior_bodyparts": ["nose", "neck"],
        "posterior_bodyparts": ["tail_base"],
        "use_bodyparts": ["nose", "neck", "tail_base"],
        "error_estimator": {"intercept": 0.3375, "slope": -0.6125},
        "conf_threshold": 0.125,
    }
    assert config == expected and list(config) == list(before)
    # the lines of every value not saved are as keypoint-MoSeq wrote them
    changed = {"anterior_bodyparts", "posterior_bodyparts", "use_bodyparts", "error_estimator"}
    changed |= {"conf_threshold"}
    for key, value in before.items():
        if key not in changed:
            assert yaml.dump({key: value}).strip("\n") in after, key


def test_an_edit_keeps_the_comments_after_a_list_or_group_it_replaces(tmp_path):
    """PyYAML ends a block list at the next key, so a comment above that key belongs to
    nobody; a round-trip editor keeps it with the list's last item and drops it with
    the list. Here every comment stays, whatever the values' lengths become."""
    path = tmp_path / "config.yml"
    path.write_text(KPMS_DEFAULT_CONFIG)
    update_config(tmp_path, anterior_bodyparts=["BODYPART1", "BODYPART2"])
    update_config(tmp_path, posterior_bodyparts=[], skeleton=[])
    update_config(tmp_path, obs_hypparams={"nu_s": 6}, skeleton=[["BODYPART3", "BODYPART1"]])
    update_config(tmp_path, use_bodyparts=["BODYPART3"], anterior_bodyparts=["BODYPART3"])
    text = path.read_text()
    assert comment_and_blank_lines(text) == comment_and_blank_lines(KPMS_DEFAULT_CONFIG)
    config = yaml.safe_load(text)
    assert config["posterior_bodyparts"] == [] and config["obs_hypparams"] == {"nu_s": 6}
    assert config["skeleton"] == [["BODYPART3", "BODYPART1"]]
    assert "skeleton:\n- - BODYPART3\n  - BODYPART1\n\n# used to initialize heading" in text


@pytest.mark.parametrize(
    "layout",
    [
        "conf_threshold: &t 0.5\nkept_copy: *t\n",  # an anchor: left to the round-trip editor
        "conf_threshold: # the line's threshold\n  0.5\n",  # a comment between key and value
        "conf_threshold:\n  # the line's threshold\n  0.5  # kept too\n",
    ],
)
def test_unusual_layouts_are_edited_too(tmp_path, layout):
    setup_project(tmp_path, bodyparts=["nose", "tail"])
    path = tmp_path / "config.yml"
    text = path.read_text().replace("conf_threshold: 0.5\n", layout)
    path.write_text(text)
    save_params(tmp_path, {"slope": -0.4, "intercept": 0.3, "conf_threshold": 0.25})
    config = kpms_would_load(path)
    assert config["conf_threshold"] == 0.25
    assert config["error_estimator"] == {"intercept": 0.3, "slope": -0.4}
    after = path.read_text()
    for comment in ("# used to initialize heading", *re.findall(r"#[^\n]*", layout)):
        assert comment in after, comment


def test_a_comment_ruamel_cannot_place_is_no_obstacle(tmp_path):
    """ruamel.yaml 0.19 raises NotImplementedError ("overlap in comment") reading a comment
    between a key and its value followed by blank lines; the in-place edit does not need it."""
    from ruamel.yaml import YAML

    layout = "conf_threshold: # the line's threshold\n  0.5\n\n\n"
    with pytest.raises(NotImplementedError):  # the library's limit, as it is
        YAML(typ="rt").load("a: 1\n" + layout + "b: 2\n")
    setup_project(tmp_path, bodyparts=["nose", "tail"])
    path = tmp_path / "config.yml"
    path.write_text(path.read_text().replace("conf_threshold: 0.5\n", layout))
    save_params(tmp_path, {"slope": -0.4, "intercept": 0.3, "conf_threshold": 0.25})
    assert "conf_threshold: # the line's threshold\n  0.25\n\n\n" in path.read_text()
    assert kpms_would_load(path)["conf_threshold"] == 0.25


def test_names_beyond_ascii_are_edited_in_place(tmp_path):
    """Accents, CJK and emoji before the values edited: the values are found by character
    offsets (such a file is read with PyYAML's own reader, whose marks count characters)."""
    names = ["nez_é", "尾", "queue🐭"]
    setup_project(tmp_path, bodyparts=names)
    path = tmp_path / "config.yml"
    path.write_text(
        "# carnet: souris 🐭 n°3\n" + path.read_text(encoding="utf-8"), encoding="utf-8"
    )
    before = path.read_text(encoding="utf-8")
    update_config(tmp_path, anterior_bodyparts=["尾"], posterior_bodyparts=["queue🐭", "nez_é"])
    save_params(tmp_path, {"slope": -0.4, "intercept": 0.3, "conf_threshold": 0.25})
    after = path.read_text(encoding="utf-8")
    assert comment_and_blank_lines(after) == comment_and_blank_lines(before)
    config = kpms_would_load(path)
    assert config["anterior_bodyparts"] == ["尾"]
    assert config["posterior_bodyparts"] == ["queue🐭", "nez_é"]
    assert config["bodyparts"] == names and config["conf_threshold"] == 0.25


def test_a_key_named_twice_is_refused_naming_it_and_its_line(tmp_path):
    setup_project(tmp_path, bodyparts=["nose", "tail"])
    path = tmp_path / "config.yml"
    text = path.read_text().replace("fps: 30\n", "fps: 30\nverbose: true\n")
    path.write_text(text)
    line = text.split("\n").index("verbose: true") + 1
    with pytest.raises(KpcalError, match=rf"line {line}: the key 'verbose' appears twice"):
        update_config(tmp_path, fps=25)
    assert path.read_text() == text


# --------------------------------------------------------------- fps of a new config


def _demo_sources(demo, **kwargs):
    from kpcal_core import workflows

    return workflows.Sources(str(demo.keypoints_dir), "deeplabcut", str(demo.video_dir), **kwargs)


def test_a_new_project_takes_fps_from_its_videos(tmp_path):
    from kpcal_core import workflows
    from kpcal_core.demo import make_demo_project

    demo = make_demo_project(
        tmp_path / "demo", n_recordings=2, n_frames=20, width=96, height=64, fps=25
    )
    chosen = workflows.choose_sources(tmp_path / "new", _demo_sources(demo), create=True)
    assert chosen.created_config and chosen.fps == 25
    text = config_text(tmp_path / "new")
    assert "# frames per second of the video recordings\nfps: 25\n" in text
    assert kpms_would_load(tmp_path / "new" / "config.yml")["fps"] == 25
    assert not [w for w in chosen.warnings if "frame rate" in w]


def test_videos_whose_frame_rates_differ_are_named(tmp_path):
    import cv2

    from kpcal_core import workflows
    from kpcal_core.demo import make_demo_project

    demo = make_demo_project(
        tmp_path / "demo", n_recordings=3, n_frames=12, width=96, height=64, fps=25
    )
    video = demo.video_dir / "mouse3.mp4"
    capture = cv2.VideoCapture(str(video))
    frames = [frame for ok, frame in iter(capture.read, (False, None)) if ok]
    capture.release()
    writer = cv2.VideoWriter(str(video), cv2.VideoWriter_fourcc(*"mp4v"), 30.0, (96, 64))
    for frame in frames:
        writer.write(frame)
    writer.release()
    chosen = workflows.choose_sources(tmp_path / "new", _demo_sources(demo), create=True)
    assert chosen.fps == 25 and load_config(tmp_path / "new")["fps"] == 25
    (note,) = [w for w in chosen.warnings if "frame rates differ" in w]
    assert "25 fps (2 recordings: 'mouse1.mp4', 'mouse2.mp4')" in note
    assert "30 fps (1 recording: 'mouse3.mp4')" in note and "fps: 25" in note


def test_without_a_readable_video_a_new_config_keeps_fps_30_and_says_so(tmp_path):
    from kpcal_core import workflows
    from kpcal_core.demo import make_demo_project

    demo = make_demo_project(
        tmp_path / "demo", n_recordings=1, n_frames=12, width=96, height=64, fps=25
    )
    chosen = workflows.choose_sources(
        tmp_path / "new", workflows.Sources(str(demo.keypoints_dir), "deeplabcut"), create=True
    )
    assert chosen.fps is None and load_config(tmp_path / "new")["fps"] == 30
    assert any("keypoint-MoSeq's default, fps: 30" in w for w in chosen.warnings)


def test_the_real_flies_clip_gives_fps_25(shared_data, tmp_path):
    from kpcal_core import workflows

    slp = shared_data / "sleap_flies_clip" / "clip.predictions.slp"
    chosen = workflows.choose_sources(tmp_path / "flies", workflows.Sources(str(slp)), create=True)
    assert chosen.fps == 25 and load_config(tmp_path / "flies")["fps"] == 25
    # the names say which is the front (head) but not the back: the question says just that
    assert chosen.ask_anatomy and chosen.anatomy_note.startswith(
        "The bodypart names say which is the front ('head') but not which is the back"
    )
