"""Command line: python -m pipelines preview|export|validate|readme.

Bad input prints one line on stderr and exits with status 2.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from pipelines import export, readme
from pipelines.catalogue import PRESETS
from pipelines.images import load_image  # the app's sanitising loader
from pipelines.samples import SAMPLE_COUNT, render_samples
from pipelines.spec import PipelineSpec, SpecError, load


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # one line, status 2, like every other bad input
        self.exit(2, f"{self.prog}: error: {message}\n")


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="python -m pipelines", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    pipeline_help = f"a pipeline JSON file or a preset name ({', '.join(PRESETS)})"

    def add_pipeline(p: argparse.ArgumentParser) -> None:
        p.add_argument("pipeline", nargs="?", help=pipeline_help)
        p.add_argument("--preset", choices=list(PRESETS), help="use a preset instead of a file")

    p = sub.add_parser(
        "preview", help="write the preview samples of an image, as the UI shows them"
    )
    add_pipeline(p)
    p.add_argument("image")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default="samples")
    p.add_argument("--count", type=int, default=SAMPLE_COUNT)

    e = sub.add_parser("export", help="print the pipeline as Python code or JSON")
    add_pipeline(e)
    e.add_argument("--format", choices=("python", "json"), default="python")

    v = sub.add_parser("validate", help="check a pipeline file and summarise it")
    add_pipeline(v)

    r = sub.add_parser("readme", help="rewrite the README's transform lists from the catalogue")
    r.add_argument("path", nargs="?", default="README.md")
    return parser


def _preview(spec: PipelineSpec, args: argparse.Namespace) -> None:
    if args.count < 1:
        raise SpecError("--count must be at least 1")
    image = load_image(args.image)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    for i, sample in enumerate(render_samples(spec, image, args.seed, args.count)):
        sample.image.save(out / f"sample_{i}.png")
    print(f"wrote {args.count} samples to {out}")


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if args.command == "readme":
        try:
            changed = readme.update(Path(args.path))
        except (ValueError, OSError) as err:
            print(f"error: {err}", file=sys.stderr)
            return 2
        print(f"{args.path}: {'rewritten' if changed else 'already up to date'}")
        return 0
    if bool(args.preset) == bool(args.pipeline):
        parser.error("give a pipeline file (or preset name) or --preset NAME, exactly one")
    try:
        spec = load(args.preset or args.pipeline)
        if args.command == "preview":
            _preview(spec, args)
        elif args.command == "export":
            text = export.to_python(spec) if args.format == "python" else export.to_json(spec)
            sys.stdout.write(text)
        else:
            steps = ", ".join(s.transform for s in spec.active) or "no active steps"
            print(f"ok: {len(spec.steps)} steps ({steps}); output size {spec.output_size()}")
    except (SpecError, ValueError, OSError) as err:  # ImageLoadError is a ValueError
        print(f"error: {err}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
