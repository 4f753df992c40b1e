"""The UI's forms and workspace without a browser: every option of every page goes through the form and back to
the CLI's own parser unchanged (so the UI and the CLI cannot drift), and the workspace rule refuses every way out."""

import os
from pathlib import Path

import pytest

from kaokae import options as opts
from kaokae.cli import build_parser
from kaokae.errors import KaokaeError
from kaokae.ui import forms
from kaokae.ui.workspace import OutsideWorkspace, Workspace, inside, sniff


def _other_value(e: opts.Entry):
    """A valid value of option `e` that is not its default, or None when there is none to pick."""
    o = e.option
    if o.consts:
        return next((v for _, v, _ in o.consts if v != e.default), None)
    if e.kind is bool:
        return not e.default
    allowed = o.allowed()
    if allowed is not None:
        return next((c for c in allowed if c != e.default), None)
    if e.kind is Path:
        return Path("some/file.png")
    if e.kind is list and o.parse is not None:  # --map: one flag per person, each person's text parsed
        return [o.parse("a.jpg=models/x"), o.parse("b1.png,b2.png=models/y")]
    if e.kind is list:
        return [Path("a.jpg"), Path("b.jpg")]
    if e.kind in (int, float):
        low = o.minimum if o.minimum is not None else (o.above if o.above is not None else 0)
        high = o.maximum if o.maximum is not None else (o.below if o.below is not None else low + 100)
        value = low + (high - low) * 0.63  # above the middle: the swap refuses a negative erode
        if e.kind is int:
            value = int(value) + (o.above is not None)
            if o.check is not None and o.check(value):
                value = 16 * max(1, value // 16 + 1)
        return value if value != e.default else None
    return "cpu" if e.name == "device" else None


def _cli_options(command: forms.Command, flags: list[str]):
    """What the CLI's own parser makes of these flags (with placeholder file arguments)."""
    files = []
    for name, flag, _, _ in command.files:
        files += ([flag] if flag else []) + [f"{name}.mp4"]
    args = build_parser().parse_args([*command.name.split(), *files, *flags])
    return opts.from_args(command.options, args)


@pytest.mark.parametrize("name", list(forms.commands()))
def test_every_option_round_trips_through_the_cli(name):
    command = forms.commands()[name]
    fields = {f["name"]: f for f in forms.form(command.options)}
    assert list(fields) == [e.name for e in opts.entries(command.options)]  # one field per option, no other
    assert _cli_options(command, forms.argv(forms.parse(command.options, {}))) == command.options()
    # what the page sends for an untouched form: every field as its input holds it ("" for no value)
    untouched = {f["name"]: f["default"] if f["default"] is not None else ("" if f["kind"] != "paths" else [])
                 for f in fields.values()}
    assert forms.parse(command.options, untouched) == command.options()
    tried = 0
    for e in opts.entries(command.options):
        value = _other_value(e)
        if value is None:
            continue
        raw = [str(v) for v in value] if isinstance(value, list) else str(value) if isinstance(value, Path) else value
        try:
            from_form = forms.parse(command.options, {e.name: raw})
        except opts.OptionError:  # a rule between options (--from-keep-a needs --from), not this value alone
            continue
        assert opts.get(from_form, e) == value
        assert opts.get(_cli_options(command, forms.argv(from_form)), e) == value, e.name
        tried += 1
    assert tried >= len(fields) // 2


def test_a_bad_value_is_the_cli_line():
    from kaokae.convert.options import ConvertOptions

    with pytest.raises(opts.OptionError) as caught:
        forms.parse(ConvertOptions, {"erode": 0.9})
    assert forms.cli_message(caught.value) == "kaokae: error: --erode must be between -0.5 and 0.5, not 0.9"
    fields = {f["name"]: f for f in forms.form(ConvertOptions)}
    assert (fields["erode"]["min"], fields["erode"]["max"], fields["erode"]["default"]) == (-0.5, 0.5, 0.0)
    assert "lab" in fields["colour"]["choices"] and fields["mask"]["optional"]


def test_inside_refuses_every_way_out(tmp_path):
    root = tmp_path / "ws"
    (root / "media").mkdir(parents=True)
    (root / "media" / "clip.mp4").write_bytes(b"x")
    os.symlink("/etc", root / "media" / "etc")
    assert inside(root, "media/clip.mp4", "file") == root.resolve() / "media/clip.mp4"
    for bad in ("../x", "/etc/passwd", "media/../../x", "media/etc/passwd", "", "a\\..\\b", "a\x00b", None, 3):
        with pytest.raises(OutsideWorkspace):
            inside(root, bad, "file")


def test_uploads_are_checked_by_content_and_size(tmp_path, data):
    ws = Workspace(tmp_path / "ws")
    clip = data("video_retalking/examples/face/5.mp4").read_bytes()
    assert sniff(clip[:16]) == "mp4"
    assert ws.save_upload("../../evil name.mp4", [clip]) == "media/evil_name.mp4"
    assert ws.save_upload("evil name.mp4", [clip]) == "media/evil_name-1.mp4"
    with pytest.raises(KaokaeError, match="not a video or image"):
        ws.save_upload("script.mp4", [b"#!/bin/sh\nrm -rf /\n"])
    with pytest.raises(KaokaeError, match="larger than the upload limit"):
        ws.save_upload("big.mp4", [clip, clip], limit=len(clip) + 1)
    assert sorted(p.name for p in (ws.root / "media").iterdir()) == ["evil_name-1.mp4", "evil_name.mp4"]
    assert not list((ws.root / ".kaokae-ui" / "uploads").iterdir())  # nothing half-written left behind
    assert ws.listing()["media"] == ["media/evil_name-1.mp4", "media/evil_name.mp4"]


def test_ui_refuses_a_remote_host_without_allow_remote(capfd):
    from kaokae.cli import main

    assert main(["ui", "--host", "0.0.0.0", "--port", "0"]) == 2
    assert capfd.readouterr().err.strip().splitlines() == [
        "kaokae: error: --host 0.0.0.0 is reachable from other machines: give --allow-remote to listen there anyway "
        "(the app has no log-in)"]
