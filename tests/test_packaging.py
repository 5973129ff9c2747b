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


def test_pins_agree_everywhere():
    req = _pins((ROOT / "requirements.txt").read_text().splitlines())
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    proj = _pins(project["dependencies"] + project["optional-dependencies"]["test"])
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    pip_section = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict))
    conda = _pins(pip_section)
    assert proj["torch"] == conda["torch"] == "==2.14.1"
    assert proj["torchvision"] == conda["torchvision"] == "==0.29.1"
    for name, pin in req.items():
        assert proj.get(name) == pin, name
        assert conda.get(name) == pin, name
    assert req["basicsr"] == "==1.4.2" and req["setuptools"] == "<81" and req["snakemake"].startswith("==9.")
    constraints = _pins((ROOT / "constraints.txt").read_text().splitlines())
    for name, pin in req.items():
        if pin.startswith("=="):
            assert constraints.get(name) == pin, name


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
    for path in ["resshift", "baselines", "bench", "datasets", "workflow/rules", "workflow/schemas", "config",
                 "tests", "Snakefile", "environment.yml", "pyproject.toml", "config/config.yaml",
                 "profiles/slurm/config.yaml", "profiles/kubernetes/config.yaml", "profiles/default/config.yaml"]:
        assert (ROOT / path).exists(), path
    assert "/results/*" in (ROOT / ".gitignore").read_text()
    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]
    assert set(scripts) == {"resshift", "resshift-bench"}
