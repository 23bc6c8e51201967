"""The ``winback`` command line: thin commands that parse, call a pipeline, print with Rich.

One module per group of commands, each a Typer app; the root group
(:mod:`~pipelines.cli.lazy`) imports a module only when one of its commands runs, so that
``winback --help`` imports none of them:

* :mod:`~pipelines.cli.demo` -- ``demo``, everything on the bundled CDNOW data;
* :mod:`~pipelines.cli.data` -- ``features``;
* :mod:`~pipelines.cli.modelling` -- ``evaluate``, ``train``, ``score``, ``promote``;
* :mod:`~pipelines.cli.models` -- ``models list``, ``models show``;
* :mod:`~pipelines.cli.forecast` -- ``forecast``, a cohort of new customers;
* :mod:`~pipelines.cli.decisions` -- ``rank``;
* :mod:`~pipelines.cli.campaign` -- ``campaign import``, ``campaign learn``, ``campaign predict``;
* :mod:`~pipelines.cli.report` -- ``report``;
* :mod:`~pipelines.cli.serve` -- ``serve``.

Shared options and the error rule are in :mod:`~pipelines.cli.options`, progress bars and
tables in :mod:`~pipelines.cli.console`. Every command accepts ``--transactions cdnow`` for
the bundled CDNOW data. Bad input ends with one line on stderr naming the file, row or
field, and exit code 2. Heavy libraries are imported inside the commands, so ``--help``
stays fast.
"""

from __future__ import annotations

import typer

from pipelines.cli.lazy import LazyGroup

app = typer.Typer(
    name="winback",
    cls=LazyGroup,
    no_args_is_help=True,
    rich_markup_mode="markdown",
    pretty_exceptions_enable=False,
)


@app.callback(
    help=(
        "Find the customers who have gone to sleep, predict which of them are worth waking, "
        "and tell a marketer who to contact, how and why.\n\n"
        "Start with **winback demo**: it runs everything on the bundled CDNOW data "
        "into out/."
    )
)
def root() -> None:
    """The root group's callback: none of its own; makes Typer build a group whose
    commands :class:`~pipelines.cli.lazy.LazyGroup` imports on use."""


if __name__ == "__main__":  # pragma: no cover
    app()
