"""python -m playground.train --pipeline PIPELINE.json|PRESET ... (see --help)."""

from playground.training.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
