#!/usr/bin/env python3
"""A CDK app for the zips that `detzip build` writes: one layer and two functions.

Each zip is a file asset (``Code.from_asset("….zip")``): CDK stages and uploads a ``.zip`` file
as it is, never rezipped, under a hash of its content (not of its path or mtime), so unchanged
code keeps its asset and its S3 key on every machine. The runtime, architecture, handlers and
layers come from ``[tool.detzip]`` in pyproject.toml, where detzip reads them too.
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

import aws_cdk as cdk
from aws_cdk import aws_lambda
from constructs import Construct

HERE = Path(__file__).resolve().parent
PROJECT: dict[str, Any] = tomllib.loads((HERE / "pyproject.toml").read_text())["tool"]["detzip"]
ARCHITECTURES = {"arm64": aws_lambda.Architecture.ARM_64, "x86_64": aws_lambda.Architecture.X86_64}


def built(name: str) -> aws_lambda.Code:
    """The zip `detzip build` wrote for the artifact ``name``, as a file asset."""
    return aws_lambda.Code.from_asset(
        str(HERE / PROJECT.get("output_dir", ".build") / f"{name}.zip")
    )


def construct_id(name: str) -> str:
    return "".join(part.capitalize() for part in name.replace("_", "-").split("-"))


class ExampleStack(cdk.Stack):
    def __init__(self, scope: Construct, stack_id: str, **kwargs: Any) -> None:
        super().__init__(scope, stack_id, **kwargs)
        runtime = aws_lambda.Runtime(PROJECT["runtime"], aws_lambda.RuntimeFamily.PYTHON)
        architecture = ARCHITECTURES[PROJECT["arch"]]
        layers = {
            name: aws_lambda.LayerVersion(
                self,
                construct_id(name),
                code=built(name),
                compatible_runtimes=[runtime],
                compatible_architectures=[architecture],
            )
            for name in PROJECT.get("layers", {})
        }
        for name, function in PROJECT.get("functions", {}).items():
            aws_lambda.Function(
                self,
                construct_id(name),
                code=built(name),
                handler=function["handler"],
                runtime=runtime,
                architecture=architecture,
                layers=[layers[layer] for layer in function.get("layers", [])],
            )


app = cdk.App()
ExampleStack(app, "DetzipCdkExample")
app.synth()
