"""Typed options: every option of every command is defined once, as a field of its stage's options dataclass,

    erode: float = option(0.0, "shrink the mask by this fraction of the face's size; negative grows it",
                          minimum=-0.5, maximum=0.5)

with its type (the annotation), default, allowed range or choices, one-line help and whether it is `fixed` once a
model or faceset is created. From these definitions come the argparse options (`add_options`: help shows the
default and range), the TOML config files (`read_config`, `to_toml`) and the checks (`check`: one `OptionError`
naming the option in words, which the CLI shows as its flag and a UI as its label). An options dataclass may hold
another one (convert holds the detection options of `kaokae.faces.options`): its options are flattened, so every
option name is unique within a command, and the same meaning has the same name in every command.
"""

import argparse
import dataclasses
import tomllib
import types
import typing
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from kaokae.errors import KaokaeError
from kaokae.registry import Registry


class OptionError(KaokaeError):
    """A value an option does not accept. `name` is the option's field name; `message` says what is wrong, with
    `{label}` where the option is named ("{label} must be 0 or more, not -1"; without it the label goes first);
    `where` is the config file it came from, if any."""

    def __init__(self, name: str, message: str, where: str | Path | None = None):
        self.name, self.where = name, where
        self.message = message if "{label}" in message else "{label} " + message
        super().__init__(self.render(words(name)))

    def render(self, label: str) -> str:
        """The message with the option called `label` (a CLI flag, a UI label)."""
        if self.where is not None:
            return f"{self.where}: " + self.message.replace("{label}", self.name)
        text = self.message.replace("{label}", label)
        return text if label.startswith("-") else f"{text} (--{flag_name(self.name)})"


def words(name: str) -> str:
    return name.replace("_", " ")


def flag_name(name: str) -> str:
    return name.replace("_", "-")


def cli_flag(cls, name: str) -> str:
    """The command-line flag of option `name` of `cls`: `--field-name`, or the one its definition names."""
    e = entry_map(cls).get(name) if cls is not None else None
    return (e.option.flag if e is not None else None) or f"--{flag_name(name)}"


@dataclass(frozen=True)
class Option:
    """What a field of an options dataclass means; see `option`."""

    help: str
    minimum: float | None = None  # inclusive bounds
    maximum: float | None = None
    above: float | None = None  # exclusive bounds
    below: float | None = None
    choices: tuple[str, ...] | Callable[[], Iterable[str]] | None = None  # a tuple, or a registry's `names`
    cli_choices: bool = True  # False: argparse takes any string and `check` refuses it with the other options
    fixed: bool = False  # set when a model or faceset is created; a different value is refused later
    flag: str | None = None  # CLI flag when not --field-name; a bool that defaults to True gets --no-field-name
    short: str | None = None  # e.g. "-m"
    aliases: tuple[str, ...] = ()  # old flags, still accepted, not shown in --help
    metavar: str | None = None
    group: str | None = None  # --help section
    default_help: str | None = None  # how the default reads when it is None ("the folder's, or original")
    consts: tuple[tuple[str, object, str], ...] = ()  # (flag, value, help): flags that each set a value
    exclusive: str | None = None  # options in the same named group cannot be given together
    required: bool = False  # the CLI asks for it (the library has the default)
    check: Callable[[object], str | None] | None = None  # an extra rule: returns the problem, or None
    # a list of values that are not file names (--map REFS=TARGET): `parse` makes one item from one flag's text
    # (the flag is repeated per item), `table` = (from_table, to_table) is the list as a config file's table
    parse: Callable[[str], object] | None = None
    table: tuple[Callable[[dict], list], Callable[[list], dict]] | None = None

    def allowed(self) -> tuple[str, ...] | None:
        if self.choices is None:
            return None
        return tuple(self.choices if isinstance(self.choices, tuple) else self.choices())

    def range_text(self) -> str:
        """'0 to 51', '1 or more', 'above 0, below 2', 'at least 0, below 1': what --help shows."""
        low = self.minimum if self.minimum is not None else self.above
        high = self.maximum if self.maximum is not None else self.below
        if low is None and high is None:
            return ""
        if self.above is None and self.below is None:
            if high is None:
                return f"{_number(low)} or more"
            return f"{_number(low)} to {_number(high)}" if low is not None else f"at most {_number(high)}"
        words = []
        if low is not None:
            words.append(f"above {_number(low)}" if self.above is not None else f"at least {_number(low)}")
        if high is not None:
            words.append(f"below {_number(high)}" if self.below is not None else f"at most {_number(high)}")
        return ", ".join(words)


def _number(x: float) -> str:
    return f"{x:g}"


def option(default, help: str, **meaning) -> dataclasses.Field:
    """A dataclass field with its `Option` (the keywords are Option's fields). A list default is copied per
    instance."""
    metadata = {"option": Option(help, **meaning)}
    if isinstance(default, list):
        return dataclasses.field(default_factory=lambda: list(default), metadata=metadata)
    return dataclasses.field(default=default, metadata=metadata)


@dataclass(frozen=True)
class Entry:
    """One option of a command: where it lives (`path`: field names through nested options) and its meaning."""

    name: str
    path: tuple[str, ...]
    kind: type  # int, float, str, bool, Path, or list (of Path, or of `item`)
    optional: bool  # None is allowed (and means: decided later)
    default: object
    option: Option
    item: type = Path  # what a list holds


def entries(cls) -> Iterator[Entry]:
    """Every option of an options dataclass, nested ones flattened, in definition order."""
    hints = typing.get_type_hints(cls)
    for f in dataclasses.fields(cls):
        hint = hints[f.name]
        if dataclasses.is_dataclass(hint):
            for inner in entries(hint):
                yield dataclasses.replace(inner, path=(f.name, *inner.path))
            continue
        if "option" not in f.metadata:
            continue
        args = typing.get_args(hint)
        optional = type(None) in args and typing.get_origin(hint) in (typing.Union, types.UnionType)
        kind = next(a for a in args if a is not type(None)) if optional else hint
        item = Path
        if typing.get_origin(kind) is list:
            kind, item = list, typing.get_args(kind)[0]
        default = f.default_factory() if f.default is dataclasses.MISSING else f.default
        yield Entry(f.name, (f.name,), kind, optional, default, f.metadata["option"], item)


def entry_map(cls) -> dict[str, Entry]:
    found: dict[str, Entry] = {}
    for e in entries(cls):
        if e.name in found:
            raise TypeError(f"{cls.__name__}: two options named {e.name}")
        found[e.name] = e
    return found


def get(obj, e: Entry):
    for name in e.path:
        obj = getattr(obj, name)
    return obj


def build(cls, values: dict[str, object]):
    """An options object from flat {name: value} (missing names keep their defaults). Not checked."""
    hints = typing.get_type_hints(cls)
    kwargs = {}
    for f in dataclasses.fields(cls):
        if dataclasses.is_dataclass(hints[f.name]):
            kwargs[f.name] = build(hints[f.name], values)
        elif f.name in values and "option" in f.metadata:
            kwargs[f.name] = values[f.name]
    return cls(**kwargs)


def flat(obj) -> dict[str, object]:
    return {e.name: get(obj, e) for e in entries(type(obj))}


# ---- checks


def problem(e: Entry, value) -> str | None:
    """What is wrong with `value` for option `e`, or None."""
    if value is None:
        return None if e.optional else "must be given"
    if e.kind is list:
        if e.item is not Path:
            if not isinstance(value, list | tuple) or not all(isinstance(v, e.item) for v in value):
                return f"must be a list of {e.item.__name__}, not {value!r}"
        elif not isinstance(value, list | tuple) or not all(isinstance(v, str | Path) for v in value):
            return f"must be a list of file names, not {value!r}"
        return e.option.check(value) if e.option.check is not None else None
    if e.kind is bool:
        return None if isinstance(value, bool) else f"must be true or false, not {value!r}"
    if e.kind is int and (isinstance(value, bool) or not isinstance(value, int)):
        return f"must be a whole number, not {value!r}"
    if e.kind is float and (isinstance(value, bool) or not isinstance(value, int | float)):
        return f"must be a number, not {value!r}"
    if e.kind in (str, Path) and not isinstance(value, str | Path):
        return f"must be a string, not {value!r}"
    o = e.option
    allowed = o.allowed()
    if allowed is not None and value not in allowed:
        return f"unknown {{label}} {value!r} (use one of {', '.join(allowed)})"
    if e.kind in (int, float):
        outside = ((o.minimum is not None and value < o.minimum) or (o.maximum is not None and value > o.maximum)
                   or (o.above is not None and value <= o.above) or (o.below is not None and value >= o.below))
        if outside:
            return f"must be {_range_words(o)}, not {value}"
    return o.check(value) if o.check is not None else None


def _range_words(o: Option) -> str:
    text = o.range_text()
    if " to " in text:
        return "between " + text.replace(" to ", " and ")
    return text.replace(", ", " and ")


def check(obj, where: str | Path | None = None) -> None:
    """Raise OptionError for the first option of `obj` whose value it does not accept."""
    for e in entries(type(obj)):
        found = problem(e, get(obj, e))
        if found is not None:
            raise OptionError(e.name, found, where)
    if hasattr(obj, "validate"):  # a rule over several options, or one a command adds to a shared option
        obj.validate()


# ---- argparse


def add_options(parser: argparse.ArgumentParser, cls) -> None:
    """Add every option of `cls` to `parser`, in --help sections by `group`. Defaults stay out of the namespace
    (`from_args` fills them), so a config file's value stands unless the flag is given."""
    groups: dict[str, argparse._ArgumentGroup] = {}
    exclusive: dict[str, argparse._MutuallyExclusiveGroup] = {}
    for e in entries(cls):
        o = e.option
        target = parser
        if o.group is not None:
            if o.group not in groups:
                groups[o.group] = parser.add_argument_group(o.group)
            target = groups[o.group]
        if o.exclusive is not None:
            if o.exclusive not in exclusive:
                exclusive[o.exclusive] = target.add_mutually_exclusive_group()
            target = exclusive[o.exclusive]
        _add(target, e)


def _add(target, e: Entry) -> None:
    o = e.option
    text = help_text(e).replace("%", "%%")  # argparse formats help with %
    if o.consts:
        group = target.add_mutually_exclusive_group()
        for flag, value, const_help in o.consts:
            group.add_argument(flag, action="store_const", const=value, dest=e.name, default=argparse.SUPPRESS,
                               help=const_help)
        return
    if e.kind is bool:
        flag = o.flag or (f"--no-{flag_name(e.name)}" if e.default else f"--{flag_name(e.name)}")
        action = "store_false" if e.default else "store_true"
        text = f"turn off: {text} (on by default)" if e.default else text
        target.add_argument(*_names(o, flag), action=action, dest=e.name, default=argparse.SUPPRESS, help=text)
        for alias in o.aliases:
            target.add_argument(alias, action=action, dest=e.name, default=argparse.SUPPRESS,
                                help=argparse.SUPPRESS)
        return
    kwargs: dict = {"dest": e.name, "default": argparse.SUPPRESS, "help": text}
    if e.kind is list and o.parse is not None:
        kwargs.update(action="append", type=str)  # parsed in `given`, so that its error is the library's line
    elif e.kind is list:
        kwargs.update(nargs="+", type=Path)
    else:
        kwargs["type"] = e.kind
    allowed = o.allowed()
    if allowed is not None and o.cli_choices:
        kwargs["choices"] = allowed
    if o.metavar is not None:
        kwargs["metavar"] = o.metavar
    if o.required:
        kwargs["required"] = True
    target.add_argument(*_names(o, o.flag or f"--{flag_name(e.name)}"), **kwargs)
    for alias in o.aliases:
        target.add_argument(alias, **{**kwargs, "help": argparse.SUPPRESS})


def _names(o: Option, flag: str) -> list[str]:
    return [o.short, flag] if o.short else [flag]


def help_text(e: Entry) -> str:
    """The option's help with its default and range: what --help shows."""
    o = e.option
    parts = []
    if o.consts:
        return o.help
    if e.kind is bool or o.required:
        default = None
    elif e.default is None:
        default = o.default_help or "none"
    elif e.kind is list:
        default = "none" if not e.default else " ".join(map(str, e.default))
        if o.parse is not None:
            default += "; repeat the flag for each"
    else:
        default = f"{e.default:g}" if isinstance(e.default, float) else str(e.default)
    if default is not None:
        parts.append(f"default {default}")
    if o.range_text():
        parts.append(o.range_text())
    if o.fixed:
        parts.append("fixed when created")
    text = o.help
    registry = getattr(o.choices, "__self__", None)
    if isinstance(registry, Registry):
        text = f"{text}: {registry.describe()}"
    return f"{text} ({'; '.join(parts)})" if parts else text


def given(args: argparse.Namespace, cls) -> dict[str, object]:
    """The options of `cls` that the command line gave."""
    found = {}
    for name, e in entry_map(cls).items():
        if hasattr(args, name):
            value = getattr(args, name)
            found[name] = [e.option.parse(v) for v in value] if e.option.parse is not None else value
    return found


def from_args(cls, args: argparse.Namespace):
    """The options object of a command: defaults, then the --config file's values, then the flags given; checked."""
    values = read_config(args.config, cls) if getattr(args, "config", None) else {}
    values.update(given(args, cls))
    options = build(cls, values)
    check(options)
    return options


# ---- TOML config files


def read_config(path: str | Path, cls) -> dict[str, object]:
    """The {name: value} a TOML config file sets for `cls`, each value checked on its own (type, choices,
    range). A KaokaeError names the file and the key."""
    path = Path(path)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise KaokaeError(f"no such config file: {path}") from None
    except (OSError, UnicodeDecodeError) as e:
        raise KaokaeError(f"cannot read config file {path}: {e}") from None
    except tomllib.TOMLDecodeError as e:
        raise KaokaeError(f"{path} is not a TOML file: {e}") from None
    known = entry_map(cls)
    values: dict[str, object] = {}
    for key, value in data.items():
        e = known.get(key)
        if e is None:
            raise OptionError(key, f"is not an option of this command (it takes: {', '.join(known)})", path)
        if e.kind is float and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        if e.kind is Path and isinstance(value, str):
            value = Path(value)
        if e.option.table is not None:
            if not isinstance(value, dict):
                raise OptionError(key, f"must be a table ([{key}] with one key per entry), not {value!r}", path)
            try:
                value = e.option.table[0](value)
            except KaokaeError as error:
                raise OptionError(key, f"{{label}}: {error}", path) from None
        elif e.kind is list and isinstance(value, list) and all(isinstance(v, str) for v in value):
            value = [Path(v) for v in value]
        found = problem(e, value)
        if found is not None:
            raise OptionError(key, found, path)
        values[key] = value
    return values


def to_toml(obj) -> str:
    """The options of `obj` as a TOML config file, each key after a comment with its help; options whose value is
    None (decided later) are commented out. `read_config` of the text gives back the same options."""
    import tomli_w

    lines, tables = [], []
    for e in entries(type(obj)):
        value = get(obj, e)
        if e.option.table is not None:  # after every plain key: a [table] holds the keys that follow it
            tables.append((e, value))
            continue
        lines.append(f"# {help_text(e)}")
        if value is None:
            lines.append(f"# {e.name} = ")
            continue
        if isinstance(value, Path):
            value = str(value)
        elif isinstance(value, list | tuple):
            value = [str(v) for v in value]
        lines.append(tomli_w.dumps({e.name: value}).rstrip("\n"))
    for e, value in tables:
        lines.append(f"# {help_text(e)}")
        if not value:
            lines.append(f"# [{e.name}]")
            continue
        lines.append(tomli_w.dumps({e.name: e.option.table[1](value)}).rstrip("\n"))
    return "\n".join(lines) + "\n"
