"""What is unpickled carries a keyed BLAKE3 tag under the deployment's key: values (framed
with out-of-band buffers or not) and invocation payloads. A missing, wrong or foreign tag,
or any altered byte, is refused before anything is unpickled, and counted."""

from __future__ import annotations

import json
import os
import pickle

import numpy as np
import pytest

from storage_manager.protocol import Invocation
from storage_manager.serialization import dumps, loads
from storage_manager.signing import TAG_BYTES, Signer, Unauthenticated


class Boom:
    """Unpickling it makes a directory: proof that a refused blob was never unpickled."""

    def __init__(self, path: str):
        self.path = path

    def __reduce__(self):
        return os.mkdir, (self.path,)


VALUES = [7, "text", [1, 2.5, None], np.arange(100_000, dtype=np.float64),
          {"a": np.ones((30, 30)), "b": b"x" * 100}]


@pytest.mark.parametrize("value", VALUES, ids=["int", "str", "list", "array", "mixed"])
def test_a_signed_value_loads_and_any_altered_byte_is_refused(value):
    signer = Signer.generate()
    blob = dumps(value, signer)
    assert len(blob) == len(dumps(value)) + TAG_BYTES
    back = loads(blob, signer, "the value")
    assert repr(back) == repr(value)
    for position in (0, len(blob) // 2, len(blob) - 1):
        altered = bytearray(blob)
        altered[position] ^= 1
        with pytest.raises(Unauthenticated, match="the value is not signed"):
            loads(altered, signer, "the value")
    assert signer.refused == 3


def test_unsigned_foreign_and_short_blobs_are_refused_unloaded(tmp_path):
    signer = Signer.generate()
    marker = str(tmp_path / "unpickled")
    for forged in (pickle.dumps(Boom(marker)), dumps(Boom(marker), Signer.generate()),
                   dumps(Boom(marker)), b"", b"x" * (TAG_BYTES - 1)):
        with pytest.raises(Unauthenticated):
            loads(forged, signer, "a forged value")
    assert not os.path.exists(marker)
    assert signer.refused == 5


def test_signing_off_checks_nothing():
    off = Signer(None)
    assert not off.enabled and off.to_text() == "off"
    assert dumps(3, off) == dumps(3) and loads(dumps(3), off) == 3
    assert Signer.from_text(Signer.generate().to_text()).enabled
    with pytest.raises(ValueError, match="WUKONG_SIGNING_KEY must be a hex key"):
        Signer.from_text("not hex", "WUKONG_SIGNING_KEY")


def test_refusals_are_counted_in_redis_too(cluster):
    key = "wk:fn:test-refusals:refused"
    signer = Signer.generate()
    signer.count_refusals_in(cluster.shards.shards[0].client, key)
    with pytest.raises(Unauthenticated):
        loads(b"forged" * 10, signer, "a forged value")
    assert int(cluster.shards.shards[0].client.get(key)) == 1
    cluster.shards.shards[0].client.unlink(key)


def test_an_invocation_is_checked_over_every_field(tmp_path):
    """The tag covers every field, inputs and seed as raw bytes; it survives the JSON a
    platform passes the payload through, and any change to any field is refused."""
    signer = Signer.generate()
    sent = Invocation(job="j", task=3, attempt=1, via="proxy", inputs={1: b"\x00in"},
                      batch=(4, 5), seed=b"seed", threads=2, sent_at=1700000000.123456789)
    event = json.loads(sent.encode(signer))
    assert Invocation.from_event(event, signer) == sent
    changes = {"job": "k", "task": 4, "id": "other", "attempt": 2, "sent_at": 1.0, "via": "",
               "batch": [4], "threads": 3, "inputs": {"1": "AAAA"}, "seed": "c2VlZQ==",
               "mac": "00" * 32}
    for field, value in changes.items():
        with pytest.raises((Unauthenticated, ValueError)):
            Invocation.from_event({**event, field: value}, signer)
    unsigned = {k: v for k, v in event.items() if k != "mac"}
    with pytest.raises(Unauthenticated, match=r"of task 3 of job 'j'"):
        Invocation.from_event(unsigned, signer)
    with pytest.raises(Unauthenticated):
        Invocation.from_event(event, Signer.generate())


def test_a_reference_payload_is_signed_too():
    signer = Signer.generate()
    inv = Invocation(job="j", task=1)
    event = json.loads(inv.reference("wk:j:p:x", signer))
    assert Invocation.check_reference(event, signer) == "wk:j:p:x"
    with pytest.raises(Unauthenticated):
        Invocation.check_reference({**event, "payload_key": "wk:j:p:y"}, signer)
