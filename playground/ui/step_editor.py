"""One step of the Augment tab's editor: its title, note, on/off switch, order buttons, step
probability and one control per parameter, each wired to playground.ui.editing. Layout and
wiring only; drawn by `gr.render` in playground.ui.augment."""

from __future__ import annotations

import functools
import json
from collections.abc import Callable
from typing import Any

import gradio as gr

from pipelines.catalogue import STEP_P, Param
from pipelines.spec import PipelineSpec
from playground import controls
from playground.controls import StepView
from playground.ui.editing import on_edit, on_release, on_structure

FAST = {"queue": False, "show_progress": "hidden", "trigger_mode": "always_last"}

# A step's order buttons: (text, what it does). The text keeps to characters every common font
# has (a rarer symbol such as U+29C9 drew as an empty box); what it does becomes each button's
# tooltip and accessible name (STEP_BUTTONS_JS: Gradio's Button takes neither).
STEP_BUTTONS = {
    "up": ("↑", "Move step {} up"),
    "down": ("↓", "Move step {} down"),
    "duplicate": ("Copy", "Duplicate step {}"),
    "remove": ("×", "Remove step {}"),
}
# Run once by an empty gr.HTML: label every step button drawn now and later (gr.render redraws
# the list), naming the step: "Remove step 2 (Random resized crop)".
STEP_BUTTONS_JS = r"""
const said = SAID;
const label = () => {
  for (const step of document.querySelectorAll('.pipeline-step')) {
    const title = step.querySelector('.step-title')?.innerText?.split(' · ')[0]?.trim() ?? '';
    const [, number, name] = title.match(/^(\d+)\.\s*(.*)$/) ?? [];
    for (const button of step.querySelectorAll('button[id]')) {
      const what = said[button.id.split('-').pop()];
      const text = what?.replace(' {}', number ? ` ${number} (${name})` : '');
      if (text && button.getAttribute('aria-label') !== text) {
        button.setAttribute('aria-label', text);
        button.title = text;
      }
    }
  }
};
label();
new MutationObserver(label).observe(document.body, {childList: true, subtree: true});
""".replace("SAID", json.dumps({name: what for name, (_, what) in STEP_BUTTONS.items()}))


# The editor's controls say interactive=True: drawn by gr.render, their listeners are not in the
# page's first config, so Gradio would otherwise draw them disabled (a browser test types in one).
def _param_control(view: StepView, name: str) -> gr.components.Component:
    p = view.tdef.param(name)
    value = view.step.params[name]
    elem_id = view.elem_id(name)
    if p.kind == "choice":
        return gr.Dropdown(
            list(p.choices), value=value, label=p.label, elem_id=elem_id, interactive=True
        )
    if p.kind == "bool":
        return gr.Checkbox(value=value, label=p.label, elem_id=elem_id, interactive=True)
    return _slider(p, value, elem_id)


def _slider(p: Param, value: Any, elem_id: str) -> gr.Slider:
    low, high = controls.slider_bounds(p, value)
    return gr.Slider(
        low,
        high,
        value=value,
        step=p.step,
        label=p.label,
        info=p.info or None,
        elem_id=elem_id,
        interactive=True,
    )


def _listener(callback: Callable[..., Any], edit, param: Param | None = None):
    """`callback` (on_edit or on_release) as a listener of the inputs _wire gives it: (image,
    seed, spec, draft, the control's value), with this control's `edit` and `param`."""

    def listener(image, seed, spec, draft, value):
        return callback(edit, image, seed, spec, draft, value, param)

    return listener


def _wire(
    component: gr.components.Component,
    edit,
    state: dict[str, Any],
    note: gr.Markdown,
    param: Param | None = None,
) -> None:
    """Send `component`'s value through `edit(spec, value)` and re-render the grid. A slider
    (`param` declares its range) takes its value unchecked (preprocess=False: Gradio would
    refuse an out-of-range number with an error toast) and clamps it on release."""
    inputs = [state["image"], state["seed"], state["spec"], state["draft"], component]
    outputs = [state["grid"], state["summary"], state["spec"], state["draft"], note]
    if param is None:
        component.change(_listener(on_edit, edit), inputs, outputs, api_name=False, **FAST)
        return
    unchecked = {"api_name": False, "preprocess": False, **FAST}
    component.input(_listener(on_edit, edit, param), inputs, outputs, **unchecked)
    component.release(
        _listener(on_release, edit, param), inputs, [component, *outputs], **unchecked
    )


def _set_param(spec: PipelineSpec, value: Any, *, index: int, name: str) -> PipelineSpec:
    return controls.set_param(spec, index, name, value, check=False)


def draw_step(view: StepView, state: dict[str, Any]) -> None:
    """One step: title, on/off, order buttons, step probability, then its parameters."""
    i, tdef = view.index, view.tdef
    with gr.Group(elem_classes="pipeline-step"):
        gr.Markdown(f"**{view.title}**", elem_classes="step-title")
        note = gr.Markdown("", elem_id=view.elem_id("note"), elem_classes="step-note")
        with gr.Row(equal_height=True, elem_classes="step-tools"):
            enabled = gr.Checkbox(
                value=view.step.enabled,
                label="on",
                elem_id=view.elem_id("enabled"),
                scale=1,
                min_width=80,  # Gradio's 160 px pushed the last button onto a line of its own
                interactive=True,
            )
            buttons = {
                "up": lambda s: controls.move_step(s, i, -1),
                "down": lambda s: controls.move_step(s, i, +1),
                "duplicate": lambda s: controls.duplicate_step(s, i),
                "remove": lambda s: controls.remove_step(s, i),
            }
            for name, change in buttons.items():
                text = STEP_BUTTONS[name][0]
                button = gr.Button(
                    text, size="sm", scale=0, min_width=36, elem_id=view.elem_id(name)
                )
                button.click(
                    lambda image, seed, spec, layout, change=change: on_structure(
                        change, image, seed, spec, layout
                    ),
                    [state["image"], state["seed"], state["spec"], state["layout"]],
                    [
                        state["spec"],
                        state["layout"],
                        state["grid"],
                        state["summary"],
                        state["draft"],
                    ],
                    api_name=False,
                    show_progress="hidden",  # queued: a queue=False event does not redraw
                )
        _wire(enabled, lambda s, v: controls.set_enabled(s, i, v, check=False), state, note)
        if not tdef.own_p:
            chance = _slider(STEP_P, view.step.p, view.elem_id("step_p"))
            edit = lambda s, v: controls.set_probability(s, i, v, check=False)  # noqa: E731
            _wire(chance, edit, state, note, STEP_P)
        for p in tdef.params:
            control = _param_control(view, p.name)
            edit = functools.partial(_set_param, index=i, name=p.name)
            _wire(control, edit, state, note, p if isinstance(control, gr.Slider) else None)
