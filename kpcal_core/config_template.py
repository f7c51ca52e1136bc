"""keypoint-MoSeq's ``config.yml`` template: its keys, order, section banners and comments.

Owns :data:`TEMPLATE` (what :func:`kpcal_core.config.setup_project` writes, so that
keypoint-MoSeq loads the file unchanged) and :data:`GROUPS` (the keys whose value is a
group of settings, e.g. ``error_estimator``: a bare ``slope`` is set inside it).
"""

from __future__ import annotations

from typing import Any

# (section, [(key, default, comment or None)]) in keypoint-MoSeq's order.
_PLACEHOLDER = ["BODYPART1", "BODYPART2", "BODYPART3"]


TEMPLATE: list[tuple[str, list[tuple[str, Any, str | None]]]] = [
    (
        "ANATOMY",
        [
            ("bodyparts", _PLACEHOLDER, "used to access columns in the keypoint data"),
            (
                "use_bodyparts",
                _PLACEHOLDER,
                "determines the subset of bodyparts to use for modeling and the order in which they are represented",
            ),
            (
                "skeleton",
                [["BODYPART1", "BODYPART2"], ["BODYPART2", "BODYPART3"]],
                "used for visualization only",
            ),
            ("anterior_bodyparts", ["BODYPART1"], "used to initialize heading"),
            ("posterior_bodyparts", ["BODYPART3"], "used to initialize heading"),
        ],
    ),
    (
        "FITTING",
        [
            (
                "added_noise_level",
                0.1,
                "upper bound of uniform noise added to the data during initial AR-HMM fitting; "
                "this is used to regularize the model",
            ),
            (
                "PCA_fitting_num_frames",
                1000000,
                "number of frames used to fit the PCA model during initialization",
            ),
            (
                "conf_threshold",
                0.5,
                "used to define outliers for interpolation when the model is initialized",
            ),
        ],
    ),
    (
        "HYPER PARAMS",
        [
            (
                "error_estimator",
                {"slope": -0.5, "intercept": 0.25},
                "parameters to convert neural net likelihoods to error size priors",
            ),
            (
                "obs_hypparams",
                {"sigmasq_0": 0.1, "sigmasq_C": 0.1, "nu_sigma": 1e5, "nu_s": 5},
                "keypoint observation hyperparameters",
            ),
            (
                "ar_hypparams",
                {"latent_dim": 10, "nlags": 3, "S_0_scale": 0.01, "K_0_scale": 10.0},
                "autoregressive hyperparameters",
            ),
            (
                "trans_hypparams",
                {"num_states": 100, "gamma": 1e3, "alpha": 5.7, "kappa": 1e6},
                "transition hyperparameters",
            ),
            ("cen_hypparams", {"sigmasq_loc": 0.5}, "centroid movement hyperparameters"),
        ],
    ),
    (
        "OTHER",
        [
            (
                "recording_name_suffix",
                "",
                "suffix used to match videos to recording names; this can usually be left empty "
                "(see `util.find_matching_videos` for details)",
            ),
            ("verbose", False, "whether to print progress messages during fitting"),
            ("conf_pseudocount", 1e-3, "pseudocount used regularize neural network confidences"),
            (
                "video_dir",
                "",
                "directory with videos from which keypoints were derived (used for crowd movies)",
            ),
            (
                "keypoint_colormap",
                "autumn",
                "colormap used for visualization; see `matplotlib.cm.get_cmap` for options",
            ),
            (
                "whiten",
                True,
                "whether to whiten principal components; used to initialize the latent pose trajectory `x`",
            ),
            (
                "fix_heading",
                False,
                "whether to keep the heading angle fixed; this should only be True if the pose is constrained "
                "to a narrow range of angles, e.g. a headfixed mouse.",
            ),
            ("fps", 30, "frames per second of the video recordings"),
            ("outlier_scale_factor", 6.0, None),
        ],
    ),
]


#: Keys whose default is a group of settings (a bare key inside one is set there).
GROUPS = [
    key for _, entries in TEMPLATE for key, default, _ in entries if isinstance(default, dict)
]
