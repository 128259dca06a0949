"""Settings: sources and their precedence, validation messages, secrets, private files.

Real TOML files in ``tmp_path`` and real environment mappings (``env=``); the autouse
``isolated_user_dirs`` fixture keeps the user's own folders out of reach.
"""

from __future__ import annotations

import stat
import tomllib
from pathlib import Path

import msgspec
import pytest

from optui.settings import (
    UNDERLYINGS,
    Secret,
    Settings,
    SettingsError,
    config_file,
    env_var_names,
    load_settings,
    render_toml,
    write_private,
)


def write_config(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "config.toml"
    path.write_text(text, encoding="utf-8")
    return path


def load_error(tmp_path: Path, toml: str | None = None, env: dict[str, str] | None = None) -> str:
    """The message of the SettingsError raised for this config file text / environment."""
    path = write_config(tmp_path, toml) if toml is not None else None
    with pytest.raises(SettingsError) as info:
        load_settings(path, env=env or {})
    return str(info.value)


# --- defaults and locations ---------------------------------------------------------------


def test_defaults_without_any_config(isolated_user_dirs: Path) -> None:
    # env={} hides OPTUI_CONFIG, so the platform default location is used; it has no file.
    settings = load_settings(env={})
    assert settings == Settings()
    assert settings.source == "demo"
    assert settings.underlyings == UNDERLYINGS
    assert settings.price == "last"
    assert settings.demo.seed == 7
    assert settings.demo.speed == 1.0
    assert settings.demo.instruments is None
    assert settings.kite.api_url == "https://api.kite.trade"
    assert settings.kite.ws_url == "wss://ws.kite.trade"
    assert settings.analytics.model == "black76"
    assert settings.analytics.rate == 0.0
    assert settings.analytics.expiry_time == "15:30"
    # platformdirs locations, which the fixture moved under a temporary home
    assert settings.data_dir == isolated_user_dirs / ".local/share/optui"
    assert settings.cache_dir == isolated_user_dirs / ".cache/optui"
    assert settings.log_dir.is_relative_to(isolated_user_dirs)


def test_default_config_file_is_in_user_config_dir(isolated_user_dirs: Path) -> None:
    assert config_file(env={}) == isolated_user_dirs / ".config/optui/config.toml"


def test_default_config_file_is_read_when_present(isolated_user_dirs: Path) -> None:
    default = isolated_user_dirs / ".config/optui/config.toml"
    default.write_text('source = "replay"\n', encoding="utf-8")
    assert load_settings(env={}).source == "replay"


def test_optui_config_selects_the_file_and_config_path_beats_it(tmp_path: Path) -> None:
    by_env = tmp_path / "env.toml"
    by_env.write_text("[demo]\nseed = 11\n", encoding="utf-8")
    by_flag = tmp_path / "flag.toml"
    by_flag.write_text("[demo]\nseed = 12\n", encoding="utf-8")
    env = {"OPTUI_CONFIG": str(by_env)}
    assert load_settings(env=env).demo.seed == 11
    assert load_settings(by_flag, env=env).demo.seed == 12
    assert config_file(env=env) == by_env
    assert config_file(by_flag, env=env) == by_flag


@pytest.mark.parametrize("chosen_by", ["--config", "OPTUI_CONFIG"])
def test_missing_explicit_config_file_is_an_error(tmp_path: Path, chosen_by: str) -> None:
    missing = tmp_path / "nope.toml"
    with pytest.raises(SettingsError) as info:
        if chosen_by == "--config":
            load_settings(missing, env={})
        else:
            load_settings(env={"OPTUI_CONFIG": str(missing)})
    message = str(info.value)
    assert str(missing) in message
    assert "not found" in message
    assert chosen_by in message


def test_settings_are_frozen() -> None:
    settings = Settings()
    with pytest.raises(AttributeError):
        settings.source = "kite"  # type: ignore[misc]


# --- precedence -----------------------------------------------------------------------------


def test_precedence_defaults_file_env_flags(tmp_path: Path) -> None:
    path = write_config(
        tmp_path,
        'source = "replay"\nprice = "average"\n'
        "[demo]\nseed = 1\nspeed = 2.0\ntick_interval = 0.5\n",
    )
    env = {"OPTUI_DEMO__SEED": "2", "OPTUI_DEMO__SPEED": "4", "OPTUI_PRICE": "last"}
    settings = load_settings(path, env=env, overrides={"demo.seed": 3})
    assert settings.demo.seed == 3  # flag beats env beats file
    assert settings.demo.speed == 4.0  # env beats file
    assert settings.price == "last"  # env beats file
    assert settings.source == "replay"  # file beats default
    assert settings.demo.tick_interval == 0.5  # file, untouched by later layers
    assert settings.theme == "dark"  # default
    # A later layer setting one key of a table leaves the table's other keys alone.
    assert settings.demo.instruments is None


def test_override_none_is_skipped(tmp_path: Path) -> None:
    path = write_config(tmp_path, 'source = "kite"\n')
    settings = load_settings(path, env={}, overrides={"source": None, "demo.seed": None})
    assert settings.source == "kite"
    assert settings.demo.seed == 7


def test_env_strings_are_converted() -> None:
    env = {
        "OPTUI_DEMO__SEED": "42",
        "OPTUI_DEMO__SPEED": "2.5",
        "OPTUI_DEMO__INSTRUMENTS": "300",
        "OPTUI_ANALYTICS__RATE": "0.065",
        "OPTUI_ANALYTICS__MODEL": "nse-black-scholes",
        "OPTUI_SOURCE": "kite",
        "OPTUI_THEME": "light",
        "OPTUI_KITE__API_URL": "http://127.0.0.1:8000",
        "OPTUI_UNDERLYINGS": " NIFTY, BANKNIFTY ,",
    }
    settings = load_settings(env=env)
    assert settings.demo.seed == 42
    assert isinstance(settings.demo.seed, int)
    assert settings.demo.speed == 2.5
    assert settings.demo.instruments == 300
    assert settings.analytics.rate == 0.065
    assert settings.analytics.model == "nse-black-scholes"
    assert settings.source == "kite"
    assert settings.theme == "light"
    assert settings.kite.api_url == "http://127.0.0.1:8000"
    assert settings.underlyings == ("NIFTY", "BANKNIFTY")


def test_file_values_are_strict(tmp_path: Path) -> None:
    # The file is typed TOML: a quoted number is a mistake worth reporting, not converting.
    message = load_error(tmp_path, '[demo]\nseed = "7"\n')
    assert "demo.seed = '7'" in message
    assert "must be an integer" in message


def test_empty_env_value_counts_as_unset(tmp_path: Path) -> None:
    path = write_config(tmp_path, 'source = "kite"\n')
    assert load_settings(path, env={"OPTUI_SOURCE": ""}).source == "kite"


def test_kite_conventional_env_names() -> None:
    settings = load_settings(env={"KITE_API_KEY": "key1", "KITE_API_SECRET": "sec1"})
    assert settings.kite.api_key == "key1"
    assert settings.kite.api_secret == Secret("sec1")
    both = {"KITE_API_KEY": "key1", "OPTUI_KITE__API_KEY": "key2"}
    assert load_settings(env=both).kite.api_key == "key2"  # the optui spelling wins


def test_env_var_names_cover_every_key() -> None:
    names = env_var_names()
    assert names["OPTUI_DATA_DIR"] == "data_dir"
    assert names["OPTUI_SOURCE"] == "source"
    assert names["OPTUI_UNDERLYINGS"] == "underlyings"
    assert names["OPTUI_DEMO__SEED"] == "demo.seed"
    assert names["OPTUI_KITE__API_URL"] == "kite.api_url"
    assert names["OPTUI_ANALYTICS__RATE"] == "analytics.rate"
    # one variable per leaf of the struct tree
    leaves = msgspec.to_builtins(Settings(), enc_hook=str)
    count = sum(len(v) if isinstance(v, dict) else 1 for v in leaves.values())
    assert len(names) == count


# --- paths ----------------------------------------------------------------------------------


def test_paths_are_expanded_and_absolute(
    tmp_path: Path, isolated_user_dirs: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    conf_dir = tmp_path / "conf"
    conf_dir.mkdir()
    path = conf_dir / "config.toml"
    path.write_text('data_dir = "~/ticks"\ncache_dir = "rel/cache"\n', encoding="utf-8")
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    settings = load_settings(path, env={"OPTUI_LOG_DIR": "logs/../logs2"})
    assert settings.data_dir == isolated_user_dirs / "ticks"  # HOME is the fixture's
    assert settings.cache_dir == conf_dir / "rel/cache"  # relative to the config file
    assert settings.log_dir == work / "logs2"  # relative to the current directory
    flagged = load_settings(path, env={}, overrides={"data_dir": "d"})
    assert flagged.data_dir == work / "d"


def test_empty_path_is_rejected(tmp_path: Path) -> None:
    message = load_error(tmp_path, 'data_dir = ""\n')
    assert "data_dir = ''" in message
    assert "must be a path" in message


# --- validation messages --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("toml", "expected"),
    [
        ("[demo]\nspeed = -2\n", ["demo.speed = -2", "must be a number > 0"]),
        ("[demo]\ntick_interval = 0\n", ["demo.tick_interval = 0", "> 0"]),
        ("[demo]\nseed = -1\n", ["demo.seed = -1", "must be an integer >= 0"]),
        ("[demo]\ninstruments = 0\n", ["demo.instruments = 0", ">= 1"]),
        ('price = "mid"\n', ["price = 'mid'", "must be one of 'last', 'average'"]),
        ('source = "live"\n', ["source = 'live'", "'demo', 'kite', 'replay'"]),
        ('theme = "blue"\n', ["theme = 'blue'", "'dark', 'light'"]),
        (
            'underlyings = ["NIFTY", "NIFTI"]\n',
            ["underlyings[1] = 'NIFTI'", "'NIFTY', 'BANKNIFTY', 'FINNIFTY', 'MIDCPNIFTY'"],
        ),
        ("underlyings = []\n", ["underlyings = []", "list of one or more of"]),
        ('underlyings = "NIFTY"\n', ["underlyings = 'NIFTY'", "must be a list"]),
        ("[analytics]\nrate = 0.5\n", ["analytics.rate = 0.5", ">= -0.05 and <= 0.25"]),
        ('[analytics]\nmodel = "bs"\n', ["analytics.model = 'bs'", "'black76'"]),
        ('[analytics]\nexpiry_time = "3:30pm"\n', ["expiry_time = '3:30pm'", "HH:MM"]),
        ('[kite]\nws_url = "ws.kite.trade"\n', ["kite.ws_url = 'ws.kite.trade'", "ws(s)://"]),
        ("demo = 3\n", ["demo = 3", "must be a table with keys seed, tick_interval"]),
        ("data_dir = 5\n", ["data_dir = 5", "must be a path"]),
    ],
)
def test_file_validation_names_file_key_value_and_allowed(
    tmp_path: Path, toml: str, expected: list[str]
) -> None:
    message = load_error(tmp_path, toml)
    assert message.startswith(str(tmp_path / "config.toml") + ": ")
    for part in expected:
        assert part in message


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({"OPTUI_PRICE": "mid"}, "OPTUI_PRICE='mid': must be one of 'last', 'average'"),
        ({"OPTUI_DEMO__SEED": "seven"}, "OPTUI_DEMO__SEED='seven': must be an integer >= 0"),
        ({"OPTUI_DEMO__SPEED": "-1"}, "OPTUI_DEMO__SPEED='-1': must be a number > 0"),
        ({"OPTUI_ANALYTICS__RATE": "7"}, "OPTUI_ANALYTICS__RATE='7': must be a number >= -0.05"),
        (
            {"OPTUI_UNDERLYINGS": "NIFTY,nifty"},
            "OPTUI_UNDERLYINGS='NIFTY,nifty': must be a comma-separated list of one or more of",
        ),
        ({"KITE_API_KEY": "k", "OPTUI_KITE__API_URL": "ftp://x"}, "OPTUI_KITE__API_URL='ftp://x'"),
    ],
)
def test_env_validation_names_variable_value_and_allowed(
    tmp_path: Path, env: dict[str, str], expected: str
) -> None:
    assert expected in load_error(tmp_path, env=env)


def test_flag_validation_names_flag_value_and_allowed() -> None:
    with pytest.raises(SettingsError) as info:
        load_settings(
            env={}, overrides={"demo.speed": "-2"}, override_names={"demo.speed": "--speed"}
        )
    assert str(info.value) == "--speed -2: must be a number > 0 and <= 1000"
    with pytest.raises(SettingsError, match=r"override demo\.seed = 'x': must be an integer"):
        load_settings(env={}, overrides={"demo.seed": "x"})


def test_unknown_override_key_is_rejected() -> None:
    with pytest.raises(SettingsError, match=r"unknown setting 'demo\.sede'.*'demo\.seed'"):
        load_settings(env={}, overrides={"demo.sede": 1})


def test_unknown_top_level_key_is_rejected_with_allowed_keys(tmp_path: Path) -> None:
    message = load_error(tmp_path, 'data_dri = "/x"\n')
    assert "unknown key 'data_dri'" in message
    assert "did you mean 'data_dir'" in message
    for allowed in ("data_dir", "cache_dir", "log_dir", "source", "underlyings", "demo"):
        assert allowed in message


def test_unknown_key_in_section_is_rejected_with_section_keys(tmp_path: Path) -> None:
    message = load_error(tmp_path, "[demo]\nsped = 2\n")
    assert "unknown key 'demo.sped'" in message
    assert "allowed keys in [demo]: seed, tick_interval, speed, instruments" in message


def test_unknown_section_is_rejected(tmp_path: Path) -> None:
    message = load_error(tmp_path, "[dmeo]\nseed = 2\n")
    assert "unknown key 'dmeo'" in message
    assert "did you mean 'demo'" in message


def test_unknown_optui_env_var_is_rejected() -> None:
    with pytest.raises(SettingsError) as info:
        load_settings(env={"OPTUI_DEMO_SEED": "3"})
    message = str(info.value)
    assert "unknown environment variable OPTUI_DEMO_SEED" in message
    assert "did you mean 'OPTUI_DEMO__SEED'" in message


def test_other_env_vars_are_ignored(tmp_path: Path) -> None:
    config = write_config(tmp_path, "")
    env = {"OPTUI_CONFIG": str(config), "PATH": "/bin", "KITE_SOMETHING": "x"}
    assert load_settings(env=env) == Settings()


@pytest.mark.parametrize(
    ("toml", "line"),
    [('source = "demo"\nprice = \n', 2), ("[demo]\nseed = 1\nseed = 2\n", 3), ("[demo\n", 1)],
)
def test_invalid_toml_reports_file_and_line(tmp_path: Path, toml: str, line: int) -> None:
    message = load_error(tmp_path, toml)
    assert message.startswith(f"{tmp_path / 'config.toml'}:{line}:")
    assert "invalid TOML" in message


def test_non_utf8_config_is_reported(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_bytes(b'source = "\xff"\n')
    with pytest.raises(SettingsError, match="not UTF-8"):
        load_settings(path, env={})


def test_settings_error_is_a_value_error() -> None:
    assert issubclass(SettingsError, ValueError)


# --- secrets --------------------------------------------------------------------------------

SECRET = "s3cr3t-value-9f2"


def test_secret_is_masked_everywhere_but_reveal(tmp_path: Path) -> None:
    path = write_config(tmp_path, f'[kite]\napi_key = "abc"\napi_secret = "{SECRET}"\n')
    settings = load_settings(path, env={})
    secret = settings.kite.api_secret
    assert secret is not None
    assert secret.reveal() == SECRET
    for shown in (repr(settings), str(settings), repr(settings.kite), str(secret), f"{secret}"):
        assert SECRET not in shown
    assert "***" in repr(settings.kite)
    rendered = render_toml(settings)
    assert SECRET not in rendered
    assert tomllib.loads(rendered)["kite"]["api_secret"] == "***"
    assert tomllib.loads(rendered)["kite"]["api_key"] == "abc"  # only the secret is masked


def test_secret_from_env_survives_merging() -> None:
    settings = load_settings(env={"OPTUI_KITE__API_SECRET": SECRET})
    assert settings.kite.api_secret is not None
    assert settings.kite.api_secret.reveal() == SECRET


def test_secret_equality_and_hash() -> None:
    assert Secret("a") == Secret("a")
    assert Secret("a") != Secret("b")
    assert hash(Secret("a")) == hash(Secret("a"))
    assert Secret("a") != "a"


# --- rendering ------------------------------------------------------------------------------


def test_render_round_trips_through_tomllib(tmp_path: Path) -> None:
    env = {
        "OPTUI_UNDERLYINGS": "NIFTY,SENSEX",
        "OPTUI_DEMO__INSTRUMENTS": "50",
        "OPTUI_ANALYTICS__RATE": "0.07",
        "OPTUI_DATA_DIR": str(tmp_path / 'odd "name" \\ dir'),
        "OPTUI_KITE__API_KEY": "key",
    }
    settings = load_settings(env=env)
    rendered = render_toml(settings, config_path=tmp_path / "config.toml")
    tomllib.loads(rendered)  # parses
    again = write_config(tmp_path, rendered)
    assert load_settings(again, env={}) == settings


def test_render_names_config_file_and_dirs(tmp_path: Path) -> None:
    settings = load_settings(env={})
    missing = tmp_path / "missing.toml"
    rendered = render_toml(settings, config_path=missing)
    assert f"# config file: {missing} (not found" in rendered
    data = tomllib.loads(rendered)
    assert data["data_dir"] == str(settings.data_dir)
    assert data["cache_dir"] == str(settings.cache_dir)
    assert data["log_dir"] == str(settings.log_dir)
    assert "api_secret" not in data["kite"]  # unset optional keys are comments


# --- private files --------------------------------------------------------------------------


def test_write_private_is_owner_only_and_atomic(tmp_path: Path) -> None:
    target = tmp_path / "new" / "token.json"
    write_private(target, b"one")
    assert target.read_bytes() == b"one"
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    # Replacing a file that had wider permissions still ends owner-only.
    target.chmod(0o644)
    write_private(target, b"two")
    assert target.read_bytes() == b"two"
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    assert sorted(p.name for p in target.parent.iterdir()) == ["token.json"]  # no temp left
