"""The classification models a run can train, declared once, and the weights they start from.

`MODELS` is the table: a name, the torchvision builder it stands for, why it is in the set. A
torchvision model is built with `torchvision.models.get_model` (never by hand); `resnet18` is
the CIFAR-style ResNet-18 of `playground.training.model` (32 px, no ImageNet weights), the
default. `build` gives a model with its classification head replaced to fit the data's classes,
started from `--weights`:

- `none`: from scratch (torchvision's own initialisation, seeded by the caller);
- `imagenet`: torchvision's default weights for the architecture, downloaded once into the
  torch hub cache by torchvision (progress line, hash checked on download); offline and not
  cached, a `WeightsError` names the cache folder and the file to put there. A check
  (`download=False`) builds the architecture without fetching them: `imagenet_download` says
  where they go, and the app says whether this server can get them (playground.jobs.checks);
- a path: a state dict (or a checkpoint of this program) loaded with `weights_only=True`, its
  keys checked against the architecture's (the head excepted: it is replaced anyway).

`--finetune head` (feature extraction) trains the new head only: everything else is frozen
(`requires_grad=False`) AND kept in eval mode, so its BatchNorm running statistics stay the
pretrained ones and its dropout/stochastic depth are off (the backbone is then a fixed feature
extractor, which is what the name promises; a frozen backbone whose BatchNorm statistics drift
to a few hundred images would no longer be the pretrained one). `--finetune all` trains
everything, the backbone at `BACKBONE_LR_RATIO` times the head's learning rate (`param_groups`).

`preprocess` resolves the weights' own `transforms()` (resize, centre crop, mean, std) so the
run can record them and normalise after the augmentation pipeline.
"""

from __future__ import annotations

import urllib.error
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch
import torchvision
from torch import nn

from playground.training.checkpoints import _reason as load_error_reason
from playground.training.model import resnet18 as cifar_resnet18
from playground.training.settings import MODEL_NAMES, by_name

WEIGHTS_FLAG = by_name("weights").flag

CIFAR_MODEL = "resnet18"
DEFAULT_MODEL = CIFAR_MODEL
WEIGHTS_CHOICES = ("imagenet", "none")  # or the path of a state dict file
FINETUNE_CHOICES = ("all", "head")
# Fine-tuning everything: the backbone learns at a tenth of the head's rate. Its pretrained
# features need small corrections while the new head starts from random numbers and must move
# far; at the same rate the first large steps (driven by the random head's big errors) wreck
# the pretrained features. 10x is the usual factor (discriminative learning rates, as in
# fast.ai's and cs231n's fine-tuning advice). From scratch (`none`) there is nothing to protect
# and both parts learn at the same rate.
BACKBONE_LR_RATIO = 0.1


@dataclass(frozen=True)
class ModelEntry:
    name: str
    builder: str  # torchvision.models.get_model's name; "" for the CIFAR ResNet-18
    why: str


# The curated set: one family member per design that a fine-tuning user meets first, small to
# medium, all with ImageNet weights in torchvision and all trainable on a CPU for a few steps.
MODELS: dict[str, ModelEntry] = {
    e.name: e
    for e in (
        ModelEntry(
            "resnet18", "", "d2l's CIFAR-style ResNet-18 (3x3 stem, no max-pool): 32 px data, "
            "from scratch; today's network and the default"
        ),
        ModelEntry(
            "resnet18-imagenet", "resnet18", "torchvision's ResNet-18: the fine-tuning "
            "tutorials' model, 11.7 M parameters"
        ),
        ModelEntry("resnet50", "resnet50", "the standard ImageNet baseline, 25.6 M parameters"),
        ModelEntry(
            "mobilenet_v3_small", "mobilenet_v3_small", "the smallest and fastest (2.5 M): "
            "fine-tuning on a CPU"
        ),
        ModelEntry(
            "mobilenet_v3_large", "mobilenet_v3_large", "mobile-sized (5.5 M), more accurate "
            "than the small one"
        ),
        ModelEntry(
            "efficientnet_b0", "efficientnet_b0", "compound-scaled, strong accuracy for its "
            "5.3 M parameters (bicubic resize)"
        ),
        ModelEntry(
            "convnext_tiny", "convnext_tiny", "a modern convnet (LayerNorm, no BatchNorm), "
            "28.6 M parameters"
        ),
        ModelEntry(
            "regnet_y_400mf", "regnet_y_400mf", "a designed-space RegNet with squeeze-excitation, "
            "4.3 M parameters"
        ),
    )
}  # fmt: skip


# settings.py declares the names without torch; the two lists are one
assert tuple(MODELS) == MODEL_NAMES, "settings.MODEL_NAMES must list models.MODELS in order"


class ModelError(ValueError):
    """An unknown model or finetune mode; the message says what is available."""


class WeightsError(ValueError):
    """Weights that cannot be had or do not fit; the message says why and what to do."""


@dataclass(frozen=True)
class Preprocess:
    """What the weights expect of an image: resize the shorter side to `resize`, centre-crop
    `crop` x `crop`, then normalise by `mean` and `std` (None: the data's own statistics)."""

    resize: int
    crop: int
    mean: tuple[float, float, float] | None
    std: tuple[float, float, float] | None
    interpolation: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def entry(name: str) -> ModelEntry:
    if name not in MODELS:
        raise ModelError(f"unknown model {name!r}; choose one of {', '.join(MODELS)}")
    return MODELS[name]


def _default_weights(name: str) -> Any:
    """torchvision's DEFAULT weights enum member for the model (None for the CIFAR one)."""
    builder = entry(name).builder
    return torchvision.models.get_model_weights(builder).DEFAULT if builder else None


def preprocess(name: str, cifar_size: int = 32) -> Preprocess:
    """The input the model expects, from its weights' own `transforms()`; the CIFAR ResNet-18
    takes the data at `cifar_size` and normalises by the data's statistics (as today)."""
    weights = _default_weights(name)
    if weights is None:
        return Preprocess(cifar_size, cifar_size, None, None, "bilinear")
    t = weights.transforms()
    return Preprocess(
        resize=int(t.resize_size[0]),
        crop=int(t.crop_size[0]),
        mean=tuple(float(v) for v in t.mean),
        std=tuple(float(v) for v in t.std),
        interpolation=t.interpolation.value,
    )


def table() -> list[dict[str, Any]]:
    """The set as rows for the README, the Train tab and config.json: name, builder, the
    ImageNet weights torchvision gives by default, the input they expect, the smallest input
    the network takes, parameters (at 1000 classes) and why it is in the set."""
    rows = []
    for name, e in MODELS.items():
        weights, pre = _default_weights(name), preprocess(name)
        meta = weights.meta if weights is not None else {}
        rows.append(
            {
                "name": name,
                "builder": e.builder or "playground.training.model.resnet18",
                "weights": str(weights) if weights is not None else "none (CIFAR-style)",
                "input": f"{pre.resize} -> {pre.crop}" if weights is not None else "data size",
                "min_size": meta.get("min_size", (8, 8))[0] if weights is not None else 8,
                "params": meta.get("num_params"),
                "why": e.why,
            }
        )
    return rows


# ---- weights -------------------------------------------------------------------------------


def weights_file(name: str) -> tuple[Path, str, str]:
    """(torch hub cache folder, file name, url) of the model's ImageNet weights."""
    weights = _default_weights(name)
    if weights is None:
        raise WeightsError(
            f"{name} (the CIFAR-style ResNet-18) has no ImageNet weights; "
            "use resnet18-imagenet for torchvision's pretrained ResNet-18"
        )
    folder = Path(torch.hub.get_dir()) / "checkpoints"
    return folder, weights.url.rsplit("/", 1)[-1], weights.url


def imagenet_download(name: str) -> dict[str, Any]:
    """Where the model's ImageNet weights go and come from, as plain data for config.json and
    the app: the cache folder, the file name, the url, its size in MB, whether it is there."""
    folder, file, url = weights_file(name)
    size = _default_weights(name).meta.get("_file_size")
    return {
        "folder": str(folder),
        "file": file,
        "url": url,
        "mb": size,
        "cached": (folder / file).is_file(),
    }


def imagenet_cached(name: str) -> bool:
    """Whether the ImageNet weights are in the cache already (no download needed)."""
    folder, file, _ = weights_file(name)
    return (folder / file).is_file()


def imagenet_state_dict(name: str, progress: bool = True) -> dict[str, torch.Tensor]:
    """torchvision's default weights for the model: from the torch hub cache, or downloaded
    there once by torchvision (progress line, hash checked)."""
    folder, file, url = weights_file(name)
    weights = _default_weights(name)
    try:
        return weights.get_state_dict(progress=progress, check_hash=True, weights_only=True)
    except (urllib.error.URLError, OSError) as err:  # offline, DNS, a read-only cache
        raise WeightsError(
            f"the ImageNet weights of {name} are not in {str(folder)!r} and could not be "
            f"downloaded ({getattr(err, 'reason', err)}). Download {url} elsewhere and put it "
            f"in that folder as {file!r}, or use {WEIGHTS_FLAG} none"
        ) from None
    except Exception as err:  # noqa: BLE001 a hash mismatch on download, a damaged cached file
        # (a damaged file makes torch.load raise almost anything)
        raise WeightsError(
            f"the ImageNet weights of {name} ({str(folder / file)!r}) are damaged or failed "
            f"torchvision's hash check ({load_error_reason(err)}); delete the file if it is "
            "there and start again"
        ) from None


def read_state_dict(path: str | Path) -> dict[str, torch.Tensor]:
    """A state dict from a file, loaded with weights_only=True (a checkpoint of this program
    gives its model's weights)."""
    path = Path(path)
    if not path.is_file():
        raise WeightsError(f"{WEIGHTS_FLAG}: no file at {str(path)!r} (or use imagenet or none)")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # noqa: BLE001 a damaged file makes torch.load raise almost anything
        raise WeightsError(
            f"{WEIGHTS_FLAG} {str(path)!r} is not a weights file torch can load safely "
            f"({load_error_reason(err)})"
        ) from None
    if isinstance(state, dict) and state.get("format") == "playground-checkpoint":
        state = state.get("model")
    if not isinstance(state, dict) or not all(
        isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in state.items()
    ):
        raise WeightsError(
            f"{WEIGHTS_FLAG} {str(path)!r} does not hold a state dict (names -> tensors)"
        )
    return state


def _names(keys: list[str], limit: int = 5) -> str:
    shown = ", ".join(keys[:limit])
    return shown + (f" and {len(keys) - limit} more" if len(keys) > limit else "")


def check_keys(
    model: nn.Module, state: dict[str, torch.Tensor], head: str, source: str
) -> dict[str, torch.Tensor]:
    """The entries of `state` for everything but the head, after checking that they are
    exactly the model's (names and shapes); WeightsError naming what is missing or extra."""
    prefix = head + "."
    own = {k: v for k, v in model.state_dict().items() if not k.startswith(prefix)}
    given = {k: v for k, v in state.items() if not k.startswith(prefix)}
    missing = sorted(set(own) - set(given))
    extra = sorted(set(given) - set(own))
    if missing or extra:
        parts = [f"missing {_names(missing)}"] if missing else []
        parts += [f"extra {_names(extra)}"] if extra else []
        raise WeightsError(
            f"{source} does not fit this model: {'; '.join(parts)} "
            "(is it a state dict of the same architecture?)"
        )
    wrong = [k for k in own if tuple(own[k].shape) != tuple(given[k].shape)]
    if wrong:
        k = wrong[0]
        raise WeightsError(
            f"{source} does not fit this model: {k} has shape {tuple(given[k].shape)}, the model "
            f"needs {tuple(own[k].shape)}"
            + (f" ({len(wrong) - 1} more differ)" if wrong[1:] else "")
        )
    return given


# ---- the head ------------------------------------------------------------------------------


def head_name(model: nn.Module) -> str:
    """The qualified name of the classification head: the last nn.Linear registered (fc in
    ResNets and RegNets, classifier[-1] in MobileNets, EfficientNets and ConvNeXts, the last
    layer of the CIFAR ResNet-18)."""
    names = [n for n, m in model.named_modules() if isinstance(m, nn.Linear)]
    if not names:
        raise ModelError(f"{type(model).__name__} has no linear classification head")
    return names[-1]


def replace_head(model: nn.Module, num_classes: int) -> str:
    """Put a new, freshly initialised Linear layer with `num_classes` outputs in place of the
    head; returns its name."""
    name = head_name(model)
    parent_name, _, child = name.rpartition(".")
    parent = model.get_submodule(parent_name)
    old = parent.get_submodule(child)
    setattr(parent, child, nn.Linear(old.in_features, num_classes, bias=old.bias is not None))
    return name


# ---- building ------------------------------------------------------------------------------


def _frozen_roots(model: nn.Module, head: str) -> list[str]:
    """The fewest modules that together hold everything but the head: the siblings of each
    module on the path from the root to the head."""
    roots, path = [], ""
    for part in head.split("."):
        parent = model.get_submodule(path)
        roots += [f"{path}.{n}".lstrip(".") for n, _ in parent.named_children() if n != part]
        path = f"{path}.{part}".lstrip(".")
    return roots


def _keep_in_eval(model: nn.Module, roots: list[str]) -> None:
    """Before every forward pass, the frozen modules go back to eval mode whatever
    `model.train()` did (a hook, so that every caller's `train()` keeps the rule)."""

    def hook(module: nn.Module, args: Any) -> None:
        if module.training:
            for name in roots:
                module.get_submodule(name).eval()

    model.register_forward_pre_hook(hook)


@dataclass
class Built:
    """A model ready to train and what the log and config.json say about it."""

    model: nn.Module
    head: str  # the head's qualified name
    summary: dict[str, Any]


def _count(params: Any) -> int:
    return sum(p.numel() for p in params)


def build(
    name: str,
    num_classes: int,
    weights: str = "none",
    finetune: str = "all",
    width: int = 64,
    progress: bool = True,
    download: bool = True,
) -> Built:
    """The model `name` with `num_classes` outputs, started from `weights` (imagenet, none or a
    path), with `finetune` (all or head) applied. Seed torch before calling for a fixed head.
    `download=False` (a check): ImageNet weights not in the cache are not fetched, the model
    keeps its initialisation (the summary is the same)."""
    spec = entry(name)
    if finetune not in FINETUNE_CHOICES:
        raise ModelError(f"unknown finetune mode {finetune!r}; choose all or head")
    if spec.builder:
        model = torchvision.models.get_model(spec.builder, weights=None)
    else:
        model = cifar_resnet18(num_classes, width)
    head = head_name(model)
    if weights == "imagenet":
        fetch = download or imagenet_cached(name)
        state = imagenet_state_dict(name, progress) if fetch else None
        source = "torchvision's ImageNet weights"
    elif weights == "none":
        state, source = None, "none (from scratch)"
    else:
        state, source = read_state_dict(weights), str(weights)
    if state is not None:
        backbone = check_keys(model, state, head, f"{WEIGHTS_FLAG} {source!r}")
        model.load_state_dict(backbone, strict=False)
    if spec.builder:  # torchvision's head has ImageNet's 1000 classes
        replace_head(model, num_classes)
    # (the CIFAR network is built with the data's classes: its own head, drawn as it always
    # was, so a seeded run starts from the same weights as before models were added)
    frozen: list[str] = []
    if finetune == "head":
        frozen = _frozen_roots(model, head)
        for p in model.parameters():
            p.requires_grad_(False)
        for p in model.get_submodule(head).parameters():
            p.requires_grad_(True)
        _keep_in_eval(model, frozen)
    trainable = _count(p for p in model.parameters() if p.requires_grad)
    summary = {
        "model": name,
        "builder": spec.builder or "playground.training.model.resnet18",
        "weights": weights,
        "weights_source": source,
        "weights_enum": str(_default_weights(name)) if weights == "imagenet" else None,
        "finetune": finetune,
        "head": head,
        "num_classes": num_classes,
        "frozen": frozen,
        "frozen_in_eval_mode": bool(frozen),
        "params_trainable": trainable,
        "params_frozen": _count(model.parameters()) - trainable,
        "backbone_lr_ratio": lr_ratio(weights, finetune),
        "preprocess": preprocess(name).to_dict(),
    }
    return Built(model, head, summary)


def lr_ratio(weights: str, finetune: str) -> float:
    """The backbone's learning rate as a fraction of the head's (see BACKBONE_LR_RATIO)."""
    if finetune == "head":
        return 0.0
    return 1.0 if weights == "none" else BACKBONE_LR_RATIO


def param_groups(built: Built, ratio: float | None = None) -> list[dict[str, Any]]:
    """Optimizer groups: {"name", "params", "lr_scale"} for the head and (when it trains) the
    backbone; an optimizer sets each group's lr to the peak lr times `lr_scale`. `ratio`: the
    backbone's scale when not the summary's (a resumed run is built without its weights file,
    which the checkpoint replaces, but keeps the rates of the weights it started from)."""
    prefix = built.head + "."
    named = [(n, p) for n, p in built.model.named_parameters() if p.requires_grad]
    head = [p for n, p in named if n.startswith(prefix)]
    backbone = [p for n, p in named if not n.startswith(prefix)]
    groups = [{"name": "head", "params": head, "lr_scale": 1.0}]
    if backbone:
        ratio = built.summary["backbone_lr_ratio"] if ratio is None else ratio
        groups.insert(0, {"name": "backbone", "params": backbone, "lr_scale": ratio})
    return groups


def for_run(
    cfg: dict[str, Any], resuming: bool = False, progress: bool = True
) -> tuple[Built, list[dict[str, Any]] | None]:
    """A run's model (seed torch first) and its optimizer groups; None: every parameter at one
    rate, the recipe's own groups (the CIFAR network from scratch, as before models were
    added; runs from then have no model, weights or finetune in their config). A resumed run
    reads no weights file (the checkpoint replaces them) but keeps the rates it started with."""
    weights, finetune = cfg.get("weights", "none"), cfg.get("finetune", "all")
    built = build(
        cfg.get("model", DEFAULT_MODEL),
        len(cfg["classes"]),
        "none" if resuming else weights,
        finetune,
        cfg["width"],
        progress,
    )
    groups = param_groups(built, lr_ratio(weights, finetune))
    if all(g["lr_scale"] == 1 for g in groups) and not built.summary["frozen"]:
        return built, None
    return built, groups


def batch_norms(model: nn.Module, frozen: list[str]) -> list[nn.Module]:
    """The model's BatchNorm layers outside the `frozen` modules (whose statistics stay the
    pretrained ones: a run recomputes only the others')."""
    return [
        m
        for name, m in model.named_modules()
        if isinstance(m, nn.modules.batchnorm._BatchNorm)
        and not any(name == r or name.startswith(r + ".") for r in frozen)
    ]


def describe(summary: dict[str, Any]) -> str:
    """One log line: the model, where its weights came from, what trains."""
    frozen = (
        f", frozen and in eval mode: {', '.join(summary['frozen'])}" if summary["frozen"] else ""
    )
    ratio = summary["backbone_lr_ratio"]
    lr = f", backbone lr x{ratio:g}" if summary["finetune"] == "all" and ratio != 1 else ""
    return (
        f"model {summary['model']} ({summary['num_classes']} classes, new head {summary['head']})"
        f", weights {summary['weights_source']}, finetune {summary['finetune']}: "
        f"{summary['params_trainable']:,} trainable, {summary['params_frozen']:,} frozen "
        f"parameters{frozen}{lr}"
    )
