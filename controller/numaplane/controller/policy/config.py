"""The cluster policy record (`/numaplane/v1/config/policy`): defaults, `key=value`
changes, and validation of the whole — pure, so the admin API and tests share it.

An operator changes knobs with `numaplane policy set balloon.relief_free_fraction=0.35
default_placement=xen`. Every pair is parsed, applied to a copy of the current policy,
and the *result* is validated as a whole (the pressure line must stay below the relief
line whichever of the two was changed); any bad pair refuses the whole request and the
stored policy stays as it was.

Defaults: the record is stored with every field written out, and read back over the
defaults below, so an explicit 0 or false (idle_tax=0, balloon.enabled=false) survives
while a field an older writer never wrote keeps its default. The rebalance section's
defaults are `RebalanceSettings`' (rebalancing is on unless turned off).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from google.protobuf import json_format
from google.protobuf.descriptor import FieldDescriptor
from google.protobuf.message import Message

from numaplane.common.units import MiB, SizeError, parse_size
from numaplane.controller.policy.balloon.settings import BalloonSettings
from numaplane.controller.policy.placement import DEFAULT_POLICY, PLACEMENT_POLICIES
from numaplane.controller.policy.rebalance.settings import RebalanceSettings
from numaplane.v1.state_pb2 import BalloonPolicyConfig, PolicyConfig, RebalancePolicyConfig

SECTIONS = ("balloon", "rebalance")
SIZE_FIELDS = frozenset({"balloon.max_step_bytes", "balloon.min_change_bytes"})
"""uint64 fields given as sizes (512M, 1G, 0)."""

_TRUE = frozenset({"true", "on", "yes", "1"})
_FALSE = frozenset({"false", "off", "no", "0"})


class PolicyError(ValueError):
    """A policy change refused; the message names the key and what is wrong."""


def default_policy() -> PolicyConfig:
    b = BalloonSettings()
    return PolicyConfig(
        default_placement=DEFAULT_POLICY,
        balloon=BalloonPolicyConfig(
            enabled=b.enabled,
            pressure_free_fraction=b.pressure_free_fraction,
            critical_free_fraction=b.critical_free_fraction,
            relief_free_fraction=b.relief_free_fraction,
            max_step_bytes=b.max_step_bytes,
            min_change_bytes=b.min_change_bytes,
            idle_tax=b.idle_tax,
        ),
        rebalance=_rebalance_defaults(),
    )


def _rebalance_defaults() -> RebalancePolicyConfig:
    r = RebalanceSettings()
    return RebalancePolicyConfig(
        enabled=r.enabled,
        locality_threshold=r.locality_threshold,
        bandwidth_mib_s=r.bandwidth_bytes_per_s // MiB,
        cooldown_s=r.cooldown_s,
        min_gain=r.min_gain,
        period_s=r.period_s,
        pressure_free_fraction=r.pressure_free_fraction,
        pressure_grace_s=r.pressure_grace_s,
    )


def rebalance_settings(policy: PolicyConfig) -> RebalanceSettings:
    """The rebalancer's settings from the (decoded, defaulted) policy record."""
    r = policy.rebalance
    return RebalanceSettings(
        enabled=r.enabled,
        locality_threshold=r.locality_threshold,
        bandwidth_bytes_per_s=r.bandwidth_mib_s * MiB,
        period_s=r.period_s,
        cooldown_s=r.cooldown_s,
        min_gain=r.min_gain,
        pressure_free_fraction=r.pressure_free_fraction,
        pressure_grace_s=r.pressure_grace_s,
    )


def encode_policy(policy: PolicyConfig) -> str:
    """Every field written out (see the module docstring), by its proto name."""
    return json_format.MessageToJson(
        policy, indent=None, sort_keys=True, preserving_proto_field_name=True,
        always_print_fields_with_no_presence=True,
    )


def decode_policy(text: str | None) -> PolicyConfig:
    """The stored record over the defaults; raises PolicyError if it does not parse."""
    policy = default_policy()
    if text:
        try:
            json_format.Parse(text, policy, ignore_unknown_fields=True)
        except json_format.ParseError as e:
            raise PolicyError(f"stored policy does not decode: {e}") from None
    return policy


def policy_json(policy: PolicyConfig) -> str:
    """The policy as an operator reads it (`numaplane policy get`)."""
    return json_format.MessageToJson(
        policy, indent=2, sort_keys=True, preserving_proto_field_name=True,
        always_print_fields_with_no_presence=True,
    )


def keys() -> tuple[str, ...]:
    """Every settable key, e.g. `balloon.idle_tax`."""
    out = ["default_placement"]
    for section in SECTIONS:
        sub: Message = getattr(PolicyConfig(), section)
        out.extend(f"{section}.{f.name}" for f in sub.DESCRIPTOR.fields)
    return tuple(out)


def apply_changes(policy: PolicyConfig, values: Mapping[str, str]) -> PolicyConfig:
    """A copy of `policy` with `values` applied, validated as a whole."""
    if not values:
        raise PolicyError("no key=value given")
    out = PolicyConfig()
    out.CopyFrom(policy)
    for key in sorted(values):
        _set(out, key.strip(), values[key].strip())
    validate(out)
    return out


def validate(policy: PolicyConfig) -> None:
    if policy.default_placement not in PLACEMENT_POLICIES:
        known = ", ".join(sorted(PLACEMENT_POLICIES))
        raise PolicyError(
            f"default_placement: unknown placement policy {policy.default_placement!r} "
            f"(known: {known})"
        )
    b = policy.balloon
    for name in ("pressure_free_fraction", "critical_free_fraction", "relief_free_fraction"):
        _fraction(f"balloon.{name}", getattr(b, name))
    if not b.critical_free_fraction < b.pressure_free_fraction < b.relief_free_fraction:
        raise PolicyError(
            "balloon: need critical_free_fraction < pressure_free_fraction < "
            f"relief_free_fraction (got {b.critical_free_fraction:g} < "
            f"{b.pressure_free_fraction:g} < {b.relief_free_fraction:g})"
        )
    if b.max_step_bytes <= 0:
        raise PolicyError("balloon.max_step_bytes must be greater than zero")
    if b.min_change_bytes > b.max_step_bytes:
        raise PolicyError(
            f"balloon.min_change_bytes ({b.min_change_bytes}) must not exceed "
            f"balloon.max_step_bytes ({b.max_step_bytes})"
        )
    if not 0.0 <= b.idle_tax <= 0.99:
        raise PolicyError(f"balloon.idle_tax must be within 0..0.99 (got {b.idle_tax:g})")
    r = policy.rebalance
    _fraction("rebalance.locality_threshold", r.locality_threshold)
    _fraction("rebalance.min_gain", r.min_gain)
    _fraction("rebalance.pressure_free_fraction", r.pressure_free_fraction)
    for name in ("cooldown_s", "pressure_grace_s"):
        value = getattr(r, name)
        if value < 0 or not math.isfinite(value):
            raise PolicyError(f"rebalance.{name} must be >= 0 (got {value:g})")
    if not (math.isfinite(r.period_s) and r.period_s > 0):
        raise PolicyError(f"rebalance.period_s must be greater than zero (got {r.period_s:g})")
    if r.bandwidth_mib_s <= 0:
        raise PolicyError("rebalance.bandwidth_mib_s must be greater than zero")


def balloon_settings(policy: PolicyConfig) -> BalloonSettings:
    b = policy.balloon
    return BalloonSettings(
        enabled=b.enabled,
        pressure_free_fraction=b.pressure_free_fraction,
        critical_free_fraction=b.critical_free_fraction,
        relief_free_fraction=b.relief_free_fraction,
        max_step_bytes=b.max_step_bytes,
        min_change_bytes=b.min_change_bytes,
        idle_tax=b.idle_tax,
    )


def _fraction(key: str, value: float) -> None:
    if not (math.isfinite(value) and 0.0 <= value <= 1.0):
        raise PolicyError(f"{key} must be a fraction within 0..1 (got {value:g})")


def _set(policy: PolicyConfig, key: str, text: str) -> None:
    if key == "default_placement":
        policy.default_placement = text
        return
    section, _, name = key.partition(".")
    if section not in SECTIONS or not name:
        raise PolicyError(f"unknown key {key!r} (known: {', '.join(keys())})")
    msg: Message = getattr(policy, section)
    field = msg.DESCRIPTOR.fields_by_name.get(name)
    if field is None:
        raise PolicyError(f"unknown key {key!r} (known: {', '.join(keys())})")
    setattr(msg, name, _parse(key, field, text))


def _parse(key: str, field: Any, text: str) -> bool | int | float | str:
    """`field` is a FieldDescriptor (of the pure-Python or the upb implementation)."""
    if field.type == FieldDescriptor.TYPE_BOOL:
        lowered = text.lower()
        if lowered in _TRUE or lowered in _FALSE:
            return lowered in _TRUE
        raise PolicyError(f"{key}: {text!r} is not a boolean (true/false, on/off)")
    if field.type == FieldDescriptor.TYPE_DOUBLE:
        try:
            value = float(text[:-1]) / 100 if text.endswith("%") else float(text)
        except ValueError:
            raise PolicyError(f"{key}: {text!r} is not a number") from None
        if not math.isfinite(value):
            raise PolicyError(f"{key}: {text!r} is not a finite number")
        return value
    if key in SIZE_FIELDS:
        try:
            return parse_size(text, allow_zero=True)
        except SizeError as e:
            raise PolicyError(f"{key}: {e}") from None
    if field.type in (FieldDescriptor.TYPE_UINT32, FieldDescriptor.TYPE_UINT64):
        try:
            value = int(text)
        except ValueError:
            raise PolicyError(f"{key}: {text!r} is not a whole number") from None
        if value < 0 or value >= 1 << (32 if field.type == FieldDescriptor.TYPE_UINT32 else 64):
            raise PolicyError(f"{key}: {value} is out of range")
        return value
    return text
