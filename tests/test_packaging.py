"""The set-up files agree with each other and with the README."""
import re
import tomllib
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]


def _pins(lines):
    out = {}
    for line in lines:
        line = line.split("#")[0].strip()
        m = re.match(r"^([A-Za-z0-9_.\-]+)\s*((?:==|<|>=|<=)\s*[^\s;]+)$", line)
        if m:
            out[m.group(1).lower().replace("_", "-")] = m.group(2).replace(" ", "")
    return out


def _requirements(items):
    from packaging.requirements import Requirement

    return {Requirement(s).name.lower().replace("_", "-"): Requirement(s) for s in items}


def test_pins_agree_everywhere():
    """requirements.txt and environment.yml pin the same versions; each pin lies in pyproject's
    range; constraints.txt (the lock) holds every pin; every package pyproject names is pinned."""
    req = _pins((ROOT / "requirements.txt").read_text().splitlines())
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    extras = project["optional-dependencies"]
    ranges = _requirements(project["dependencies"] + [d for name, deps in extras.items() if name != "all"
                                                      for d in deps])
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    pip_section = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict))
    conda = _pins(pip_section)
    assert conda["torch"] == "==2.14.1" and conda["torchvision"] == "==0.29.1"
    for name, pin in req.items():
        assert conda.get(name) == pin, name
    assert set(ranges) - {"torch", "torchvision"} == set(req), set(ranges) ^ set(req)
    for name, pin in req.items():
        if pin.startswith("=="):
            assert ranges[name].specifier.contains(pin[2:], prereleases=True), (name, pin, str(ranges[name]))
    assert ranges["torch"].specifier.contains("2.14.1") and ranges["torchvision"].specifier.contains("0.29.1")
    assert req["basicsr"] == "==1.4.2" and req["setuptools"] == "<81" and req["snakemake"].startswith("==9.")
    constraints = _pins((ROOT / "constraints.txt").read_text().splitlines())
    for name, pin in req.items():
        if pin.startswith("=="):
            assert constraints.get(name) == pin, name
    assert set(extras["all"]) == {"resshift-bench[metrics,baselines,workflow]"}


def test_python_range_matches_the_pins():
    """numpy 2.4 (pinned) supports Python 3.11 and newer: requires-python says the same."""
    from packaging.specifiers import SpecifierSet

    spec = SpecifierSet(tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["requires-python"])
    assert "3.11" in spec and "3.10" not in spec


def test_readme_holds_the_two_commands_and_ci_runs_the_test_one():
    readme = (ROOT / "README.md").read_text()
    commands = re.findall(r"^    (\S.*)$", readme.split("## Set up on a new machine")[1].split("\n## ")[0], re.M)
    assert commands == ["make demo", "make test"]
    ci = (ROOT / ".ci" / "run").read_text()
    assert re.search(r"^make test$", ci, re.M)
    makefile = (ROOT / "Makefile").read_text()
    assert re.search(r"^demo: \$\(STAMP\)", makefile, re.M) and re.search(r"^test: \$\(STAMP\)", makefile, re.M)
    assert "pytest" in makefile and "snakemake" in makefile
    assert "PolyForm-Noncommercial" in readme


def test_layout():
    for path in ["resshift", "baselines", "bench", "bench/datasets", "workflow/rules", "workflow/schemas", "config",
                 "tests", "Snakefile", "environment.yml", "pyproject.toml", "config/config.yaml",
                 "profiles/slurm/config.yaml", "profiles/kubernetes/config.yaml", "profiles/default/config.yaml"]:
        assert (ROOT / path).exists(), path
    assert "/results/*" in (ROOT / ".gitignore").read_text()
    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]
    assert set(scripts) == {"resshift", "resshift-bench"}


def _schema_keys(node: dict, out: set) -> set:
    for key, sub in (node.get("properties") or {}).items():
        out.add(key)
        if isinstance(sub, dict) and sub.get("type") == "object" and "properties" in sub:
            _schema_keys(sub, out)
    return out


def test_config_readme_documents_every_key():
    """config/README.md names every key the schema allows at the top level and in data/fid."""
    schema = yaml.safe_load((ROOT / "workflow" / "schemas" / "config.schema.yaml").read_text())
    readme = (ROOT / "config" / "README.md").read_text()
    missing = sorted(k for k in _schema_keys(schema, set()) if f"`{k}`" not in readme)
    assert not missing, missing
    table_keys = schema["properties"]["tables"]["items"]["properties"]
    assert all(f"`{k}`" in readme for k in table_keys), sorted(k for k in table_keys if f"`{k}`" not in readme)


def test_nothing_points_outside_the_repository():
    """Docs and code cite files inside the repository: no sibling folder, no file that is not here."""
    outside = re.compile("|".join(["PROTOCOL" + r"\.md", "DESIGN" + r"\.md", r"\.\./(DESIGN|PROTOCOL)", r"\.\./" + "shared",
                                  "RESSHIFT_" + "SHARED"]))
    hits = []
    for folder in ("resshift", "bench", "baselines", "workflow", "tests", "benchmarks", "config", "docs", ".ci"):
        for path in (ROOT / folder).rglob("*"):
            if path.is_file() and path.suffix in (".py", ".md", ".yaml", ".smk", ".txt", "") and "fixtures" not in path.parts:
                text = path.read_text(errors="ignore")
                hits += [f"{path.relative_to(ROOT)}: {m.group(0)}" for m in outside.finditer(text)]
    for name in ("README.md", "Makefile", "Snakefile"):
        hits += [f"{name}: {m.group(0)}" for m in outside.finditer((ROOT / name).read_text())]
    assert not hits, hits
    for doc in ("docs/protocol.md", "docs/design.md", "config/README.md", "LICENSE", "CITATION.cff"):
        assert (ROOT / doc).is_file(), doc
