"""Typed settings: defaults < ``config.toml`` < ``OPTUI_*`` environment < command-line flags.

Everything optui can be told lives in one frozen :class:`Settings` struct. msgspec does the
validation (types, ``Literal`` choices, ``Meta`` bounds, unknown keys), and this module turns
msgspec's terse errors into one :class:`SettingsError` that says *where* the bad value came
from (file and key, environment variable, or flag), *what* it was and *what is allowed*::

    /home/me/.config/optui/config.toml: demo.speed = -2: must be a number > 0 and <= 1000
    OPTUI_PRICE='mid': must be one of 'last', 'average'

Each source is validated on its own before the sources are merged, which is what lets an
error name its source. Environment values are strings and are converted leniently
(``"7"`` -> ``7``); the TOML file is typed already and is validated strictly, so
``seed = "7"`` in the file is an error rather than a silent conversion.

Environment names: ``OPTUI_<KEY>`` for top-level keys and ``OPTUI_<SECTION>__<KEY>`` (double
underscore) for keys in a section, e.g. ``OPTUI_SOURCE``, ``OPTUI_DEMO__SEED``,
``OPTUI_ANALYTICS__RATE``; lists are comma-separated (``OPTUI_UNDERLYINGS=NIFTY,BANKNIFTY``).
Kite's conventional ``KITE_API_KEY`` and ``KITE_API_SECRET`` are read too (the ``OPTUI_``
spelling wins when both are set). ``OPTUI_CONFIG`` selects the config file. Any other
``OPTUI_*`` variable is an error, so a typo cannot be silently ignored. An empty variable
counts as unset.

Paths are expanded (``~``) and made absolute: relative paths in the config file are taken
relative to the file's folder, relative paths from the environment or flags relative to the
current directory.
"""

import datetime
import difflib
import functools
import hmac
import math
import os
import re
import shlex
import tomllib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Literal, get_args

import msgspec
import msgspec.inspect as mi

from optui.paths import (
    default_cache_dir,
    default_config_file,
    default_data_dir,
    default_log_dir,
    write_private,
)

__all__ = [
    "CONFIG_ENV_VAR",
    "PRICE_BASES",
    "PRICING_MODELS",
    "SOURCES",
    "THEMES",
    "UNDERLYINGS",
    "AnalyticsSettings",
    "DemoSettings",
    "KiteSettings",
    "NseSettings",
    "Secret",
    "Settings",
    "SettingsError",
    "config_file",
    "env_var_names",
    "load_settings",
    "render_toml",
    "write_private",
]

# --------------------------------------------------------------------------------------
# Vocabulary. The Literal types are the single source of truth: the tuples below (used by
# the CLI for argparse choices) and the "must be one of" error texts are derived from them.

Underlying = Literal["NIFTY", "BANKNIFTY", "FINNIFTY", "MIDCPNIFTY", "SENSEX"]
Source = Literal["demo", "kite", "replay"]
PriceBasis = Literal["last", "average"]
Theme = Literal["dark", "light"]
PricingModel = Literal["black76", "nse-black-scholes"]

UNDERLYINGS: tuple[Underlying, ...] = get_args(Underlying)
SOURCES: tuple[Source, ...] = get_args(Source)
PRICE_BASES: tuple[PriceBasis, ...] = get_args(PriceBasis)
THEMES: tuple[Theme, ...] = get_args(Theme)
PRICING_MODELS: tuple[PricingModel, ...] = get_args(PricingModel)

CONFIG_ENV_VAR = "OPTUI_CONFIG"
_ENV_PREFIX = "OPTUI_"
# Kite's own tooling and docs use these names; accepting them saves users a rename.
_KITE_ENV_ALIASES = {"KITE_API_KEY": "kite.api_key", "KITE_API_SECRET": "kite.api_secret"}
_MASK = "***"


class SettingsError(ValueError):
    """A setting is wrong or a config file cannot be used. The message is meant for users:
    it names the source, the key, the value and what is allowed."""


class Secret:
    """A string that never shows itself: ``str``, ``repr`` and f-strings give ``***``.

    Used for the Kite API secret so it cannot leak through a log line, a traceback's locals,
    Rich's pretty printer or ``optui config``. Call :meth:`reveal` where the real value is
    needed (signing the login request) and nowhere else.
    """

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        """The real value. Keep the call next to the one place that needs it."""
        return self._value

    def __repr__(self) -> str:
        return f"Secret({_MASK!r})"

    def __str__(self) -> str:
        return _MASK

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Secret):
            return NotImplemented
        # Constant-time compare: cheap, and it keeps the class safe to use for checks.
        return hmac.compare_digest(self._value.encode(), other._value.encode())

    def __hash__(self) -> int:
        return hash((Secret, self._value))


# --------------------------------------------------------------------------------------
# The settings structs. Each is frozen (settings are shared across threads and screens and
# must not change under them) and rejects unknown keys (typo protection). The options are
# spelled out on every class rather than inherited because mypy's dataclass_transform
# support does not see inherited ``frozen``.


class DemoSettings(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """``[demo]``: the simulated market that runs with no Kite account."""

    seed: Annotated[int, msgspec.Meta(ge=0)] = 7
    """Random seed; the same seed replays the same market."""
    tick_interval: Annotated[float, msgspec.Meta(gt=0, le=3600)] = 1.0
    """Simulated seconds between ticks of one instrument."""
    speed: Annotated[float, msgspec.Meta(gt=0, le=1000)] = 1.0
    """Simulated seconds per wall-clock second (the upper bound keeps the clock finite)."""
    instruments: Annotated[int, msgspec.Meta(ge=1)] | None = None
    """Cap on the number of simulated instruments; unset means the full universe."""


class KiteSettings(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """``[kite]``: Kite Connect credentials and endpoints."""

    api_key: str | None = None
    api_secret: Secret | None = None
    """Never printed; see :class:`Secret`."""
    api_url: Annotated[
        str, msgspec.Meta(pattern=r"^https?://\S+$", extra={"allowed": "an http(s):// URL"})
    ] = "https://api.kite.trade"
    ws_url: Annotated[
        str, msgspec.Meta(pattern=r"^wss?://\S+$", extra={"allowed": "a ws(s):// URL"})
    ] = "wss://ws.kite.trade"
    redirect_url: Annotated[
        str, msgspec.Meta(pattern=r"^https?://\S+$", extra={"allowed": "an http(s):// URL"})
    ] = "http://127.0.0.1:5000/success"
    """Must match the redirect URL registered for the app on the Kite developer console."""
    login_url: Annotated[
        str, msgspec.Meta(pattern=r"^https?://\S+$", extra={"allowed": "an http(s):// URL"})
    ] = "https://kite.zerodha.com/connect/login"
    """Kite's login page (`optui emulate` serves its own; point this at it to log in there)."""
    expiries: Annotated[int, msgspec.Meta(ge=1, le=12)] = 2
    """Subscribe the nearest N option expiries of each underlying."""
    strikes: Annotated[int, msgspec.Meta(ge=1, le=200)] = 20
    """Subscribe K strikes each side of the at-the-money strike."""
    connections: Annotated[int, msgspec.Meta(ge=1, le=3)] = 3
    """Websocket connections to use (Kite allows 3 per API key, 3000 instruments each)."""


class NseSettings(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """``[nse]``: where `optui participants fetch` gets NSE's daily participant files, politely."""

    archive_url: Annotated[
        str, msgspec.Meta(pattern=r"^https?://\S+$", extra={"allowed": "an http(s):// URL"})
    ] = "https://nsearchives.nseindia.com/content/nsccl"
    """Folder holding `fao_participant_oi_DDMMYYYY.csv` and `fao_participant_vol_DDMMYYYY.csv`."""
    request_delay: Annotated[float, msgspec.Meta(ge=0, le=60)] = 2.0
    """Seconds between two requests (NSE blocks clients that hurry)."""
    max_requests: Annotated[int, msgspec.Meta(ge=1, le=2000)] = 100
    """Request budget of one fetch run; what is left is fetched by the next run."""


class AnalyticsSettings(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """``[analytics]``: how implied volatility and greeks are computed."""

    rate: Annotated[float, msgspec.Meta(ge=-0.05, le=0.25)] = 0.0
    """Annual risk-free rate as a fraction (0.065 = 6.5 %). With Black-76 on a put-call-parity
    forward it only discounts, so the default 0 is a sound choice, not a placeholder."""
    model: PricingModel = "black76"
    expiry_time: Annotated[
        str,
        msgspec.Meta(
            pattern=r"^([01][0-9]|2[0-3]):[0-5][0-9]$",
            extra={"allowed": "a 24-hour time HH:MM (IST), e.g. '15:30'"},
        ),
    ] = "15:30"
    """Time of day (IST) at which an option expires, for time to expiry."""


class StoreSettings(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """`[store]`: the journal and the archive."""

    archive: Annotated[str, msgspec.Meta(min_length=1)] | None = None
    """Archive root: a local path or a pyarrow filesystem URI such as `s3://bucket/prefix`.
    Default: `<data_dir>/archive`."""
    collector_id: (
        Annotated[str, msgspec.Meta(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")] | None
    ) = None
    """Name this collector's files carry in a shared archive. Default: the host name."""
    roll_interval: Annotated[float, msgspec.Meta(ge=1, le=3600)] = 60.0
    """Seconds between rolls of closed minutes from the journal into the archive."""
    sync: bool = True
    """Commit every journal write to disk before going on (turn off only for throwaway data)."""
    disk_warn_mb: Annotated[int, msgspec.Meta(ge=0)] = 2048
    """Warn (on every screen, and in the collector's log) when the data dir's disk has less
    free than this many MiB."""
    disk_critical_mb: Annotated[int, msgspec.Meta(ge=0)] = 512
    """Below this many MiB free, the warning becomes critical: writes are about to fail."""


class Settings(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """Everything optui is configured with. Build it with :func:`load_settings`."""

    data_dir: Path = msgspec.field(default_factory=default_data_dir)
    """Journal and archive (kept forever)."""
    cache_dir: Path = msgspec.field(default_factory=default_cache_dir)
    log_dir: Path = msgspec.field(default_factory=default_log_dir)
    source: Source = "demo"
    underlyings: Annotated[tuple[Underlying, ...], msgspec.Meta(min_length=1)] = UNDERLYINGS
    price: PriceBasis = "last"
    """Which price every screen shows: last traded, or Kite's average traded price (VWAP)."""
    theme: Theme = "dark"
    demo: DemoSettings = msgspec.field(default_factory=DemoSettings)
    kite: KiteSettings = msgspec.field(default_factory=KiteSettings)
    analytics: AnalyticsSettings = msgspec.field(default_factory=AnalyticsSettings)
    nse: NseSettings = msgspec.field(default_factory=NseSettings)
    store: StoreSettings = msgspec.field(default_factory=StoreSettings)


# --------------------------------------------------------------------------------------
# Loading.


@dataclass
class _Layer:
    """One source of settings, as nested builtins, with what is needed to explain errors."""

    kind: Literal["file", "env", "flag"]
    data: dict[str, Any]
    label: str = ""
    """file: the path, shown before every message about it."""
    names: dict[str, str] = field(default_factory=dict)
    """env/flag: dotted key -> variable or flag name."""
    raws: dict[str, Any] = field(default_factory=dict)
    """env/flag: dotted key -> value as given, for the message."""
    base_dir: Path = field(default_factory=Path.cwd)
    """Relative paths are resolved against this."""


def load_settings(
    config_path: Path | None = None,
    env: Mapping[str, str] | None = None,
    overrides: Mapping[str, Any] | None = None,
    *,
    override_names: Mapping[str, str] | None = None,
) -> Settings:
    """Build the effective settings.

    ``config_path`` is the file named with ``--config``; without it ``OPTUI_CONFIG``, then
    the platform's config dir, is used. A missing file at the default location means
    defaults; a missing file that was asked for explicitly is an error.
    ``env`` defaults to ``os.environ``. ``overrides`` maps dotted keys (``"demo.seed"``) to
    values from the command line; ``None`` values are skipped so a CLI can pass every flag.
    ``override_names`` maps the same keys to the flag names used in error messages.

    Raises :class:`SettingsError` for anything wrong.
    """
    env = os.environ if env is None else env
    path, chosen_by = _choose_config_file(config_path, env)
    layers: list[_Layer] = []
    file_data = _read_config_file(path, chosen_by)
    if file_data is not None:
        layers.append(_Layer(kind="file", data=file_data, label=str(path), base_dir=path.parent))
    layers.append(_env_layer(env))
    if overrides:
        layers.append(_override_layer(overrides, override_names or {}))

    merged: dict[str, Any] = {}
    for layer in layers:
        _deep_merge(merged, _validate(layer))
    # Every value is validated and normalised by now, so this cannot fail on user input.
    return msgspec.convert(merged, Settings, dec_hook=_decoder(Path.cwd()))


def config_file(config_path: Path | None = None, env: Mapping[str, str] | None = None) -> Path:
    """The config file that :func:`load_settings` reads with these arguments (it may not
    exist). For ``optui config --path``, which must work even when the file is broken."""
    return _choose_config_file(config_path, os.environ if env is None else env)[0]


def env_var_names() -> dict[str, str]:
    """Every ``OPTUI_*`` variable that sets a setting, mapped to its dotted key."""
    names: dict[str, str] = {}
    for key in _leaf_types():
        names[_ENV_PREFIX + key.replace(".", "__").upper()] = key
    return names


def _choose_config_file(config_path: Path | None, env: Mapping[str, str]) -> tuple[Path, str]:
    """The file to read and who chose it ("--config", "OPTUI_CONFIG" or "default")."""
    if config_path is not None:
        return _absolute(Path(config_path), Path.cwd()), "--config"
    if env.get(CONFIG_ENV_VAR):
        return _absolute(Path(env[CONFIG_ENV_VAR]), Path.cwd()), CONFIG_ENV_VAR
    return default_config_file(), "default"


def _read_config_file(path: Path, chosen_by: str) -> dict[str, Any] | None:
    """Parse the TOML file; ``None`` when the default file does not exist."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        if chosen_by == "default":
            return None
        raise SettingsError(f"{path}: config file not found (given by {chosen_by})") from None
    except OSError as exc:
        raise SettingsError(f"{path}: cannot read config file: {exc.strerror}") from None
    try:
        return tomllib.loads(raw.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise SettingsError(f"{path}: config file is not UTF-8 text ({exc.reason})") from None
    except tomllib.TOMLDecodeError as exc:
        # Python 3.11's message ends "(at line 3, column 7)"; move that to the front in the
        # "file:line:column:" form that editors and terminals turn into a link.
        message = str(exc)
        match = re.fullmatch(r"(?s)(.*) \(at line (\d+), column (\d+)\)", message)
        if match:
            text, line, column = match.groups()
            raise SettingsError(f"{path}:{line}:{column}: invalid TOML: {text}") from None
        raise SettingsError(f"{path}: invalid TOML: {message}") from None


def _env_layer(env: Mapping[str, str]) -> _Layer:
    known = env_var_names()
    flat: dict[str, Any] = {}
    layer = _Layer(kind="env", data={})
    for var in sorted(env):
        if not var.startswith(_ENV_PREFIX) or var == CONFIG_ENV_VAR:
            continue
        key = known.get(var)
        if key is None:
            raise SettingsError(_unknown_env_message(var, known))
        _put_env(layer, flat, var=var, key=key, value=env[var])
    for var, key in _KITE_ENV_ALIASES.items():
        if var in env and key not in flat:
            _put_env(layer, flat, var=var, key=key, value=env[var])
    layer.data = _nest(flat)
    return layer


def _put_env(layer: _Layer, flat: dict[str, Any], *, var: str, key: str, value: str) -> None:
    if value == "":  # empty counts as unset, as most tools treat it
        return
    layer.names[key] = var
    layer.raws[key] = value
    if _is_list(_leaf_types()[key]):
        flat[key] = [item.strip() for item in value.split(",") if item.strip()]
    else:
        flat[key] = value


def _unknown_env_message(var: str, known: Mapping[str, str]) -> str:
    candidates = [*known, CONFIG_ENV_VAR]
    hint = _did_you_mean(var, candidates)
    return f"unknown environment variable {var}{hint}; allowed: {', '.join(sorted(candidates))}"


def _override_layer(overrides: Mapping[str, Any], flag_names: Mapping[str, str]) -> _Layer:
    leaves = _leaf_types()
    flat: dict[str, Any] = {}
    layer = _Layer(kind="flag", data={})
    for key, given in overrides.items():
        if given is None:
            continue
        if key not in leaves:
            hint = _did_you_mean(key, list(leaves))
            raise SettingsError(
                f"unknown setting {key!r}{hint}; allowed: {', '.join(sorted(leaves))}"
            )
        layer.names[key] = flag_names.get(key, f"override {key}")
        layer.raws[key] = given
        value = str(given) if isinstance(given, Path) else given
        if isinstance(value, str) and _is_list(leaves[key]):
            value = [item.strip() for item in value.split(",") if item.strip()]
        flat[key] = value
    layer.data = _nest(flat)
    return layer


def _validate(layer: _Layer) -> dict[str, Any]:
    """Validate one layer on its own and return just the keys it sets, normalised.

    Converting the layer to a full ``Settings`` is the simplest way to get msgspec to check
    it (missing keys take defaults); the result is turned back into builtins and cut down to
    the keys the layer actually set, so defaults never override an earlier layer.
    """
    try:
        settings = msgspec.convert(
            layer.data,
            Settings,
            strict=layer.kind == "file",
            dec_hook=_decoder(layer.base_dir),
        )
    except msgspec.ValidationError as exc:
        raise SettingsError(_explain(str(exc), layer)) from None
    full = msgspec.to_builtins(settings, enc_hook=_encode_revealing)
    return _pick(full, layer.data)


# --------------------------------------------------------------------------------------
# Custom types: Path and Secret are not msgspec natives; these hooks convert them.


def _decoder(base_dir: Path) -> Callable[[type, Any], Any]:
    def dec_hook(type_: type, obj: Any) -> Any:
        if type_ is Path:
            if not isinstance(obj, str):
                raise TypeError("not a string")
            if not obj:
                raise ValueError("empty path")
            return _absolute(Path(obj), base_dir)
        if type_ is Secret:
            if not isinstance(obj, str):
                raise TypeError("not a string")
            return Secret(obj)
        raise NotImplementedError(type_)

    return dec_hook


def _encode_revealing(obj: Any) -> Any:
    # Internal round trip only (layer merging); never used for anything shown to a user.
    if isinstance(obj, Path):
        return str(obj)
    if isinstance(obj, Secret):
        return obj.reveal()
    raise NotImplementedError(type(obj))


def _encode_masked(obj: Any) -> Any:
    if isinstance(obj, Path):
        return str(obj)
    if isinstance(obj, Secret):
        return _MASK
    raise NotImplementedError(type(obj))


def _absolute(path: Path, base_dir: Path) -> Path:
    path = path.expanduser()
    if not path.is_absolute():
        path = base_dir / path
    # abspath, not resolve(): normalise ".." without following symlinks the user chose.
    return Path(os.path.abspath(path))


# --------------------------------------------------------------------------------------
# Error messages. msgspec says e.g. "Expected `float` > 0.0 - at `$.demo.speed`"; the path
# tells us the key, the layer tells us the source and the value, and the type information
# (msgspec.inspect) tells us what is allowed, so the message never drifts from the structs.

_AT_PATH = re.compile(r"(?s)(?P<message>.*?)(?: - at `(?P<path>\$[^`]*)`)?")
_PATH_PART = re.compile(r"\.([^.\[]+)|\[(\d+)\]")
_UNKNOWN_FIELD = re.compile(r"unknown field `(?P<name>[^`]+)`")


def _explain(message: str, layer: _Layer) -> str:
    match = _AT_PATH.fullmatch(message)
    assert match is not None  # the pattern matches any string
    parts: list[str | int] = []
    for name, index in _PATH_PART.findall(match["path"] or ""):
        parts.append(name if name else int(index))
    source = layer.label if layer.kind == "file" else "settings"

    unknown = _UNKNOWN_FIELD.search(match["message"])
    if unknown:
        # Only the file can have unknown keys: env and flag names are checked up front.
        section = [p for p in parts if isinstance(p, str)]
        key = ".".join([*section, unknown["name"]])
        struct = _type_at(section)
        allowed = _field_names(struct) if struct is not None else []
        where = f" in [{'.'.join(section)}]" if section else ""
        hint = _did_you_mean(unknown["name"], allowed)
        return f"{source}: unknown key {key!r}{hint}; allowed keys{where}: {', '.join(allowed)}"

    type_ = _type_at(parts)
    if type_ is None:  # should not happen; keep msgspec's own words rather than guess
        return f"{source}: {message}"

    if layer.kind == "file":
        key = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in parts).lstrip(".")
        value = _value_at(layer.data, parts)
        return f"{source}: {key} = {_show(value)}: {_describe(type_)}"

    # env/flag: report against the whole variable as the user typed it, list or not.
    key = ".".join(p for p in parts if isinstance(p, str))
    name = layer.names.get(key, key)
    whole = _leaf_types().get(key, type_)
    raw = layer.raws.get(key)
    if layer.kind == "env":
        return f"{name}={raw!r}: {_describe(whole, comma_list=True)}"
    if name.startswith("-"):  # a flag: show it as typed on the command line, --speed -2
        shown = shlex.quote(str(raw)) if isinstance(raw, str | Path) else repr(raw)
        return f"{name} {shown}: {_describe(whole)}"
    return f"{name} = {raw!r}: {_describe(whole)}"


def _describe(type_: mi.Type, *, comma_list: bool = False) -> str:
    """'must be ...' for a msgspec type, from its constraints."""
    return "must be " + _noun(type_, comma_list=comma_list)


def _noun(type_: mi.Type, *, comma_list: bool = False) -> str:
    if isinstance(type_, mi.Metadata):
        if type_.extra and "allowed" in type_.extra:
            return str(type_.extra["allowed"])
        type_ = type_.type
    if isinstance(type_, mi.UnionType):
        members = [t for t in type_.types if not isinstance(t, mi.NoneType)]
        if len(members) == 1:
            return _noun(members[0], comma_list=comma_list)
        return " or ".join(_noun(t) for t in members)
    if isinstance(type_, mi.LiteralType):
        return "one of " + _choices(type_)
    if isinstance(type_, mi.IntType):
        return "an integer" + _bounds(type_)
    if isinstance(type_, mi.FloatType):
        return "a number" + _bounds(type_)
    if isinstance(type_, mi.StrType):
        return f"a string matching {type_.pattern}" if type_.pattern else "a string"
    if isinstance(type_, mi.CustomType):
        return "a path" if type_.cls is Path else "a string"
    if isinstance(type_, mi.VarTupleType | mi.ListType):
        kind = "a comma-separated list" if comma_list else "a list"
        item = type_.item_type
        if isinstance(item, mi.LiteralType):
            return f"{kind} of one or more of " + _choices(item)
        return f"{kind} of {_noun(item)}"
    if isinstance(type_, mi.StructType):
        return "a table with keys " + ", ".join(f.name for f in type_.fields)
    return type(type_).__name__


def _choices(type_: mi.LiteralType) -> str:
    # msgspec.inspect sorts Literal values; list them in the order the Literal declares them
    # (the order a user reads in the docs: 'last', 'average'), when we know it.
    values = set(type_.values)
    for declared in (UNDERLYINGS, SOURCES, PRICE_BASES, THEMES, PRICING_MODELS):
        if set(declared) == values:
            return ", ".join(repr(v) for v in declared)
    return ", ".join(repr(v) for v in type_.values)


def _bounds(type_: mi.IntType | mi.FloatType) -> str:
    terms = [
        f"{op} {value:g}"
        for op, value in ((">", type_.gt), (">=", type_.ge), ("<", type_.lt), ("<=", type_.le))
        if value is not None
    ]
    return (" " + " and ".join(terms)) if terms else ""


def _show(value: Any) -> str:
    """A value as the user wrote it in TOML, near enough."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k} = {_show(v)}" for k, v in value.items()) + "}"
    if isinstance(value, datetime.date | datetime.time):  # TOML dates and times, unquoted
        return value.isoformat()
    return repr(value)


def _did_you_mean(word: str, candidates: list[str]) -> str:
    close = difflib.get_close_matches(word, candidates, n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


# --------------------------------------------------------------------------------------
# Type introspection helpers.


@functools.cache
def _settings_type() -> mi.StructType:
    info = mi.type_info(Settings)
    assert isinstance(info, mi.StructType)
    return info


@functools.cache
def _leaf_types() -> dict[str, mi.Type]:
    """Dotted key -> type, for every settable key (``source``, ``demo.seed``, ...)."""
    leaves: dict[str, mi.Type] = {}
    for top in _settings_type().fields:
        if isinstance(top.type, mi.StructType):
            for sub in top.type.fields:
                leaves[f"{top.name}.{sub.name}"] = sub.type
        else:
            leaves[top.name] = top.type
    return leaves


def _type_at(parts: Sequence[str | int]) -> mi.Type | None:
    current: mi.Type = _settings_type()
    for part in parts:
        current = _unwrap(current)
        if isinstance(part, int):
            if not isinstance(current, mi.VarTupleType | mi.ListType):
                return None
            current = current.item_type
            continue
        if not isinstance(current, mi.StructType):
            return None
        match = [f for f in current.fields if f.name == part]
        if not match:
            return None
        current = match[0].type
    return current


def _unwrap(type_: mi.Type) -> mi.Type:
    """Strip ``Annotated`` metadata and ``| None`` to reach the structural type."""
    if isinstance(type_, mi.Metadata):
        type_ = type_.type
    if isinstance(type_, mi.UnionType):
        members = [t for t in type_.types if not isinstance(t, mi.NoneType)]
        if len(members) == 1:
            return _unwrap(members[0])
    return type_


def _field_names(type_: mi.Type) -> list[str]:
    type_ = _unwrap(type_)
    return [f.name for f in type_.fields] if isinstance(type_, mi.StructType) else []


def _is_list(type_: mi.Type) -> bool:
    return isinstance(_unwrap(type_), mi.VarTupleType | mi.ListType)


def _value_at(data: Any, parts: Sequence[str | int]) -> Any:
    for part in parts:
        try:
            data = data[part]
        except (KeyError, IndexError, TypeError):
            return None
    return data


# --------------------------------------------------------------------------------------
# Dict plumbing.


def _nest(flat: Mapping[str, Any]) -> dict[str, Any]:
    """``{"demo.seed": 1}`` -> ``{"demo": {"seed": 1}}``."""
    nested: dict[str, Any] = {}
    for key, value in flat.items():
        head, _, tail = key.partition(".")
        if tail:
            nested.setdefault(head, {})[tail] = value
        else:
            nested[head] = value
    return nested


def _pick(full: Mapping[str, Any], shape: Mapping[str, Any]) -> dict[str, Any]:
    """The entries of ``full`` at the keys present in ``shape`` (recursively for tables)."""
    picked: dict[str, Any] = {}
    for key, value in shape.items():
        if isinstance(value, dict) and isinstance(full.get(key), dict):
            picked[key] = _pick(full[key], value)
        else:
            picked[key] = full[key]
    return picked


def _deep_merge(into: dict[str, Any], other: Mapping[str, Any]) -> None:
    for key, value in other.items():
        if isinstance(value, dict) and isinstance(into.get(key), dict):
            _deep_merge(into[key], value)
        else:
            into[key] = value


# --------------------------------------------------------------------------------------
# Rendering.


def render_toml(settings: Settings, config_path: Path | None = None) -> str:
    """The effective settings as a TOML document, secrets masked (``api_secret = "***"``).

    Unset optional keys are shown as comments, since TOML has no null. The output parses
    with ``tomllib`` and, apart from the masked secret, loads back to the same settings.
    """
    data = msgspec.to_builtins(settings, enc_hook=_encode_masked)
    lines = ["# optui effective settings: defaults < config file < OPTUI_* environment < flags"]
    if config_path is not None:
        state = "" if config_path.exists() else " (not found)"
        lines.append(f"# config file: {config_path}{state}")
    tables = {k: v for k, v in data.items() if isinstance(v, dict)}
    lines += _toml_pairs({k: v for k, v in data.items() if k not in tables})
    for name, table in tables.items():
        lines += ["", f"[{name}]", *_toml_pairs(table)]
    return "\n".join(lines) + "\n"


def _toml_pairs(table: Mapping[str, Any]) -> list[str]:
    return [
        f"# {key} is not set" if value is None else f"{key} = {_toml_value(value)}"
        for key, value in table.items()
    ]


def _toml_value(value: Any) -> str:
    # A tiny emitter: the settings only hold strings, numbers, booleans and flat lists, and
    # writing TOML is not worth a runtime dependency (tomllib only reads).
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value):
            return "nan"
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
        return repr(value)
    if isinstance(value, str):
        return _toml_string(value)
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    raise TypeError(f"cannot write {type(value).__name__} as TOML")


_TOML_ESCAPES = {
    '"': '\\"',
    "\\": "\\\\",
    "\b": "\\b",
    "\t": "\\t",
    "\n": "\\n",
    "\f": "\\f",
    "\r": "\\r",
}


def _toml_string(text: str) -> str:
    out = []
    for char in text:
        if char in _TOML_ESCAPES:
            out.append(_TOML_ESCAPES[char])
        elif ord(char) < 0x20 or ord(char) == 0x7F:  # TOML forbids raw control characters
            out.append(f"\\u{ord(char):04x}")
        else:
            out.append(char)
    return '"' + "".join(out) + '"'
