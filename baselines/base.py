"""The ``Restorer`` interface and the registry (weight files: :class:`resshift.weights.WeightFile`,
kept under ``baselines/`` in the cache).

A method is one class with ``@register``; an installed package adds methods through the entry
point group ``resshift_bench.baselines`` (each entry point names a module or a ``Restorer``
subclass; importing the module registers its classes)::

    @register
    class MyMethod(Restorer):
        name, task, label = "mymethod", "sr", "My method"
        weights = (WeightFile("mymethod.pth", "https://example.org/mymethod.pth", subdir=BASELINES),)

        def load(self):
            self.net = build_my_net(); self.net.load_state_dict(torch.load(self.weight_path(0)))

        def restore(self, lq, mask=None, generator=None):
            return self.net(lq).clamp(0, 1)
"""
from __future__ import annotations

import abc
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

import torch

from resshift.errors import ResShiftError
from resshift.weights import WeightFile, load_checkpoint, read_state_dict, sha256_of

BASELINES = "baselines"           # the baselines' folder in the cache

ENTRY_POINT_GROUP = "resshift_bench.baselines"
METHOD_TASKS = ("sr", "inpaint", "face")     # what a compared method does
IMPLEMENTATIONS = ("maintainers", "ours", "none")


class Restorer(abc.ABC):
    """One compared method. Subclasses set the class attributes and implement :meth:`restore`.

    ``restore(lq, mask=None, generator=None)`` takes a (B, 3, h, w) RGB batch in [0, 1] (for
    inpainting, ``mask`` (B, 1, h, w), 1 = hole, and ``lq`` already has the holes) and returns
    (B, 3, h*sf, w*sf) in [0, 1].
    """

    name: ClassVar[str] = ""
    task: ClassVar[str] = "sr"
    label: ClassVar[str] = ""                  # as printed in tables
    sf: ClassVar[int] = 4
    steps_choices: ClassVar[tuple[int, ...]] = ()   # () for methods without sampling steps
    default_steps: ClassVar[int | None] = None
    weights: ClassVar[tuple[WeightFile, ...]] = ()
    needs: ClassVar[str] = ""                  # what else it needs (a GPU, an environment), for listings
    licence: ClassVar[str] = ""                # the release's licence (code and weights), for listings
    # True for deterministic feed-forward methods (no generator): one restore() call on a batch
    # gives each image what it gets alone, up to the float reassociation of batched convolutions
    # (bicubic: bit for bit), so `resshift-bench run --batch-size` batches them; the others
    # restore one image at a time with its own generator
    batchable: ClassVar[bool] = False
    # Whose network code runs: "maintainers" (the release's own code, e.g. through spandrel,
    # diffusers, basicsr or the release run as it is), "ours" (written in this project), or "none"
    # (no learned network: the input itself, bicubic upsampling).
    implementation: ClassVar[str] = "ours"
    # For "ours": the pytest node id of the test that reproduces the release's recorded output
    # (e.g. "tests/test_parity_dasr.py::test_dasr_matches_release"); None until there is one.
    release_parity: ClassVar[str | None] = None

    def __init__(self, steps: int | None = None, device: str = "cpu", **options):
        if self.steps_choices:
            steps = self.default_steps if steps is None else int(steps)
            if steps is None or steps <= 0:
                raise ResShiftError(f"{self.name}: --steps must be a positive number (paper: "
                                    f"{', '.join(map(str, self.steps_choices))})")
        elif steps not in (None, -1):
            raise ResShiftError(f"{self.name} has no sampling steps; leave --steps out")
        self.steps = steps if self.steps_choices else None
        self.device = torch.device(device)
        self.options = options
        self.load()

    @classmethod
    def validated(cls) -> bool:
        """True when the method's numbers may be set beside the paper's: the maintainers' code
        runs, there is no network, or a parity test against the release's output exists."""
        return cls.implementation in ("maintainers", "none") or bool(cls.release_parity)

    @classmethod
    def validation_status(cls) -> str:
        """For listings: "validated against release" (and how) or "not validated"."""
        if cls.implementation == "none":
            return "validated against release (no network)"
        if cls.implementation == "maintainers":
            return "validated against release (maintainers' code)"
        return f"validated against release ({cls.release_parity})" if cls.release_parity else "not validated"

    # -- to implement ------------------------------------------------------------------
    def load(self) -> None:
        """Build the networks and load the weights (raise :func:`missing` errors)."""

    @abc.abstractmethod
    def restore(self, lq: torch.Tensor, mask: torch.Tensor | None = None,
                generator: torch.Generator | None = None) -> torch.Tensor:
        """(B, 3, h, w) in [0, 1] -> (B, 3, h*sf, w*sf) in [0, 1]."""

    def modules(self) -> dict[str, torch.nn.Module]:
        """Networks by role: ``trainable`` ones (the restorer) and ``frozen`` ones (autoencoders)."""
        return {}

    def timesteps(self) -> list[int] | None:
        """The exact timesteps used (for diffusion methods), recorded in meta.json."""
        return None

    @staticmethod
    def model_modules(model) -> dict[str, torch.nn.Module]:
        """:meth:`modules` of a :class:`resshift.config.ResShiftModel` (its UNet, frozen autoencoder)."""
        mods = {"trainable": model.unet}
        if model.autoencoder is not None:
            mods["frozen_autoencoder"] = model.autoencoder
        return mods

    @classmethod
    def with_random_weights(cls, folder: Path, steps: int | None = None, device: str = "cpu") -> "Restorer":
        """The method's architecture with random weights, written in its release's format under
        ``folder`` and read by the normal loading path (for timing: runtime does not depend on
        the weights' values). Methods without weights need none."""
        if cls.weights:
            raise ResShiftError(f"{cls.name}: no random-weight stand-in; its weights are needed ({cls.weights[0].url})")
        return cls(steps=steps, device=device)

    # -- shared ------------------------------------------------------------------------
    def weight_path(self, index: int = 0) -> Path:
        """The cached file of ``weights[index]``, or a clear error naming it, its URL and folder."""
        spec = self.weights[index]
        override = self.options.get("weights")
        path = Path(override) if override and index == 0 else spec.path
        if not (path.is_dir() if spec.is_folder else path.is_file()):
            raise ResShiftError(spec.missing_message(self.name, f"resshift-bench baselines fetch {self.name}")
                                if not override else
                                f"{self.name}: weight file {path} not found")
        return path

    def params(self) -> dict[str, int]:
        """Parameter counts: ``trainable`` (the restoring network) and ``frozen`` (autoencoders, etc.)."""
        out = {"trainable": 0, "frozen": 0}
        for role, mod in self.modules().items():
            out["frozen" if role.startswith("frozen") else "trainable"] += sum(p.numel() for p in mod.parameters())
        return out

    def weights_sha256(self) -> dict[str, str]:
        out = {}
        for i, spec in enumerate(self.weights):
            try:
                path = self.weight_path(i)
            except ResShiftError:
                continue
            if path.is_dir():
                continue
            out[path.name] = sha256_of(path)
        return out

    def meta(self) -> dict:
        return {"method": self.name, "label": self.label, "task": self.task, "steps": self.steps if self.steps else -1,
                "timesteps": self.timesteps(), "weights_sha256": self.weights_sha256(), "params": self.params(),
                "device": str(self.device)}


class SingleNetworkRestorer(Restorer):
    """A method whose one network is read from ``weights[0]`` by :func:`resshift.weights.load_checkpoint`
    (plain, ``params``/``params_ema``/``state_dict`` or, with ``wrapper``, ``{wrapper: state_dict}``
    files). Subclasses build the network; ``self.net`` holds it, loaded, in eval mode."""

    wrapper: ClassVar[str] = ""                # the release wraps its state dict in this key ("" if not)
    network_kind: ClassVar[str] = ""           # for errors: "... is not <network_kind>"

    @classmethod
    @abc.abstractmethod
    def build_network(cls, options: dict) -> torch.nn.Module:
        """The released architecture (``options``: the method's options, e.g. a test-size config)."""

    def load(self) -> None:
        path = self.weight_path(0)
        self.net = self.build_network(self.options)
        try:
            state = read_state_dict(path, key=self.wrapper)
        except ResShiftError as exc:
            raise ResShiftError(f"{self.name}: {exc}") from None
        try:
            load_checkpoint(self.net, state)
        except ResShiftError as exc:
            raise ResShiftError(f"{self.name}: {path} is not {self.network_kind} ({exc})") from None
        self.net = self.net.to(self.device).eval()

    def modules(self) -> dict[str, torch.nn.Module]:
        return {"trainable": self.net}

    @classmethod
    def with_random_weights(cls, folder: Path, steps: int | None = None, device: str = "cpu") -> "Restorer":
        """The full-size network with random weights, saved as the release saves it."""
        path = Path(folder) / cls.weights[0].file
        path.parent.mkdir(parents=True, exist_ok=True)
        state = cls.build_network({}).state_dict()
        torch.save({cls.wrapper: state} if cls.wrapper else state, path)
        return cls(steps=steps, device=device, weights=str(path))


_REGISTRY: dict[str, type[Restorer]] = {}
_ENTRY_POINTS_LOADED = False


@dataclass(frozen=True)
class Unavailable:
    """A compared method of the paper that cannot run here: what is missing, where it comes from."""

    name: str
    task: str
    label: str
    reason: str
    source: str
    licence: str = ""


UNAVAILABLE: dict[str, Unavailable] = {}


def declare_unavailable(name: str, task: str, label: str, reason: str, source: str, licence: str = "") -> None:
    UNAVAILABLE[name] = Unavailable(name, task, label, reason, source, licence)


def register(cls: type[Restorer]) -> type[Restorer]:
    """Class decorator: add a method to the registry under ``cls.name``."""
    if not cls.name or cls.task not in METHOD_TASKS:
        raise ValueError(f"{cls.__name__}: set name and task (one of {METHOD_TASKS})")
    if cls.implementation not in IMPLEMENTATIONS:
        raise ValueError(f"{cls.__name__}: implementation must be one of {IMPLEMENTATIONS}, not {cls.implementation!r}")
    other = _REGISTRY.get(cls.name)
    if other is not None and other is not cls and (other.__module__, other.__qualname__) != (cls.__module__, cls.__qualname__):
        raise ValueError(f"baseline name {cls.name!r} is taken by {other.__module__}.{other.__qualname__}")
    _REGISTRY[cls.name] = cls
    return cls


def load_entry_points() -> list[str]:
    """Import the ``resshift_bench.baselines`` entry points of installed packages (once)."""
    global _ENTRY_POINTS_LOADED
    if _ENTRY_POINTS_LOADED:
        return []
    _ENTRY_POINTS_LOADED = True
    from importlib.metadata import entry_points

    loaded = []
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        try:
            obj = ep.load()
        except Exception as exc:
            raise ResShiftError(f"baseline plugin {ep.name} ({ep.value}) failed to import: {exc}") from None
        if isinstance(obj, type) and issubclass(obj, Restorer):
            register(obj)
        loaded.append(ep.name)
    return loaded


def registry() -> dict[str, type[Restorer]]:
    load_entry_points()
    return dict(sorted(_REGISTRY.items()))


def get(name: str) -> type[Restorer]:
    reg = registry()
    if name not in reg:
        if name in UNAVAILABLE:
            u = UNAVAILABLE[name]
            raise ResShiftError(f"{name}: not available: {u.reason} (release: {u.source})")
        raise ResShiftError(f"unknown method {name!r}; known: {', '.join(reg)}")
    return reg[name]


def why_not_runnable(method: str, offline: bool = False) -> str | None:
    """One line saying why ``method`` (``NAME`` or ``NAME@RUN``) cannot run here, or None: a
    declared-unavailable method, or (``offline``) a released weight file that is missing."""
    name, _, run = method.partition("@")
    if name in UNAVAILABLE and name not in registry():
        u = UNAVAILABLE[name]
        return f"not available: {u.reason} (release: {u.source})"
    if offline and not run and name in registry():
        missing = [w for w in registry()[name].weights if not w.present()]
        if missing:
            return "weights missing offline: " + "; ".join(f"{w.file} ({w.url})" for w in missing)
    return None


def build(name: str, steps: int | None = None, device: str = "cpu", **options) -> Restorer:
    return get(name)(steps=steps, device=device, **options)


def run_options(method: str, models: str | Path = "results/models", options: dict | None = None) -> tuple[str, dict]:
    """``"resshift@demo_t4"`` -> (``"resshift"``, ``options`` plus those that load the run
    ``models/demo_t4`` trained by ``resshift train``: its ``config.yaml`` and
    ``checkpoints/last.pth``, unless ``options`` names a checkpoint already)."""
    options = dict(options or {})
    name, sep, run = method.partition("@")
    if not sep or "checkpoint" in options:
        return name, options
    folder = Path(models) / run
    ckpt = folder / "checkpoints" / "last.pth"
    if not run or not ckpt.is_file():
        raise ResShiftError(f"{method}: no trained run at {folder} (checkpoints/last.pth missing); train it with "
                            f"`resshift train --config CONFIG --out {folder}` or let the workflow build {ckpt}")
    options["checkpoint"] = str(ckpt)
    if (folder / "config.yaml").is_file():
        options.setdefault("config", str(folder / "config.yaml"))
    return name, options
