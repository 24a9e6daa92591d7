"""The pipeline applied to a whole NCHW batch at once, with a different random draw per image.

torchvision v2 given a batch draws one set of parameters and applies it to every image, which is
wrong for training. Here each kernel mirrors one torchvision v2 transform, split the way v2
splits it: `draw(n, height, width, generator)` returns per-sample parameter tensors drawn from
the same distributions as the transform's `make_params` (or its `forward`, for the coin of a
`p` and the policies' choices), under torchvision's own parameter names, and
`apply(images, params)` is deterministic given them. `Kernel.torchvision_params(params, i)`
gives image i's draws as torchvision's `transform` takes them, so one test, parametrized over
every kernel, compares the draws' distributions and the pixels with torchvision's. The kernels
read their settings from the torchvision transform that `build_parts` makes, so the catalogue
stays the one declaration; which kernel a transform has, or why it has none, is its
`TransformDef.batched` there (`KERNELS` is derived from it).

The modules, by family: `base` (Kernel, Coin, the random helpers), `colour`, `geometry` (flips,
crops and the warps), `erasing`, `quality` (blur, noise), `policies` (and `Sometimes`, a step's
own probability), `pipeline` (a spec's kernels and BatchedPipeline).

`apply` has no per-image Python loop. Traced by torch.compile it has no control flow that
depends on the draws either: a choice per image (a coin, a policy's op) is a torch.where over
the whole batch, and warps build one sampling grid for the batch from a matrix per image, so
torch.compile sees one graph. Eagerly, the kernels marked `grouped` (the three policies,
ColorJitter with a hue shift) instead split the batch by their draws and run each op on the
images that drew it only (`_by_group`): the same pixels, at the cost of the ops drawn rather
than of all of them. `BatchedPipeline(compile=True)` measures which of the two is faster on
its device. Draws that need a data-dependent step (RandomResizedCrop's and RandomErasing's
first fitting try, the perspective solve) are vectorised too and happen in `draw`, outside
the compiled function.

Images are float in [0, 1] (uint8 input is scaled once): torchvision on uint8 rounds to uint8
after every step, we keep full precision between steps. Transforms without a kernel here run
per image through torchvision in DataLoader workers (see playground.training.augment).
"""

from pipelines.batched.base import Coin, Kernel, Params, _by_group
from pipelines.batched.colour import (
    Autocontrast,
    ChannelPermutation,
    ColorJitter,
    Equalize,
    Grayscale,
    Invert,
    Posterize,
    Sharpness,
    Solarize,
    _shift_hue,
)
from pipelines.batched.erasing import Erasing
from pipelines.batched.geometry import (
    Affine,
    Crop,
    Flip,
    HorizontalFlip,
    Perspective,
    ResizedCrop,
    Rotation,
    VerticalFlip,
    resize_weights,
)
from pipelines.batched.pipeline import (
    ALL_OPS,
    GROUPED,
    KERNELS,
    BatchedPipeline,
    batched_supported,
    fallback,
    kernel,
    kernel_or_reason,
    resolve,
    unsupported,
)
from pipelines.batched.policies import (
    _FAMILIES,
    _FAMILY_OF,
    OPS,
    AutoAugment,
    Policy,
    RandAugment,
    Sometimes,
    TrivialAugmentWide,
)
from pipelines.batched.quality import GaussianBlur, GaussianNoise

__all__ = [
    "ALL_OPS",
    "GROUPED",
    "KERNELS",
    "OPS",
    "Affine",
    "Autocontrast",
    "AutoAugment",
    "BatchedPipeline",
    "ChannelPermutation",
    "Coin",
    "ColorJitter",
    "Crop",
    "Equalize",
    "Erasing",
    "Flip",
    "HorizontalFlip",
    "VerticalFlip",
    "GaussianBlur",
    "GaussianNoise",
    "Grayscale",
    "Invert",
    "Kernel",
    "Params",
    "Perspective",
    "Policy",
    "Posterize",
    "RandAugment",
    "ResizedCrop",
    "Rotation",
    "Sharpness",
    "Solarize",
    "Sometimes",
    "TrivialAugmentWide",
    "_FAMILIES",
    "_FAMILY_OF",
    "_by_group",
    "_shift_hue",
    "batched_supported",
    "fallback",
    "kernel",
    "kernel_or_reason",
    "resolve",
    "resize_weights",
    "unsupported",
]
