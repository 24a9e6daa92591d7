"""The Augment tab's editor as plain functions: its element ids, the step list (add, move,
duplicate, remove), a control's edit, refused and clamped values. No server, no browser."""

import pytest

from pipelines.catalogue import BY_NAME, CATALOGUE, GROUPS, STEP_P
from pipelines.samples import strength_values
from pipelines.spec import MAX_STEPS, SpecError, default_spec, from_json, make
from playground import controls
from playground.controls import step_views
from playground.images import sample_image
from playground.ui.editing import on_add, on_edit, on_pipeline, on_release, on_seed, on_structure
from playground.ui.export import export_files
from tests.helpers import LAYOUT, MISSION_IDS, _skipped


def _unchecked(index, name):
    """The editor's edit of one parameter (unchecked: on_edit checks the result)."""
    return lambda s, v: controls.set_param(s, index, name, v, check=False)


def _index(spec, transform, occurrence=0):
    return [i for i, s in enumerate(spec.steps) if s.transform == transform][occurrence]


def test_the_editor_opens_on_the_mission_ids():
    ids = {v.elem_id(p.name) for v in step_views(default_spec()) for p in v.tdef.params}
    for wanted in MISSION_IDS:
        assert wanted in ids


def test_repeated_steps_get_ids_of_their_own():
    spec = make([("ColorJitter", {}), ("RandomHorizontalFlip", {}), ("ColorJitter", {})])
    assert [v.prefix for v in step_views(spec)] == ["jitter", "hflip", "jitter2"]
    second = list(step_views(spec))[2]
    assert second.elem_id("hue") == "jitter2-hue" and second.elem_id("step_p") == "jitter2-step-p"


def test_picker_lists_every_transform_by_group():
    choices = controls.picker_choices()
    assert sorted(name for _, name in choices) == sorted(t.name for t in CATALOGUE)
    groups = [label.split(" · ")[0] for label, _ in choices]
    assert list(dict.fromkeys(groups)) == list(GROUPS.values())


def test_slider_floats_become_ints_where_the_catalogue_says_int():
    spec = default_spec()
    spec = controls.set_param(spec, _index(spec, "RandomResizedCrop"), "size", 64.0)
    assert spec.output_size() == 64 and isinstance(spec.output_size(), int)


def test_a_slider_move_re_renders():
    spec = default_spec()
    i = _index(spec, "RandomResizedCrop")
    grid, summary, new, draft, note = on_edit(
        lambda s, v: controls.set_param(s, i, "size", v, check=False),
        sample_image("cat"), 0, spec, None, 48,
    )  # fmt: skip
    assert grid.count("<img") == 8 and note == "" and draft is None
    assert "output 48 x 48" in summary
    assert new.output_size() == 48


def test_min_above_max_explains_and_keeps_the_grid():
    before = default_spec()
    i = _index(before, "RandomResizedCrop")
    grid, summary, spec, draft, note = on_edit(
        _unchecked(i, "scale_min"), sample_image("cat"), 0, before, None, 1.0
    )
    grid, summary, spec, draft, note = on_edit(
        _unchecked(i, "scale_max"), sample_image("cat"), 0, spec, draft, 0.3
    )
    # said under the step's own title, without "step 2 (RandomResizedCrop)": it is that step
    assert note.startswith(
        "⚠️ 'Area fraction, min': 1 is greater than 'Area fraction, max' (0.3)"
    )  # and in the screen's words: the labels, not the parameters' names
    assert "last valid settings" in note and "step 2" not in note
    assert spec.step("RandomResizedCrop").params["scale_max"] == 1.0  # the last valid pipeline
    assert _skipped(grid)  # the grid stays; the summary says nothing uses the boxes meanwhile
    assert summary.startswith("⚠️ Step 2 (Random resized crop) has a refused value")
    assert draft.step("RandomResizedCrop").params["scale_max"] == 0.3  # what the boxes show


def test_step_probability_is_offered_only_without_an_own_p():
    spec = default_spec()
    jitter = controls.set_probability(spec, _index(spec, "ColorJitter"), 0.3)
    assert jitter.step("ColorJitter").p == 0.3
    with pytest.raises(SpecError, match="probability of its own"):
        controls.set_probability(spec, _index(spec, "RandomHorizontalFlip"), 0.3)


def test_all_steps_off_shows_the_image_itself():
    spec = default_spec()
    for i in range(len(spec.steps)):
        spec = controls.set_enabled(spec, i, False)
    _, grid, summary = on_seed(sample_image("cat"), 0, spec)
    assert "nothing (all steps off)" in summary and grid.count("<img") == 8


def test_add_move_duplicate_remove():
    spec = default_spec()
    spec = controls.add_step(spec, "CutMix")
    spec = controls.add_step(spec, "RandAugment")  # per-image steps go before mixing
    names = [s.transform for s in spec.steps]
    assert names[-2:] == ["RandAugment", "CutMix"]
    spec = controls.move_step(spec, _index(spec, "RandAugment"), -1)
    spec = controls.duplicate_step(spec, _index(spec, "RandomHorizontalFlip"))
    spec = controls.remove_step(spec, _index(spec, "RandomResizedCrop"))
    assert [s.transform for s in spec.steps] == [
        "RandomHorizontalFlip",
        "RandomHorizontalFlip",
        "RandAugment",
        "ColorJitter",
        "CutMix",
    ]
    assert controls.move_step(spec, 0, -1) == spec  # the first step cannot go higher
    full = make([("RandomHorizontalFlip", {})] * MAX_STEPS)
    with pytest.raises(SpecError, match="at most"):
        controls.duplicate_step(full, 0)


def test_structure_changes_redraw_the_step_list():
    spec, layout, grid, summary, _ = on_add(
        "RandomErasing", sample_image("cat"), 0, default_spec(), LAYOUT
    )
    assert layout[0] == 1 and from_json(layout[1]) == spec
    assert spec.steps[-1].transform == "RandomErasing" and grid.count("<img") == 8
    same, layout2, _, message, _ = on_add(None, sample_image("cat"), 0, spec, layout)
    assert same is spec and message.startswith("⚠️")
    moved, layout3, _, _, _ = on_structure(
        lambda s: controls.move_step(s, 0, 1), sample_image("cat"), 0, spec, layout
    )
    assert moved.steps[1].transform == "RandomHorizontalFlip" and layout3[0] == 2


def test_a_typed_probability_beyond_its_range_is_clamped_and_shown():
    spec = default_spec()
    i = _index(spec, "RandomHorizontalFlip")
    p = spec.steps[i].definition.param("p")

    def edit(s, v):
        return controls.set_param(s, i, "p", v, check=False)

    # While it is typed: said in the screen's words, nothing applied yet.
    grid, summary, same, _, note = on_edit(edit, sample_image("cat"), 0, spec, None, 1.7, p)
    assert same is spec and _skipped(grid) and _skipped(summary)
    assert note == (
        "⚠️ Flip probability goes from 0 to 1: 1.7 becomes 1 when you leave the box. "
        "The grid shows the last valid settings."
    )
    # Leaving the box: clamped, applied, and the box shows the value used.
    box, grid, summary, new, _, note = on_release(edit, sample_image("cat"), 0, spec, None, 1.7, p)
    assert box["value"] == 1.0 and new.steps[i].params["p"] == 1.0
    assert note == "⚠️ Flip probability goes from 0 to 1: 1.7 was set to 1."
    assert grid.count("flipped horizontally") == 8
    # A value in range was applied by the input event already: nothing more to do.
    assert all(_skipped(out) for out in on_release(edit, sample_image("cat"), 0, new, None, 0.3, p))


def test_a_step_probability_beyond_its_range_is_clamped():
    spec = default_spec()
    i = _index(spec, "ColorJitter")

    def edit(s, v):
        return controls.set_probability(s, i, v, check=False)

    box, _, _, new, _, note = on_release(edit, sample_image("cat"), 0, spec, None, -0.4, STEP_P)
    assert box["value"] == 0.0 and new.steps[i].p == 0.0
    assert note.startswith("⚠️ Step probability (RandomApply) goes from 0 to 1: -0.4 was set to 0")


def test_every_catalogue_number_is_clamped_to_its_declared_range():
    for tdef in CATALOGUE:
        spec = make([(tdef.name, {})])
        for p in tdef.params:
            if p.kind not in ("int", "float"):
                continue
            for typed, want in ((p.high + 3, p.high), (p.low - 3, p.low)):

                def edit(s, v, name=p.name):
                    return controls.set_param(s, 0, name, v, check=False)

                box, _, _, new, _, note = on_release(
                    edit, sample_image("cat"), 0, spec, None, typed, p
                )
                assert box["value"] == want, (tdef.name, p.name)
                assert p.label in note and p.name not in note.replace(p.label, "")
                if new is not spec:  # else a check between parameters refused it, and says so
                    assert new.steps[0].params[p.name] == want
                else:
                    assert "must be" in note, note


def test_a_seed_beyond_its_range_is_clamped_and_shown():
    box, grid, summary = on_seed(sample_image("cat"), -5, default_spec())
    assert box == 0 and 'data-seed="0"' in grid
    assert summary.startswith(
        "⚠️ Seed is a whole number from 0 to 2,147,483,647: -5 was set to 0. Input 451"
    )
    box, grid, _ = on_seed(sample_image("cat"), 2**40, default_spec())
    assert box == 2**31 - 1 and f'data-seed="{2**31 - 1}"' in grid
    box, grid, summary = on_seed(sample_image("cat"), 7, default_spec())
    assert _skipped(box) and 'data-seed="7"' in grid and summary.startswith("Input")


def test_ratio_sliders_span_the_useful_range_and_wider_files_still_load(tmp_path):
    from playground.ui.step_editor import _slider

    p = BY_NAME["RandomResizedCrop"].param("ratio_max")
    low, high = p.slider_range
    assert (low, high) == (0.25, 4.0) and (2 - 0.5) / (high - low) >= 0.4  # was 15% of 0.1-10
    slider = _slider(p, 2.0, "rrc-ratio-max")
    assert (slider.minimum, slider.maximum, slider.elem_id) == (0.25, 4.0, "rrc-ratio-max")
    # A file may hold what torchvision and earlier versions took (0.1 to 10): it loads, real
    # ratios in the JSON, and the slider widens to show it.
    wide = make([("RandomResizedCrop", {"ratio_min": 0.1, "ratio_max": 10.0})])
    path = tmp_path / "wide.json"
    path.write_text(wide.to_json())
    spec, _, grid, _, _ = on_pipeline(str(path), sample_image("cat"), 0, default_spec(), LAYOUT)
    assert spec == wide and grid.count("<img") == 8
    assert '"ratio_max": 10.0' in spec.to_json()
    slider = _slider(p, 10.0, "rrc-ratio-max")
    assert (slider.minimum, slider.maximum, slider.value) == (0.25, 10.0, 10.0)
    # Typed past the slider's end but within the range: applied, and the slider widens.
    i = _index(default_spec(), "RandomResizedCrop")

    def edit(s, v):
        return controls.set_param(s, i, "ratio_max", v, check=False)

    box, _, _, new, _, note = on_release(edit, sample_image("cat"), 0, default_spec(), None, 8.0, p)
    assert (box["value"], box["maximum"]) == (8.0, 8.0) and note == ""
    assert new.step("RandomResizedCrop").params["ratio_max"] == 8.0
    # The strength strip spans the slider's range too.
    assert strength_values(default_spec(), "RandomResizedCrop#0", "ratio_max")[::7] == [0.25, 4.0]


def test_a_refused_value_stays_in_the_boxes_and_a_later_edit_builds_on_it():
    """Issue 17: max 0.05 refused (min 0.1 > 0.05), then min 0.02: the boxes read 0.02 / 0.05,
    and so must the pipeline, not (0.02, 1.0)."""
    from playground.ui.export import export_label
    from playground.ui.train_start import on_pipeline_heading, on_start_checked

    cat, spec = sample_image("cat"), default_spec()
    crop, jitter = _index(spec, "RandomResizedCrop"), _index(spec, "ColorJitter")
    grid, summary, spec, draft, note = on_edit(
        _unchecked(crop, "scale_max"), cat, 0, spec, None, 0.05
    )
    assert spec == default_spec() and _skipped(grid) and "'Area fraction, max' (0.05)" in note
    # Another step edited meanwhile: not applied either (the boxes hold a refused value), and
    # the summary, the Export tab and the Train tab say so; its own note has nothing to fix.
    grid, summary, spec, draft, note = on_edit(_unchecked(jitter, "hue"), cat, 0, spec, draft, 0.1)
    assert note == "" and _skipped(grid) and spec == default_spec()
    assert summary.startswith("⚠️ Step 2 (Random resized crop) has a refused value")
    assert "refused value" in export_label(draft)["label"]
    assert "scale=(0.1, 1.0)" in export_files(spec)[0]
    assert "refused value" in on_pipeline_heading(spec, draft)
    message, *_ = on_start_checked(draft, spec, False, 1, "none", None, None, None)
    assert message.startswith("⚠️ Step 2") and "Fix it in the Augment tab" in message
    # Resolved: everything the boxes show is applied, the refused value included.
    grid, summary, spec, draft, note = on_edit(
        _unchecked(crop, "scale_min"), cat, 0, spec, draft, 0.02
    )
    assert draft is None and note == "" and grid.count("<img") == 8
    crop_params = spec.step("RandomResizedCrop").params
    assert (crop_params["scale_min"], crop_params["scale_max"]) == (0.02, 0.05)
    assert spec.step("ColorJitter").params["hue"] == 0.1
    assert "scale=(0.02, 0.05)" in export_files(spec)[0]
    assert export_label(draft)["label"] == "augmentation_pipeline.py"
    assert "refused" not in on_pipeline_heading(spec, draft)
    # A structure change redraws the boxes from the pipeline: no draft is left behind.
    _, _, spec, draft, _ = on_edit(_unchecked(crop, "scale_max"), cat, 0, spec, None, 0.01)
    assert draft is not None
    *_, draft = on_structure(lambda s: controls.move_step(s, 0, 1), cat, 0, spec, LAYOUT)
    assert draft is None


def test_the_train_tab_heading_changes_with_any_change_of_the_pipeline():
    from playground.train_view import pipeline_heading

    spec = default_spec()
    jitter = _index(spec, "ColorJitter")
    headings = {
        pipeline_heading(s)
        for s in (
            spec,
            controls.set_param(spec, jitter, "hue", 0.3),
            controls.set_probability(spec, jitter, 0.7),
            controls.set_enabled(spec, 0, False),
        )
    }
    assert len(headings) == 4
    assert "ColorJitter (p 0.7)" in pipeline_heading(controls.set_probability(spec, jitter, 0.7))
    assert pipeline_heading(spec).startswith(
        "**Will train on:** RandomHorizontalFlip → RandomResizedCrop → ColorJitter · pipeline `"
    )


def test_mixing_steps_stay_at_the_end_of_the_editor_and_say_so(tmp_path):
    """Issue 17: CutMix moved above per-image steps read "AugMix -> CutMix -> GaussianBlur"
    while it runs last on the batch."""
    spec = make([("AugMix", {}), ("GaussianBlur", {}), ("CutMix", {})])
    with pytest.raises(SpecError, match="CutMix mixes the whole batch"):
        controls.move_step(spec, 2, -1)
    with pytest.raises(SpecError, match="stay at the end"):
        controls.move_step(spec, 1, +1)
    out = on_structure(lambda s: controls.move_step(s, 2, -1), sample_image("cat"), 0, spec, LAYOUT)
    assert out[0] is spec and out[3].startswith("⚠️ CutMix mixes the whole batch")
    two = controls.add_step(spec, "MixUp")
    assert controls.move_step(two, 3, -1).steps[2].transform == "MixUp"  # among themselves
    titles = [v.title for v in step_views(spec)]
    assert titles[2] == "3. CutMix · CutMix · on the batch, after every per-image step"
    # A file that lists CutMix earlier loads with it last, where it runs, and says so.
    path = tmp_path / "p.json"
    path.write_text(make([("AugMix", {}), ("CutMix", {}), ("GaussianBlur", {})]).to_json())
    loaded, _, _, summary, _ = on_pipeline(
        str(path), sample_image("cat"), 0, default_spec(), LAYOUT
    )
    assert [s.transform for s in loaded.steps] == ["AugMix", "GaussianBlur", "CutMix"]
    assert summary.startswith("CutMix listed last: mixing runs on the batch")
    assert "Order: AugMix -> GaussianBlur, then on the batch: CutMix." in summary
