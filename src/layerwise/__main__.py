"""``python -m layerwise``: the ``layerwise`` command (torchrun starts each process this way)."""

from layerwise.cli.main import main

if __name__ == "__main__":
    main()
