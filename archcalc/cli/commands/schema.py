"""``archcalc schema``: print the JSON Schema of the spec format (for editors and validators)."""

from __future__ import annotations

import sys

import click

from archcalc.cli.commands.common import command


def register(app: click.Group) -> None:
    app.add_command(schema_cmd)


@command("schema")
def schema_cmd() -> None:
    """Print the JSON Schema of the spec format, generated from the op registry.

    Save it next to your specs and put this first line in each spec for completion and
    inline errors in editors that use yaml-language-server (VS Code YAML, Neovim, Helix ...):

      # yaml-language-server: $schema=../archcalc-spec.schema.json

    Example:

      archcalc schema > archcalc-spec.schema.json
    """
    from archcalc.frontend.schema import schema_json

    sys.stdout.write(schema_json())
