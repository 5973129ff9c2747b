"""The ``Restorer`` interface and the registry (weight files: :class:`resshift.weights.WeightFile`,
kept under ``baselines/`` in the cache).

A method is one class with ``@register``; an installed package adds methods through the entry
point group ``resshift_bench.baselines`` (each entry point names a module or a ``Restorer``
subclass; importing the module registers its classes). Add your method in one file::

    @register
    class MyMethod(Restorer):
        name, task, label, sf = "mymethod", "sr", "My method", 4
        pad_multiple = 8                          # the network wants sides that are multiples of 8
        weights = (WeightFile("mymethod.pth", "https://example.org/mymethod.pth", subdir=BASELINES),)

        def load(self):
            self.net = build_my_net(); self.net.load_state_dict(torch.load(self.weight_path(0)))

        def restore(self, lq, mask=None, generator=None):
            return self.net(lq).clamp(0, 1)       # lq is already padded and on self.device

        @classmethod
        def tiny(cls, folder, device="cpu"):      # for the registry-wide contract test
            torch.save(build_my_net(width=8).state_dict(), folder / "tiny.pth")
            return cls(device=device, weights=str(folder / "tiny.pth"), width=8)

The class attributes describe the method, as a model descriptor does: its scale ``sf``, the input
it accepts (``in_channels``; ``fixed_size``, e.g. (512, 512) for aligned faces; ``needs_mask``,
by default exactly for inpainting) and how it is padded (``pad_multiple``, ``pad_mode``). Callers
run a method through ONE path, ``restorer(lq, mask=None, generator=None)``
(:meth:`Restorer.__call__`): it checks the input (a user's mistake, e.g. wrong channels, a face
that is not 512x512 or a missing mask, is one ``ResShiftError`` line), moves it to the device,
pads image and mask together, calls the method's :meth:`Restorer.restore`, crops the output back
to ``(h * sf, w * sf)`` and checks its shape and range. ``restore`` itself only sees inputs that
satisfy the descriptor.
"""
from __future__ import annotations

import abc
import contextlib
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

import torch

from resshift.errors import ResShiftError
from resshift.sampling import pad_to_multiple
from resshift.weights import WeightFile, load_checkpoint, read_state_dict, sha256_of

BASELINES = "baselines"           # the baselines' folder in the cache

ENTRY_POINT_GROUP = "resshift_bench.baselines"
METHOD_TASKS = ("sr", "inpaint", "face")     # what a compared method does
IMPLEMENTATIONS = ("maintainers", "ours", "none")
# How inputs are padded to ``pad_multiple`` (bottom/right, so the output's top-left crop is the image):
# "reflect": to the next multiple, by reflection (:func:`resshift.sampling.pad_to_multiple`);
# "mirror_past": SwinIR's test script (:func:`mirror_past_multiple`), which always adds padding.
PAD_MODES = ("reflect", "mirror_past")


def mirror_past_multiple(x: torch.Tensor, multiple: int) -> torch.Tensor:
    """Each side grows to ``(side // multiple + 1) * multiple``, so a side that is already a
    multiple (64) still gains a whole ``multiple`` (64 -> 72); rows then columns are filled with the
    image's mirror (last row first, edge repeated). A side shorter than its padding gains only one
    mirror copy (the network's own padding completes it). Bottom/right only."""
    for dim in (-2, -1):
        side = x.shape[dim]
        grow = min((side // multiple + 1) * multiple - side, side)
        x = torch.cat((x, x.flip(dim).narrow(dim, 0, grow)), dim)
    return x


@contextlib.contextmanager
def seeded(seed: int = 0):
    """Random initialisation inside the block seeded with ``seed``; the global RNG is left as it was."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        yield


class Restorer(abc.ABC):
    """One compared method. Subclasses set the class attributes and implement :meth:`restore`.

    Run it as ``restorer(lq, mask=None, generator=None)`` (:meth:`__call__`): a (B, 3, h, w) RGB
    batch in [0, 1] (for inpainting, ``mask`` (B, 1, h, w), 1 = hole, and ``lq`` already has the
    holes) -> (B, 3, h*sf, w*sf) in [0, 1], checked, padded and cropped as the class attributes say.
    """

    name: ClassVar[str] = ""
    task: ClassVar[str] = "sr"
    label: ClassVar[str] = ""                  # as printed in tables
    # -- the descriptor: what the method takes and gives (see :meth:`__call__`) --
    sf: ClassVar[int] = 4                      # output side = sf * input side
    in_channels: ClassVar[int] = 3             # RGB
    fixed_size: ClassVar[tuple[int, int] | None] = None   # (h, w) every input must have, e.g. aligned faces
    fixed_size_what: ClassVar[str] = "inputs"  # what such an input is, for the error ("aligned faces")
    needs_mask: ClassVar[bool | None] = None   # None: exactly when task == "inpaint"
    # inputs padded to a multiple of pad_multiple (None: set by load(), e.g. from the weight file) ...
    pad_multiple: ClassVar[int | None] = 1
    pad_mode: ClassVar[str] = "reflect"        # ... in one of PAD_MODES; the output is cropped back
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

    # -- the one call path -------------------------------------------------------------
    def __call__(self, lq: torch.Tensor, mask: torch.Tensor | None = None,
                 generator: torch.Generator | None = None) -> torch.Tensor:
        """Check the input against the descriptor, pad image and mask together, :meth:`restore`,
        crop back to ``(B, 3, h * sf, w * sf)`` and check the output's shape and range."""
        b, h, w = self.check_input(lq, mask)
        needs_mask = self.mask_needed()
        lq = lq.to(self.device)
        mask = mask.to(self.device) if needs_mask else None
        x, m = self.pad(lq, mask)
        out = self.restore(x, mask=m, generator=generator)
        if x.shape[-2:] != (h, w):
            out = out[..., : h * self.sf, : w * self.sf]
        return self.check_output(out, b, h, w)

    def mask_needed(self) -> bool:
        return self.task == "inpaint" if self.needs_mask is None else bool(self.needs_mask)

    def check_input(self, lq, mask) -> tuple[int, int, int]:
        """(B, h, w) of a valid input; a user's mistake is one ``ResShiftError`` line."""
        if not isinstance(lq, torch.Tensor) or lq.dim() != 4 or lq.shape[1] != self.in_channels:
            got = tuple(lq.shape) if isinstance(lq, torch.Tensor) else type(lq).__name__
            raise ResShiftError(f"{self.name}: expects a (B, {self.in_channels}, h, w) batch, got {got}")
        b, _, h, w = lq.shape
        if self.fixed_size is not None and (h, w) != tuple(self.fixed_size):
            fh, fw = self.fixed_size
            raise ResShiftError(f"{self.name}: expects {self.fixed_size_what} of {fh}x{fw}, got {h}x{w}")
        if self.mask_needed():
            if mask is None:
                raise ResShiftError(f"{self.name}: inpainting needs a mask (1 = hole)")
            if not isinstance(mask, torch.Tensor) or tuple(mask.shape) != (b, 1, h, w):
                got = tuple(mask.shape) if isinstance(mask, torch.Tensor) else type(mask).__name__
                raise ResShiftError(f"{self.name}: the mask must be (B, 1, h, w) = {(b, 1, h, w)}, got {got}")
        return b, h, w

    def pad(self, lq: torch.Tensor, mask: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Image and mask padded together (one tensor) as ``pad_mode`` says, to ``pad_multiple``."""
        m = int(self.pad_multiple or 1)
        if self.pad_mode not in PAD_MODES:
            raise ValueError(f"{type(self).__name__}: pad_mode must be one of {PAD_MODES}, not {self.pad_mode!r}")
        if self.pad_mode == "reflect" and m == 1:
            return lq, mask
        x = lq if mask is None else torch.cat([lq, mask.to(lq.dtype)], dim=1)
        x = pad_to_multiple(x, m)[0] if self.pad_mode == "reflect" else mirror_past_multiple(x, m)
        return (x, None) if mask is None else (x[:, :-1], x[:, -1:].to(mask.dtype))

    def check_output(self, out: torch.Tensor, b: int, h: int, w: int) -> torch.Tensor:
        """The output of ``b`` images of ``h`` x ``w`` is (b, 3, h*sf, w*sf), finite and in [0, 1]."""
        want = (b, 3, h * self.sf, w * self.sf)
        if tuple(out.shape) != want:
            raise ResShiftError(f"{self.name} returned {tuple(out.shape)} for {b} image(s) of {h}x{w}; "
                                f"expected {want} (x{self.sf})")
        if not torch.isfinite(out).all() or out.min() < 0 or out.max() > 1:
            raise ResShiftError(f"{self.name} returned values outside [0, 1] (min {float(out.min()):.4g}, "
                                f"max {float(out.max()):.4g})")
        return out

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
        """(B, 3, h, w) in [0, 1] on ``self.device``, padded as the descriptor says (and a mask
        where one is needed) -> (B, 3, h*sf, w*sf) in [0, 1] (padding included: the caller,
        :meth:`__call__`, crops it away)."""

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

    @classmethod
    def tiny(cls, folder: Path, device: str = "cpu") -> "Restorer":
        """A small instance with random weights (written under ``folder`` in the release's format
        and read by the normal loading path; nothing is downloaded), for tests: every registered
        method restores a tiny batch through it. Methods with weights implement it; the default
        serves those without."""
        if cls.weights:
            raise ResShiftError(f"{cls.name}: no tiny() form; implement it (small random weights in the release's "
                                "format) so the registry's contract test can run the method")
        return cls(device=device)

    @classmethod
    def files_in(cls, folder) -> list[Path]:
        """Where tiny() and the random stand-ins write this method's weight files: ``folder/<file>``
        for each of ``weights``, in order (the folder is created)."""
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        return [folder / w.file for w in cls.weights]

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


def load_restorer(name: str, steps: int | None = None, device: str = "cpu", **options) -> Restorer:
    """An instance of the registered method ``name``, its weights loaded (``options``: the method's)."""
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
