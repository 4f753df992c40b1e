"""The UI's forms, generated from the typed options (kaokae.options): a field per option with its type, default,
range, choices and help, and the way back from a form's values to the command line the CLI would be given. No
option is declared here; only which command each page runs and which of its arguments are files."""

from dataclasses import dataclass
from pathlib import Path

from kaokae import options as opts
from kaokae.options import Entry, OptionError


@dataclass(frozen=True)
class Command:
    """A command the UI runs as a job: its options type and its file arguments, as (name, flag or None for a
    positional, what kind of file the page offers, several)."""

    name: str  # as typed after `kaokae`
    options: type
    files: tuple[tuple[str, str | None, str, bool], ...]


def commands() -> dict[str, Command]:
    from kaokae.convert.options import ConvertOptions
    from kaokae.evaluate.options import EvaluateOptions
    from kaokae.extract.options import ExtractOptions, FilterOptions, PeopleOptions, SortOptions
    from kaokae.swap.options import SwapOptions
    from kaokae.train.options import TrainOptions

    return {c.name: c for c in (
        Command("extract", ExtractOptions, (("inputs", None, "media", True), ("output", "-o", "new faceset", False))),
        Command("train", TrainOptions, (("faceset_a", None, "faceset", False), ("faceset_b", None, "faceset", False),
                                        ("model_dir", "-m", "model", False))),
        Command("convert", ConvertOptions, (("input", None, "media", False), ("model", "-m", "model", False),
                                            ("output", "-o", "new media", False))),
        Command("swap", SwapOptions, (("source", "--source", "image", True), ("target", "--target", "media", False),
                                      ("output", "-o", "new media", False))),
        Command("people", PeopleOptions, (("input", None, "media", False), ("output", "-o", "new people", False))),
        Command("faceset sort", SortOptions, (("faceset", None, "faceset", False),)),
        Command("faceset filter", FilterOptions, (("faceset", None, "faceset", False),)),
        Command("evaluate", EvaluateOptions, (("model", "--model", "model", False),
                                              ("source", "--source", "media", False),
                                              ("target", "--target", "faceset", False))),
    )}


def label(name: str) -> str:
    return opts.words(name).capitalize()


def field(e: Entry) -> dict:
    """One form field (JSON for the page)."""
    o = e.option
    kind = {int: "int", float: "float", bool: "bool", str: "str", Path: "path", list: "paths"}[e.kind]
    choices = o.allowed()
    if o.consts and choices is None:  # flags that each set a value: the default and those values
        choices = (str(e.default), *(str(value) for _, value, _ in o.consts))
    low = o.minimum if o.minimum is not None else o.above
    high = o.maximum if o.maximum is not None else o.below
    default = e.default
    if isinstance(default, Path):
        default = str(default)
    elif isinstance(default, list):
        default = [str(v) for v in default]
    return {"name": e.name, "label": label(e.name), "kind": kind, "default": default, "optional": e.optional,
            "choices": list(choices) if choices is not None else None, "min": low, "max": high,
            "help": opts.help_text(e), "group": o.group or "", "fixed": o.fixed,
            "flag": o.flag or f"--{opts.flag_name(e.name)}"}


def form(cls) -> list[dict]:
    return [field(e) for e in opts.entries(cls)]


def parse(cls, raw: dict[str, object]) -> object:
    """The options object from a form's values (strings or JSON numbers/booleans), checked like the CLI checks
    its flags; an OptionError names the option by its flag, as the CLI does."""
    known = opts.entry_map(cls)
    values: dict[str, object] = {}
    for name, value in raw.items():
        e = known.get(name)
        if e is None:
            raise OptionError(name, "is not an option of this command")
        values[name] = _value(e, value)
    built = opts.build(cls, values)
    opts.check(built)
    return built


def _value(e: Entry, value):
    if value is None or (value == "" and (e.kind is not str or e.optional)):
        return None if e.optional else e.default
    try:
        if e.kind is bool:
            return value if isinstance(value, bool) else str(value).lower() in ("1", "true", "on", "yes")
        if e.kind is int:
            return int(value) if not isinstance(value, float) or value.is_integer() else value
        if e.kind is float:
            return float(value)
        if e.kind is Path:
            return Path(str(value))
        if e.kind is list:
            items = [str(v) for v in (value if isinstance(value, list) else str(value).split()) if str(v)]
            return [e.option.parse(v) for v in items] if e.option.parse else [Path(v) for v in items]
    except ValueError:
        return value  # check() names the option and the value
    return value


def argv(options_obj) -> list[str]:
    """The flags the CLI needs to build `options_obj`: every option that differs from its default, and those the
    CLI requires."""
    out: list[str] = []
    for e in opts.entries(type(options_obj)):
        value = opts.get(options_obj, e)
        o = e.option
        if value is None or (value == e.default and not o.required):  # a required flag is given even at its default
            continue
        if o.consts:
            out += [flag for flag, const, _ in o.consts if const == value][:1]
        elif e.kind is bool:
            out.append(o.flag or (f"--no-{opts.flag_name(e.name)}" if e.default else f"--{opts.flag_name(e.name)}"))
        elif e.kind is list and o.parse is not None:  # one flag per item (--map A=B --map C=D)
            for item in value:
                out += [o.flag or f"--{opts.flag_name(e.name)}", str(item)]
        elif e.kind is list:
            out += [o.flag or f"--{opts.flag_name(e.name)}", *map(str, value)]
        else:
            out += [o.flag or f"--{opts.flag_name(e.name)}", repr(value) if isinstance(value, float) else str(value)]
    return out


def cli_message(error: Exception) -> str:
    """The one line the CLI prints for this error."""
    if isinstance(error, OptionError):
        return f"kaokae: error: {error.render('--' + opts.flag_name(error.name))}"
    return f"kaokae: error: {error}"
