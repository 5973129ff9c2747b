# The configuration is checked before anything reads it: one line naming the first wrong key or
# value (instead of jsonschema's dump of the whole schema), then snakemake's own validation.
from snakemake.utils import validate


def check_config(schema_path):
    """One line per configuration mistake (the first one), naming the key, instead of the schema dump."""
    import jsonschema
    import yaml
    from snakemake.exceptions import WorkflowError

    schema = yaml.safe_load(open(os.path.join(os.path.dirname(workflow.main_snakefile), schema_path)))
    errors = sorted(jsonschema.Draft202012Validator(schema).iter_errors(config), key=lambda e: list(e.absolute_path))
    if errors:
        where = ".".join(map(str, errors[0].absolute_path)) or "top level"
        raise WorkflowError(f"config {where}: {errors[0].message} (allowed keys and values: {schema_path})")


check_config("workflow/schemas/config.schema.yaml")
validate(config, "../schemas/config.schema.yaml")


def check_names():
    """Unknown metric names and `set:` keys of model configurations: one line naming the key and
    the nearest valid one (bench/config_checks.py), before any job runs."""
    from bench.config_checks import plan_errors
    from snakemake.exceptions import WorkflowError

    errors = plan_errors(config)
    if errors:
        raise WorkflowError(errors[0] + (f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""))


check_names()
