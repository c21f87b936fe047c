"""The ``omicsdisent`` command line.

Each command lives in its own module and is imported only when it runs, so ``omicsdisent --help``
stays fast (torch and scanpy are slow to import). Errors that omicsdisent raises on purpose
(:class:`omicsdisent.errors.OmicsDisentError`) become a one-line ``Error: ...`` and exit status 1.
"""

from __future__ import annotations

import importlib

import click

from omicsdisent.errors import OmicsDisentError

# command name -> "module:attribute"; a module that is not there yet is simply not listed.
COMMANDS = {
    "demo": "omicsdisent.cli.demo:demo",
    "simulate": "omicsdisent.cli.simulate:simulate",
    "inspect": "omicsdisent.cli.inspect:inspect",
    "fit": "omicsdisent.cli.fit:fit",
    "embed": "omicsdisent.cli.embed:embed",
    "classify": "omicsdisent.cli.classify:classify",
    "survival": "omicsdisent.cli.survival:survival",
    "predict": "omicsdisent.cli.predict:predict",
    "impute": "omicsdisent.cli.impute:impute",
    "report": "omicsdisent.cli.report:report",
    "bench": "omicsdisent.cli.bench:bench",
}


def _load(name: str) -> click.Command | None:
    module_name, attr = COMMANDS[name].split(":")
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as err:
        if err.name == module_name:
            return None
        raise
    return getattr(module, attr)


class _LazyGroup(click.Group):
    def list_commands(self, ctx):
        return [name for name in COMMANDS if importlib.util.find_spec(COMMANDS[name].split(":")[0])]

    def get_command(self, ctx, name):
        if name not in COMMANDS:
            return None
        return _load(name)

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except OmicsDisentError as err:
            # One line, naming the file/column/option; no traceback for input problems.
            raise click.ClickException(str(err).splitlines()[0] if str(err) else type(err).__name__) from None


@click.group(cls=_LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="omicsdisent")
def main():
    """omicsdisent: shared and private representations of multi-omics cohorts (IDMVAE).

    \b
    Typical use:
      omicsdisent inspect rna.h5ad methyl.h5ad --clinical clinical.csv
      omicsdisent fit rna.h5ad methyl.h5ad --out model/
      omicsdisent embed model/ rna.h5ad methyl.h5ad --out embeddings/
    """
