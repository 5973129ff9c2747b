"""Planning-time checks of a workflow configuration that its JSON schema cannot make: metric names
exist in the registry, and every ``set:`` override of a training run (passed to ``resshift train
--set``) names a key its model configuration has. Each problem is one line naming the key and
the nearest valid name, raised before any job runs."""
from __future__ import annotations

import difflib

from resshift.config import load_config
from resshift.errors import ResShiftError

from .metrics import METRICS


def _nearest(name: str, known) -> str:
    close = difflib.get_close_matches(name, sorted(known), n=1, cutoff=0.5)
    return f"; did you mean {close[0]!r}?" if close else ""


def config_keys(cfg: dict, prefix: str = "") -> list[str]:
    """Every dotted key of a nested configuration, sections included."""
    out = []
    for key, value in cfg.items():
        dotted = f"{prefix}{key}"
        out.append(dotted)
        if isinstance(value, dict):
            out += config_keys(value, dotted + ".")
    return out


def metric_errors(config: dict) -> list[str]:
    errors = []
    for entry in config.get("tables") or []:
        for name in entry.get("metrics") or []:
            if name not in METRICS:
                errors.append(f"config tables (table {entry.get('table')}) metrics: unknown metric {name!r}"
                              f"{_nearest(name, METRICS)} (resshift-bench metrics --list)")
    return errors


def override_errors(config: dict) -> list[str]:
    """Unknown ``set:`` keys of the config's training runs and of tables' Table-I grids."""
    sources = [(f"training.{name}", r.get("config"), r.get("set")) for name, r in (config.get("training") or {}).items()]
    sources += [(f"tables (table {e.get('table')})", e.get("grid"), e.get("set"))
                for e in config.get("tables") or [] if e.get("grid")]
    errors = []
    for where, model_config, overrides in sources:
        if not overrides or not model_config:
            continue
        try:
            known = config_keys(load_config(model_config))
        except ResShiftError as exc:
            errors.append(f"config {where}: {exc}")
            continue
        for key in overrides:
            if key not in known:
                errors.append(f"config {where} set: {key!r} is not a key of configuration {model_config!r}"
                              f"{_nearest(key, known)}")
    return errors


def plan_errors(config: dict) -> list[str]:
    return metric_errors(config) + override_errors(config)
