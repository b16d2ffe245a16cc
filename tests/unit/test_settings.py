"""Settings: defaults < TOML file < environment < flags, with errors that name the source.

The controller and the agent load their settings the same way (numaplane.common.settings); these
tests drive load_settings with the real settings classes, a real TOML file and an
explicit environment mapping (never the process environment).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path

import pytest

from numaplane.common.settings import SettingsError, field_docs, load_settings
from numaplane.controller.settings import ControllerSettings
from numaplane.controller.store.settings import EtcdSettings
from numaplane.hostagent.settings import AgentSettings

CTL = "NUMAPLANE_CONTROLLER_"
AGENT = "NUMAPLANE_AGENT_"


def toml(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "settings.toml"
    path.write_text(text)
    return path


def load_ctl(
    config: Path | None = None,
    environ: dict[str, str] | None = None,
    flags: dict[str, object] | None = None,
) -> ControllerSettings:
    return load_settings(ControllerSettings, config_file=config, env_prefix=CTL,
                         environ=environ or {}, flags=flags)


# -- precedence ---------------------------------------------------------------------


def test_each_source_overrides_the_one_before(tmp_path: Path) -> None:
    config = toml(tmp_path, "report_interval_s = 7.0\nlog_level = 'DEBUG'\n")
    env = {CTL + "REPORT_INTERVAL_S": "8", CTL + "KEEPALIVE_S": "3"}
    flags: dict[str, object] = {"report_interval_s": "9"}
    assert load_ctl().report_interval_s == 5.0
    assert load_ctl(config).report_interval_s == 7.0
    assert load_ctl(config, env).report_interval_s == 8.0
    s = load_ctl(config, env, flags)
    assert s.report_interval_s == 9.0
    # Fields set by only one source keep that source's value.
    assert (s.log_level, s.keepalive_s) == ("DEBUG", 3.0)
    assert s.max_message_bytes == ControllerSettings.max_message_bytes


def test_flags_given_as_none_are_unset() -> None:
    s = load_ctl(environ={CTL + "MONITOR_PORT": "30001"}, flags={"monitor_port": None})
    assert s.monitor_port == 30001


def test_environment_names_are_prefix_plus_upper_case_field(tmp_path: Path) -> None:
    env = {
        AGENT + "HOST": "hv-7",
        AGENT + "REPORT_INTERVAL_S": "2.5",
        "NUMAPLANE_CONTROLLER": "10.0.0.5:7070",  # the CLI's variable: not an agent setting
        "OTHER_HOST": "ignored",
    }
    s = load_settings(AgentSettings, env_prefix=AGENT, environ=env)
    assert (s.host, s.report_interval_s) == ("hv-7", 2.5)


def test_toml_keys_may_use_dashes(tmp_path: Path) -> None:
    s = load_ctl(toml(tmp_path, "host-lease-ttl-s = 4\n"))
    assert s.host_lease_ttl_s == 4


# -- errors name the source and the field -------------------------------------------


def test_unknown_key_in_the_file_names_file_and_key(tmp_path: Path) -> None:
    config = toml(tmp_path, "report_interval = 5\n")
    with pytest.raises(SettingsError, match=rf"^{config}: unknown setting 'report_interval'$"):
        load_ctl(config)


def test_unknown_flag_is_an_error() -> None:
    with pytest.raises(SettingsError, match=r"^flag: unknown setting 'colour'$"):
        load_ctl(flags={"colour": "blue"})


@pytest.mark.parametrize(
    ("source", "field", "value", "message"),
    [
        ("file", "host_lease_ttl_s", "'ten'", r"{file}: host_lease_ttl_s: expected int, got 'ten'"),
        ("env", "report_interval_s", "fast", r"environment: report_interval_s: expected float"),
        ("flag", "monitor", "maybe", r"flag: monitor: expected true/false, got 'maybe'"),
        ("env", "max_message_bytes", "4.5", r"environment: max_message_bytes: expected int"),
    ],
)
def test_bad_value_names_source_and_field(
    tmp_path: Path, source: str, field: str, value: str, message: str
) -> None:
    config = toml(tmp_path, f"{field} = {value}\n") if source == "file" else None
    env = {CTL + field.upper(): value} if source == "env" else {}
    flags: dict[str, object] = {field: value} if source == "flag" else {}
    with pytest.raises(SettingsError, match=message.format(file=tmp_path / "settings.toml")):
        load_ctl(config, env, flags)


@pytest.mark.parametrize("value", ["2.5", "true"])
def test_an_int_field_refuses_fractions_and_booleans_from_toml(
    tmp_path: Path, value: str
) -> None:
    """TOML has typed numbers: 2.5 for a whole number of seconds is a mistake to report,
    not to truncate to 2 (nor is `true` a TTL of 1)."""
    with pytest.raises(SettingsError, match="host_lease_ttl_s: expected int"):
        load_ctl(toml(tmp_path, f"host_lease_ttl_s = {value}\n"))


def test_a_whole_float_is_accepted_for_an_int(tmp_path: Path) -> None:
    assert load_ctl(toml(tmp_path, "host_lease_ttl_s = 12.0\n")).host_lease_ttl_s == 12


def test_missing_and_malformed_files(tmp_path: Path) -> None:
    with pytest.raises(SettingsError, match="does not exist"):
        load_ctl(tmp_path / "absent.toml")
    bad = toml(tmp_path, "report_interval_s = \n")
    with pytest.raises(SettingsError, match=rf"^config file {bad}: "):
        load_ctl(bad)


# -- coercion -----------------------------------------------------------------------


def test_tuple_from_a_comma_separated_string_or_a_toml_list(tmp_path: Path) -> None:
    env = load_ctl(environ={CTL + "ETCD_ENDPOINTS": "10.0.0.1:2379, 10.0.0.2:2379,"})
    assert env.etcd_endpoints == ("10.0.0.1:2379", "10.0.0.2:2379")
    listed = load_ctl(toml(tmp_path, "etcd_endpoints = ['a:1', 'b:2']\n"))
    assert listed.etcd_endpoints == ("a:1", "b:2")


def test_optional_path_from_text_and_back_to_none(tmp_path: Path) -> None:
    s = load_ctl(environ={CTL + "ETCD_CA_FILE": "/etc/etcd/ca.pem"})
    assert s.etcd_ca_file == Path("/etc/etcd/ca.pem")
    for unset in ("", "none", "NULL"):
        config = toml(tmp_path, "etcd_ca_file = '/x.pem'\n")
        cleared = load_ctl(config, {CTL + "ETCD_CA_FILE": unset})
        assert cleared.etcd_ca_file is None


def test_path_and_optional_str(tmp_path: Path) -> None:
    agent = load_settings(AgentSettings, env_prefix=AGENT,
                          environ={AGENT + "SYSFS_ROOT": "/tmp/sys", AGENT + "STATE_DIR": "/var/x"})
    assert agent.sysfs_root == Path("/tmp/sys")
    assert agent.state_dir == Path("/var/x")
    ctl = load_ctl(toml(tmp_path, "etcd_username = 'root'\n"))
    assert ctl.etcd_username == "root"


@pytest.mark.parametrize(
    ("text", "expected"),
    [("1", True), ("true", True), ("Yes", True), ("on", True),
     ("0", False), ("false", False), ("NO", False), ("off", False)],
)
def test_bool_words(text: str, expected: bool) -> None:
    assert load_ctl(environ={CTL + "MONITOR": text}).monitor is expected


def test_bool_from_toml_and_flags(tmp_path: Path) -> None:
    assert load_ctl(toml(tmp_path, "monitor = true\n")).monitor is True
    assert load_ctl(flags={"monitor": False}).monitor is False


# -- every field documents itself ---------------------------------------------------


@pytest.mark.parametrize("cls", [ControllerSettings, AgentSettings, EtcdSettings])
def test_every_setting_has_a_docstring(cls: type) -> None:
    """`--help`, the README and the config reference come from these docstrings: a field
    added without one fails here."""
    docs = field_docs(cls)
    names = [f.name for f in dataclasses.fields(cls)]
    missing = [n for n in names if not docs.get(n, "").strip()]
    assert not missing, f"{cls.__name__}: fields without a docstring: {missing}"
    assert set(docs) == set(names)


def test_field_docs_joins_lines_and_notices_a_missing_docstring() -> None:
    @dataclass(frozen=True)
    class Example:
        documented: int = 1
        """Spread over
        two lines."""
        undocumented: str = "x"
        last: bool = False
        """Last."""

    assert field_docs(Example) == {"documented": "Spread over two lines.", "last": "Last."}


def test_a_misspelled_environment_variable_is_refused_not_ignored() -> None:
    with pytest.raises(SettingsError, match="NUMAPLANE_CONTROLLER_ETCD_ENDPOINT"):
        load_settings(ControllerSettings, env_prefix="NUMAPLANE_CONTROLLER_",
                      environ={"NUMAPLANE_CONTROLLER_ETCD_ENDPOINT": "x:1"})
