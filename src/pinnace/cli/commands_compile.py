"""`pinnace compile`: write the KFP pipeline spec of a pipeline file."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from ..errors import UserInputError


def register(cli: click.Group, settings: Callable[..., Any]) -> None:
    @cli.command("compile")
    @click.argument("pipeline", type=click.Path(dir_okay=False))
    @click.option(
        "-o",
        "--output",
        required=True,
        type=click.Path(dir_okay=False),
        help="Where to write the spec (.yaml or .json).",
    )
    @click.option(
        "--pipeline",
        "pipeline_name",
        metavar="FUNC",
        help="The pipeline function to compile when the file defines several.",
    )
    @click.pass_context
    def compile_command(
        ctx: click.Context, pipeline: str, output: str, pipeline_name: str | None
    ) -> None:
        """Compile PIPELINE to a KFP pipeline spec (IR YAML, schemaVersion 2.1.0)."""
        from ..compiler.spec_file import serialize, write_atomic
        from ..sources import load_pipeline_documents

        config = settings(ctx)
        spec, platform = load_pipeline_documents(
            pipeline, pipeline_name=pipeline_name, force_kfp_alias=config.kfp_alias == "always"
        )
        # kfp's header names the pipeline's description; the spec keeps it in pipelineInfo.
        description = spec.get("pipelineInfo", {}).get("description")
        text = serialize(spec, str(output), description, platform)
        try:
            write_atomic(str(Path(output)), text)
        except OSError as exc:
            raise UserInputError(
                f"cannot write {output}: {exc.strerror}",
                hint="check that its folder exists and is writable",
            ) from None
        click.echo(f"wrote {output}")
