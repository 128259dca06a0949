"""Setup profiles: every profile is a config file that loads, explains itself, covers every
setting, keeps planned settings commented, and never holds a secret.

Real files in ``tmp_path`` loaded with the real ``load_settings``; the autouse
``isolated_user_dirs`` fixture gives the platform default paths a temporary home.
"""

from __future__ import annotations

import re
import stat
import tomllib
from pathlib import Path

import pytest

from optui.paths import default_cache_dir, default_data_dir, default_log_dir
from optui.settings import UNDERLYINGS, Settings, SettingsError, env_var_names, load_settings
from optui.setup_profiles import PROFILE_SUMMARIES, PROFILES, render_profile, write_profile

# `key = value`, `# key = value` and `# key = value  # (planned) ...`, per the module doc.
SETTING_LINE = re.compile(
    r"^(?P<commented># )?(?P<key>[a-z_]+) = (?P<value>.+?)(?P<planned>  # \(planned\).*)?$"
)
SECTION_LINE = re.compile(r"^\[(?P<name>[a-z_]+)\]$")


def setting_lines(text: str) -> list[tuple[int, str, str, str]]:
    """(line index, dotted key, state, line) for every setting line; state is set, example
    or planned."""
    found = []
    section = ""
    for index, line in enumerate(text.splitlines()):
        if header := SECTION_LINE.match(line):
            section = header["name"]
            continue
        match = SETTING_LINE.match(line)
        if match is None:
            continue
        key = f"{section}.{match['key']}" if section else match["key"]
        state = "planned" if match["planned"] else "example" if match["commented"] else "set"
        found.append((index, key, state, line))
    return found


def load_text(tmp_path: Path, text: str, name: str = "config.toml") -> Settings:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return load_settings(path, env={})


def uncomment(text: str, indexes: set[int]) -> str:
    """``text`` with the setting lines at ``indexes`` uncommented (any planned note cut)."""
    lines = text.splitlines()
    for index in indexes:
        match = SETTING_LINE.match(lines[index])
        assert match is not None
        lines[index] = f"{match['key']} = {match['value']}"
    return "\n".join(lines) + "\n"


# --- every profile loads, and says what it means to ------------------------------------------


def test_profiles_are_the_three_documented_ones() -> None:
    assert PROFILES == ("first-time", "development", "production")
    assert set(PROFILE_SUMMARIES) == set(PROFILES)


@pytest.mark.parametrize("profile", PROFILES)
def test_every_profile_is_valid_toml_that_loads(tmp_path: Path, profile: str) -> None:
    text = render_profile(profile)
    tomllib.loads(text)
    load_text(tmp_path, text)  # raises SettingsError on any invalid or unknown key


def test_first_time_is_the_small_demo(tmp_path: Path) -> None:
    settings = load_text(tmp_path, render_profile("first-time"))
    assert settings.source == "demo"
    assert settings.underlyings == ("NIFTY", "BANKNIFTY")
    assert settings.demo.instruments == 1000
    # Everything else stays at the defaults a newcomer expects.
    assert settings.data_dir == default_data_dir()
    assert settings.kite.api_key is None
    assert settings.kite.api_secret is None
    assert settings.store.sync is True


def test_development_is_live_kite_with_defaults_elsewhere(tmp_path: Path) -> None:
    settings = load_text(tmp_path, render_profile("development"))
    assert settings.source == "kite"
    assert settings.underlyings == UNDERLYINGS
    assert settings.kite.redirect_url == "http://127.0.0.1:5000/success"
    assert settings.data_dir == default_data_dir()


def test_production_pins_paths_and_is_durable(tmp_path: Path) -> None:
    text = render_profile("production")
    settings = load_text(tmp_path, text)
    assert settings.source == "kite"
    assert settings.underlyings == UNDERLYINGS
    assert settings.store.sync is True
    assert settings.store.roll_interval == 60.0
    # Pinned as written values, not left to whatever HOME the service runs with.
    set_keys = {key: line for _, key, state, line in setting_lines(text) if state == "set"}
    for key, default in (
        ("data_dir", default_data_dir()),
        ("cache_dir", default_cache_dir()),
        ("log_dir", default_log_dir()),
    ):
        assert key in set_keys
        assert getattr(settings, key) == default


# --- every setting is there, explained ------------------------------------------------------


@pytest.mark.parametrize("profile", PROFILES)
def test_every_setting_appears_once_set_or_as_an_example(profile: str) -> None:
    """A profile documents the whole configuration: a new setting must be added to it."""
    lines = setting_lines(render_profile(profile))
    shown = [key for _, key, state, _ in lines if state != "planned"]
    assert sorted(shown) == sorted(env_var_names().values())


def comment_above(lines: list[str], index: int) -> str:
    """The prose comment block right above line ``index``, joined into one string."""
    start = index
    while (
        start > 0 and lines[start - 1].startswith("# ") and not SETTING_LINE.match(lines[start - 1])
    ):
        start -= 1
    return " ".join(line[2:] for line in lines[start:index])


@pytest.mark.parametrize("profile", PROFILES)
def test_every_setting_line_has_a_comment_above_it(profile: str) -> None:
    text = render_profile(profile)
    for index, key, _, _ in setting_lines(text):
        assert len(comment_above(text.splitlines(), index)) > 15, key


@pytest.mark.parametrize("profile", PROFILES)
def test_a_profile_says_why_for_the_values_it_sets(profile: str) -> None:
    # Each value the profile sets (other than redirect_url, the same everywhere) has a
    # comment that names the profile, i.e. a reason of its own, not only the generic text.
    text = render_profile(profile)
    lines = text.splitlines()
    label = {"first-time": "First time:", "development": "Development:"}.get(profile, "Production:")
    for index, key, state, _ in setting_lines(text):
        if state != "set" or key == "kite.redirect_url":
            continue
        assert label in comment_above(lines, index), key


@pytest.mark.parametrize("profile", PROFILES)
def test_uncommenting_every_optional_line_still_loads(tmp_path: Path, profile: str) -> None:
    text = render_profile(profile)
    examples = {index for index, _, state, _ in setting_lines(text) if state == "example"}
    assert examples
    settings = load_text(tmp_path, uncomment(text, examples))
    assert settings.kite.api_key == "your-api-key"  # the placeholders are well-formed too


@pytest.mark.parametrize("profile", PROFILES)
def test_planned_lines_are_not_settings_yet(tmp_path: Path, profile: str) -> None:
    """Planned lines must stay commented: each, uncommented, is an unknown key today. When
    optui gains the setting, this fails, as a reminder to turn the line into a real one."""
    text = render_profile(profile)
    for index, key, state, _ in setting_lines(text):
        if state != "planned":
            continue
        with pytest.raises(SettingsError, match="unknown key"):
            load_text(tmp_path, uncomment(text, {index}))
        assert key not in env_var_names().values()


def test_the_planned_wishes_are_where_the_issue_wants_them() -> None:
    def planned(profile: str) -> set[str]:
        lines = setting_lines(render_profile(profile))
        return {key for _, key, state, _ in lines if state == "planned"}

    assert planned("first-time") == set()
    assert "log_level" in planned("development")
    assert {"log_level", "log_format"} <= planned("production")


@pytest.mark.parametrize("profile", PROFILES)
def test_comment_lines_fit_in_100_columns(profile: str) -> None:
    for line in render_profile(profile).splitlines():
        if line.startswith("#") and not SETTING_LINE.match(line):
            assert len(line) <= 100, line


# --- secrets ------------------------------------------------------------------------------------


@pytest.mark.parametrize("profile", PROFILES)
def test_credentials_are_commented_placeholders_pointing_at_the_environment(
    profile: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Real-looking credentials in the environment must not leak into the file.
    monkeypatch.setenv("KITE_API_KEY", "fakekey0123456789")
    monkeypatch.setenv("KITE_API_SECRET", "fakesecret0123456789")
    text = render_profile(profile)
    states = {key: state for _, key, state, _ in setting_lines(text)}
    assert states["kite.api_key"] == "example"
    assert states["kite.api_secret"] == "example"
    assert "KITE_API_KEY" in text
    assert "export KITE_API_SECRET=" in text
    assert "fakekey0123456789" not in text
    assert "fakesecret0123456789" not in text


def test_a_path_with_quotes_and_backslashes_survives(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Windows paths are full of backslashes; a home folder may hold a quote. The production
    # profile writes such paths as TOML strings, which must round-trip exactly.
    odd = tmp_path / 'we"ird\\data\tdir'
    monkeypatch.setenv("XDG_DATA_HOME", str(odd))
    settings = load_text(tmp_path, render_profile("production"))
    assert settings.data_dir == odd / "optui"


def test_unknown_profile_is_refused() -> None:
    with pytest.raises(ValueError, match="first-time, development, production"):
        render_profile("prod")


# --- writing ------------------------------------------------------------------------------------


def test_write_profile_creates_folders_and_a_private_file(tmp_path: Path) -> None:
    path = tmp_path / "a" / "b" / "config.toml"
    assert write_profile("first-time", path) == path
    assert path.read_text(encoding="utf-8") == render_profile("first-time")
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert load_settings(path, env={}).source == "demo"
    # Atomic write: no temporary file is left beside it.
    assert [p.name for p in path.parent.iterdir()] == ["config.toml"]


def test_write_profile_refuses_to_overwrite_without_force(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_text("# mine\n", encoding="utf-8")
    with pytest.raises(FileExistsError, match="--force") as info:
        write_profile("production", path)
    assert str(path) in str(info.value)
    assert path.read_text(encoding="utf-8") == "# mine\n"

    write_profile("production", path, force=True)
    assert load_settings(path, env={}).source == "kite"


def test_write_profile_refuses_a_folder(tmp_path: Path) -> None:
    with pytest.raises(IsADirectoryError):
        write_profile("first-time", tmp_path, force=True)


def test_write_profile_with_an_unknown_profile_writes_nothing(tmp_path: Path) -> None:
    path = tmp_path / "new" / "config.toml"
    with pytest.raises(ValueError, match="unknown profile"):
        write_profile("staging", path)
    assert not path.parent.exists()


def test_setup_profiles_does_not_import_textual() -> None:
    import subprocess  # noqa: PLC0415
    import sys  # noqa: PLC0415

    code = (
        "import sys, optui.setup_profiles, optui.doctor\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('textual', 'rich')))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    assert out.strip() == "[]"
