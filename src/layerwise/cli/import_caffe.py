"""layerwise import-caffe NET.prototxt [-o NET.yaml] [--input-shape C,H,W]"""

from __future__ import annotations

from typing import Optional

import typer


def import_caffe(
    prototxt: str = typer.Argument(..., help="A Caffe network definition (.prototxt)."),
    output: Optional[str] = typer.Option(
        None, "--output", "-o", help="Model file to write [the prototxt's name, .yaml]."
    ),
    input_shape: Optional[str] = typer.Option(
        None, "--input-shape", help="One sample's shape C,H,W; needed for Data layers."
    ),
) -> None:
    """Turn a Caffe prototxt into a layerwise model file (YAML)."""
    from pathlib import Path

    from layerwise.cli.common import out
    from layerwise.nn.caffe import import_caffe as convert

    target = Path(output) if output else Path(prototxt).with_suffix(".yaml")
    if target.resolve() == Path(prototxt).resolve():
        from layerwise.errors import ConfigError

        raise ConfigError(
            f"Output '{target}' is the prototxt itself.", "Pass -o NAME.yaml to write elsewhere."
        )
    config = convert(prototxt, target, input_shape=input_shape)
    shape = ", ".join(str(size) for size in config["input_shape"])
    loss = f", loss {config['loss']}" if config.get("loss") else ""
    out.print(str(target), soft_wrap=True, markup=False)
    out.print(
        f"Imported {config['name']}: {len(config['layers'])} layers, input shape ({shape}){loss}",
        soft_wrap=True,
        markup=False,
    )
    out.print("Next:")
    out.print(f"  layerwise train data --model {target}", soft_wrap=True, markup=False)
