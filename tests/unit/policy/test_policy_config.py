"""The cluster policy record: defaults, key=value changes validated as a whole."""

from __future__ import annotations

import json

import pytest

from numaplane.common.units import MiB
from numaplane.controller.policy.config import (
    PolicyError,
    apply_changes,
    balloon_settings,
    decode_policy,
    default_policy,
    encode_policy,
    keys,
    policy_json,
)


def test_defaults_are_moms_thresholds_with_a_relief_band() -> None:
    p = decode_policy(None)
    assert p == default_policy()
    assert p.default_placement == "numaplane"
    b = balloon_settings(p)
    assert (b.pressure_free_fraction, b.critical_free_fraction) == (0.20, 0.05)
    assert b.relief_free_fraction > b.pressure_free_fraction
    assert b.enabled


def test_explicit_zero_and_false_survive_a_round_trip() -> None:
    changed = apply_changes(default_policy(), {"balloon.enabled": "off", "balloon.idle_tax": "0"})
    back = decode_policy(encode_policy(changed))
    assert back.balloon.enabled is False
    assert back.balloon.idle_tax == 0.0
    assert back == changed


def test_a_partial_record_keeps_the_defaults_of_what_it_lacks() -> None:
    p = decode_policy(json.dumps({"balloon": {"relief_free_fraction": 0.4}}))
    assert p.balloon.relief_free_fraction == 0.4
    assert p.balloon.pressure_free_fraction == 0.2
    assert p.balloon.enabled


def test_values_parse_by_type() -> None:
    p = apply_changes(
        default_policy(),
        {
            "balloon.pressure_free_fraction": "15%",
            "balloon.max_step_bytes": "1G",
            "balloon.min_change_bytes": "32M",
            "rebalance.bandwidth_mib_s": "256",
            "default_placement": "xen",
        },
    )
    assert p.balloon.pressure_free_fraction == pytest.approx(0.15)
    assert p.balloon.max_step_bytes == 1024 * MiB
    assert p.balloon.min_change_bytes == 32 * MiB
    assert p.rebalance.bandwidth_mib_s == 256
    assert p.default_placement == "xen"


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"balloon.nope": "1"}, "unknown key 'balloon.nope'"),
        ({"nope": "1"}, "unknown key"),
        ({"balloon.enabled": "maybe"}, "not a boolean"),
        ({"balloon.idle_tax": "lots"}, "not a number"),
        ({"balloon.idle_tax": "1"}, "idle_tax must be within"),
        ({"balloon.pressure_free_fraction": "0.5"}, "pressure_free_fraction < relief"),
        ({"balloon.relief_free_fraction": "1.5"}, "fraction within 0..1"),
        ({"balloon.max_step_bytes": "0"}, "greater than zero"),
        ({"balloon.min_change_bytes": "2G"}, "must not exceed"),
        ({"balloon.max_step_bytes": "lots"}, "cannot parse size"),
        ({"default_placement": "best"}, "unknown placement policy"),
        ({"rebalance.bandwidth_mib_s": "-1"}, "out of range"),
        ({}, "no key=value"),
    ],
)
def test_bad_values_are_refused(values: dict[str, str], message: str) -> None:
    with pytest.raises(PolicyError, match=message):
        apply_changes(default_policy(), values)


def test_one_bad_pair_refuses_the_whole_change_and_leaves_the_policy_alone() -> None:
    before = default_policy()
    with pytest.raises(PolicyError):
        apply_changes(before, {"balloon.idle_tax": "0.5", "balloon.relief_free_fraction": "0.1"})
    assert before == default_policy()


def test_changes_are_validated_together() -> None:
    # Moving both lines up at once is fine even though either alone would cross them.
    p = apply_changes(
        default_policy(),
        {"balloon.pressure_free_fraction": "0.4", "balloon.relief_free_fraction": "0.5"},
    )
    assert (p.balloon.pressure_free_fraction, p.balloon.relief_free_fraction) == (0.4, 0.5)


def test_keys_and_json_name_every_field() -> None:
    assert "balloon.idle_tax" in keys() and "rebalance.min_gain" in keys()
    shown = json.loads(policy_json(default_policy()))
    assert shown["balloon"]["pressure_free_fraction"] == 0.2
    assert shown["balloon"]["enabled"] is True
