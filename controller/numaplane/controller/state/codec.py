"""Encoding of stored records: protobuf messages as JSON in etcd.

JSON (not binary) so that an operator can read the cluster with `etcdctl get
--prefix /numaplane/v1/`; protobuf schemas so that both sides agree on fields.
"""

from __future__ import annotations

from typing import TypeVar

from google.protobuf import json_format
from google.protobuf.message import Message

M = TypeVar("M", bound=Message)


class RecordError(ValueError):
    """A stored value that does not decode as the record its key promises."""


def encode(msg: Message) -> str:
    return json_format.MessageToJson(msg, indent=None, sort_keys=True)


def decode(cls: type[M], text: str, *, key: str = "") -> M:
    msg = cls()
    try:
        json_format.Parse(text, msg, ignore_unknown_fields=True)
    except json_format.ParseError as e:
        raise RecordError(f"{key or cls.__name__}: cannot decode stored value: {e}") from None
    return msg
