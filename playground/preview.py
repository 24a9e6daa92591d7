"""image + spec + seed -> the preview grid: 8 samples and the values each one drew.

The grid is one HTML fragment with the samples inlined as JPEG data URIs: one response, no
extra file fetches, which is most of what makes a slider feel live (docs/benchmarks.md).
"""

from __future__ import annotations

import base64
import html
import io

from PIL import Image

from pipelines.samples import Sample, render_samples
from pipelines.spec import PipelineSpec

JPEG_QUALITY = 90


def caption(sample: Sample) -> list[str]:
    """One line per active step: what that step drew for this sample (pipelines.samples)."""
    return sample.captions


def encode_jpeg(image: Image.Image) -> str:
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=JPEG_QUALITY)
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def grid_html(samples: list[Sample], seed: int) -> str:
    figures = []
    for i, sample in enumerate(samples):
        text = "<br>".join(html.escape(line) for line in caption(sample)) or "no active steps"
        w, h = sample.image.size
        figures.append(
            f'<figure class="sample" data-index="{i}">'
            f'<img alt="sample {i + 1}" width="{w}" height="{h}" '
            f'src="data:image/jpeg;base64,{encode_jpeg(sample.image)}">'
            f"<figcaption>{text}</figcaption></figure>"
        )
    return f'<div class="sample-grid" data-seed="{seed}">{"".join(figures)}</div>'


def output_size_text(spec: PipelineSpec, image: Image.Image, samples: list[Sample]) -> str:
    sizes = {s.image.size for s in samples}
    size = " / ".join(f"{w} x {h}" for w, h in sorted(sizes)) if sizes else "-"
    active = " -> ".join(s.transform for s in spec.active) or "nothing (all steps off)"
    return f"Input {image.width} x {image.height} px -> output {size} px. Order: {active}."


def render(spec: PipelineSpec, image: Image.Image, seed: int) -> tuple[str, str]:
    """(grid HTML, one-line summary) for the Augment tab."""
    samples = render_samples(spec, image, seed)
    return grid_html(samples, seed), output_size_text(spec, image, samples)
