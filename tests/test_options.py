"""Typed options (kaokae.options): the CLI flags, the TOML config files and the registries agree, every option
explains itself, and a bad config file is one line and exit 2."""

import argparse
from pathlib import Path

import pytest

from kaokae import cli
from kaokae.cli import build_parser, main
from kaokae.composite import BLENDS, COLOURS
from kaokae.convert.options import MASKS, ConvertOptions
from kaokae.errors import KaokaeError
from kaokae.extract.options import PeopleOptions
from kaokae.extract.person_map import parse_map
from kaokae.faces import DETECTORS
from kaokae.live.options import LiveOptions
from kaokae.options import build, entries, entry_map, flat, from_args, read_config, to_toml
from kaokae.swap.options import SwapOptions
from kaokae.train.options import TrainOptions, model_names
from kaokae.train.precision import PRECISIONS


def command_parsers(parser: argparse.ArgumentParser | None = None, prefix: str = "") -> dict:
    """{'convert': parser, 'faceset sort': parser, ...}: every command and sub-command."""
    parser = parser or build_parser()
    found = {}
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                found[prefix + name] = sub
                found.update(command_parsers(sub, f"{prefix}{name} "))
    return found


def actions(parser: argparse.ArgumentParser) -> dict[str, argparse.Action]:
    return {a.dest: a for a in parser._actions
            if a.help != argparse.SUPPRESS and not isinstance(a, argparse._SubParsersAction)}


def test_registry_names_are_the_cli_choices_and_the_config_values(tmp_path):
    from kaokae.train.models import MODELS

    registries = {"colour": COLOURS.names(), "blend": BLENDS.names(), "detector": DETECTORS.names(),
                  "mask": MASKS.names(), "precision": PRECISIONS.names()}
    assert set(model_names()) == set(MODELS)
    parsers = command_parsers()
    assert set(cli.CONFIGURABLE) == {"extract", "train", "convert", "swap"}
    checked = 0
    for command, cls in cli.COMMAND_OPTIONS.items():  # every command, those with --config and the others
        flags = actions(parsers[command])
        for e in entries(cls):
            allowed = e.option.allowed()
            if allowed is None:
                continue
            if e.name in registries:
                assert allowed == registries[e.name], (command, e.name)
            if e.name == "model":
                assert allowed == model_names()
            if not e.option.consts and e.option.cli_choices:
                assert tuple(flags[e.name].choices) == allowed, (command, e.name)
            for value in allowed:  # every name is accepted in a config file, and nothing else
                (tmp_path / "c.toml").write_text(f'{e.name} = "{value}"\n')
                assert read_config(tmp_path / "c.toml", cls) == {e.name: value}
            (tmp_path / "c.toml").write_text(f'{e.name} = "no-such-{e.name}"\n')
            with pytest.raises(KaokaeError, match=f"unknown {e.name} 'no-such-{e.name}' \\(use one of"):
                read_config(tmp_path / "c.toml", cls)
            checked += 1
    assert checked >= 14


def test_every_option_has_help_and_a_default():
    for command, parser in command_parsers().items():
        for dest, action in actions(parser).items():
            assert action.help and action.help.strip(), (command, dest)
    for cls in cli.COMMAND_OPTIONS.values():
        for e in entries(cls):
            assert e.option.help.strip(), e.name
            assert e.default is not None or e.option.default_help, f"{e.name}: None must say what it means"
    help_text = actions(command_parsers()["convert"])["erode"].help
    assert "default 0" in help_text and "-0.5 to 0.5" in help_text


def test_one_name_per_meaning_across_commands():
    """An option that two commands share is one definition: same type, default, range and choices."""
    # the same word for different things: extract's face size and train's model size, train's faces per step and
    # convert's faces per model call; train's device list is shorter than convert's (the trainer runs on auto, cpu
    # or cuda) and its precision help speaks of training steps
    different = {"size", "batch_size", "device", "precision"}
    build_parser()  # the commands register their option types
    seen = {}
    for command, cls in cli.CONFIGURABLE.items():
        for e in entries(cls):
            if e.name in seen and e.name not in different:
                assert seen[e.name].option == e.option and seen[e.name].default == e.default, (command, e.name)
            seen.setdefault(e.name, e)
    for name in ("erode", "feather", "colour", "blend", "crf", "preset", "threshold", "only", "detector"):
        assert seen[name].option is next(e for e in entries(ConvertOptions) if e.name == name).option


def test_config_round_trip(tmp_path, capsys):
    file = tmp_path / "convert.toml"
    file.write_text('erode = -0.1\ncolour = "hist"\nonly = ["a.jpg", "b.jpg"]\nmask = "hull"\npreset = "slow"\n'
                    'max_faces = 3\nsmooth = false\nbatch_size = 2\n')
    assert main(["config", "show", "convert", "--config", str(file)]) == 0
    shown = capsys.readouterr().out
    (tmp_path / "shown.toml").write_text(shown)
    again = build(ConvertOptions, read_config(tmp_path / "shown.toml", ConvertOptions))
    first = build(ConvertOptions, read_config(file, ConvertOptions))
    assert again == first and first.detect.max_faces == 3 and not first.detect.smooth and first.colour == "hist"
    assert main(["config", "show", "convert", "--config", str(tmp_path / "shown.toml")]) == 0
    assert capsys.readouterr().out == shown
    for command, cls in cli.COMMAND_OPTIONS.items():  # the defaults of every command, through TOML and back
        (tmp_path / f"{command}.toml").write_text(to_toml(cls()))
        assert build(cls, read_config(tmp_path / f"{command}.toml", cls)) == cls(), command


def test_flags_win_over_the_config_file(tmp_path):
    file = tmp_path / "swap.toml"
    file.write_text('erode = 0.1\nfeather = 0.2\nthreshold = 0.5\n')
    parser = command_parsers()["swap"]
    args = parser.parse_args(["--source", "a.jpg", "--target", "b.mp4", "-o", "c.mp4", "--config", str(file),
                              "--erode", "0.05", "--only-threshold", "0.4"])
    options = from_args(SwapOptions, args)
    assert (options.erode, options.feather, options.threshold) == (0.05, 0.2, 0.4)
    args = command_parsers()["train"].parse_args(["a", "b", "-m", "m"])
    assert flat(from_args(TrainOptions, args)) == flat(TrainOptions())


@pytest.mark.parametrize("text, message", [
    ("erode = 0.1\nsmudge = 2\n", "smudge is not an option of this command"),
    ('erode = "a lot"\n', "erode must be a number, not 'a lot'"),
    ("max_faces = 2.5\n", "max_faces must be a whole number"),
    ("crf = 60\n", "crf must be between 0 and 51, not 60"),
    ("erode = [0.1\n", "is not a TOML file"),
])
def test_bad_config_file_is_one_line_and_exit_2(tmp_path, capsys, text, message):
    file = tmp_path / "bad.toml"
    file.write_text(text)
    for argv in (["config", "show", "convert", "--config", str(file)],
                 ["convert", str(tmp_path / "in.mp4"), "-m", str(tmp_path), "-o", str(tmp_path / "out.mp4"),
                  "--config", str(file)]):
        assert main(argv) == 2
        err = capsys.readouterr().err
        lines = err.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("kaokae: error: ") and str(file) in lines[0], err
        assert message in lines[0], err
    assert main(["config", "show", "swap", "--config", str(tmp_path / "missing.toml")]) == 2
    assert "no such config file" in capsys.readouterr().err


# what a command works on (its files and folders) rather than how: arguments, not options
INPUTS = {"output", "model", "model_dir", "source", "target", "swapped", "gallery", "audio_from"}


def test_every_option_of_every_command_comes_from_one_typed_definition():
    parsers = command_parsers()
    leaves = {name: p for name, p in parsers.items()
              if not any(isinstance(a, argparse._SubParsersAction) for a in p._actions)}
    # `config show` prints another command's options: its only arguments are that command and the file to start from
    assert set(leaves) - set(cli.COMMAND_OPTIONS) == {"config show"}
    for command in ("live", "people", "faceset repair", "swap", "convert", "train"):
        assert command in cli.COMMAND_OPTIONS
    for command, cls in cli.COMMAND_OPTIONS.items():
        flags = actions(leaves[command])
        known = entry_map(cls)
        for dest, action in flags.items():
            if dest in known or dest in ("help", "quiet", "config") or not action.option_strings:
                continue
            assert dest in INPUTS, f"{command}: --{dest} is not defined in {cls.__name__}"
        for name, e in known.items():  # and every definition is on the command line
            assert name in flags or e.option.consts, (command, name)


def test_new_commands_share_the_definitions_of_the_same_meaning():
    live, people, swap = entry_map(LiveOptions), entry_map(PeopleOptions), entry_map(SwapOptions)
    for name in ("erode", "feather", "colour", "blend", "only", "threshold", "detector", "max_faces", "min_size",
                 "min_score", "redetect_every", "smooth", "watermark", "c2pa_cert", "c2pa_key", "overwrite"):
        assert live[name].option is swap[name].option, name
    convert = entry_map(ConvertOptions)
    for name in ("direction", "precision", "runtime", "device"):
        assert live[name].option.choices == convert[name].option.choices, name
    for name in ("detector", "max_faces", "min_size", "min_score", "redetect_every", "smooth", "overwrite"):
        assert people[name].option is swap[name].option, name
    train = entry_map(TrainOptions)
    assert train["schedule"].option.allowed() == ("cosine", "constant") and train["parent"].option.flag == "--from"


def test_map_is_a_flag_per_person_and_a_table_in_config_files(tmp_path, capsys):
    parser = command_parsers()["swap"]
    given = ["a1.jpg,a2.jpg=b1.jpg", "c.png=d.jpg,e.jpg"]
    args = parser.parse_args(["--target", "t.mp4", "-o", "o.mp4", *[x for m in given for x in ("--map", m)]])
    from_flags = from_args(SwapOptions, args).map
    assert from_flags == parse_map(given) and from_flags[1].targets == (Path("d.jpg"), Path("e.jpg"))
    file = tmp_path / "swap.toml"
    file.write_text('[map]\n"a1.jpg,a2.jpg" = "b1.jpg"\n"c.png" = ["d.jpg", "e.jpg"]\n')
    assert read_config(file, SwapOptions) == {"map": from_flags}
    assert main(["config", "show", "swap", "--config", str(file)]) == 0
    shown = capsys.readouterr().out
    (tmp_path / "shown.toml").write_text(shown)
    assert build(SwapOptions, read_config(tmp_path / "shown.toml", SwapOptions)).map == from_flags
    for text, message in (('map = "a.jpg=b.jpg"\n', "map must be a table"),
                          ('[map]\n"a.jpg" = 3\n', "needs a target path")):
        file.write_text(text)
        assert main(["config", "show", "convert", "--config", str(file)]) == 2
        err = capsys.readouterr().err
        assert len(err.strip().splitlines()) == 1 and str(file) in err and message in err, err
