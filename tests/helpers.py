"""What several test files share: the element ids the mission names, the first step-list
layout, and how a skipped Gradio output looks."""

from pipelines.spec import default_spec

# The sliders the mission asks for by id: the default pipeline's and the catalogue's.
MISSION_IDS = (
    "hflip-p",
    "rrc-scale-min",
    "rrc-scale-max",
    "rrc-ratio-min",
    "rrc-ratio-max",
    "jitter-brightness",
    "jitter-contrast",
    "jitter-saturation",
    "jitter-hue",
)

LAYOUT = (0, default_spec().to_json())


def _skipped(value) -> bool:
    return isinstance(value, dict) and value.get("__type__") == "update" and len(value) == 1
