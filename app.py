"""Entry point: python app.py (honours GRADIO_SERVER_NAME / GRADIO_SERVER_PORT)."""

from playground.images import MAX_UPLOAD_BYTES
from playground.ui import CSS, build_app
from playground.ui.train import launch_settings

demo = build_app()

if __name__ == "__main__":
    demo.launch(max_file_size=MAX_UPLOAD_BYTES, css=CSS, **launch_settings())
