from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from spotzee_loader.errors import MappingError
from spotzee_loader.mapping.names import snake_case
from spotzee_loader.mapping.presets import detect_preset, preset_mapping
from spotzee_loader.mapping.spec import Mapping
from spotzee_loader.pipeline import load_mapping_file


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("total_amount", "total_amount"),
        ("TotalAmount", "total_amount"),
        ("totalAmount", "total_amount"),
        ("Total Amount", "total_amount"),
        ("HTTPStatus", "http_status"),
        ("order-id", "order_id"),
        ("__", "__"),
    ],
    ids=lambda v: str(v),
)
def test_snake_case(name: str, expected: str) -> None:
    assert snake_case(name) == expected


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "m.toml"
    path.write_text(text)
    return path


def test_full_mapping_file(tmp_path: Path) -> None:
    mapping = load_mapping_file(
        _write(
            tmp_path,
            """
name = "order_placed"
external_id = "customer_id"
anonymous_id = "anon_id"
created_at = "ordered_at"
timezone = "Europe/Paris"
key = ["order_id"]
data_json = "properties"
[data]
total = "total_amount"
[user]
email = "email"
[user.data]
plan = "plan"
""",
        )
    )
    assert mapping.name == "order_placed"
    assert mapping.timezone == "Europe/Paris"
    assert mapping.key == ("order_id",)
    assert mapping.data == (("total", "total_amount"),)
    assert mapping.user == (("email", "email"),)
    assert mapping.user_data == (("plan", "plan"),)
    assert set(mapping.required_columns()) == {
        "ordered_at",
        "customer_id",
        "anon_id",
        "properties",
        "email",
        "plan",
        "order_id",
        "total_amount",
    }


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ('external_id = "c"\ncreated_at = "t"', "exactly one of 'name'"),
        ('name = "a"\nname_column = "b"\nexternal_id = "c"\ncreated_at = "t"', "exactly one of 'name'"),
        ('name = "a"\ncreated_at = "t"', "'external_id' or 'anonymous_id'"),
        ('name = "a"\nexternal_id = "c"', "'created_at'"),
        ('name = "a"\nexternal_id = "c"\ncreated_at = "t"\ntimezone = "Mars/Base"', "not an IANA zone"),
        ('name = "a"\nexternal_id = "c"\ncreated_at = "t"\nnmae = "x"', "unknown key(s) nmae"),
        ('name = "a"\nexternal_id = "c"\ncreated_at = "t"\n[user]\nplan = "p"', "move plan under [user.data]"),
        ('name = "a"\nexternal_id = "c"\ncreated_at = "t"\nkey = [1]', "'key' must be a list"),
        ("name = [", "not valid TOML"),
    ],
    ids=["no-name", "two-names", "no-id", "no-time", "bad-zone", "typo", "user-trait", "bad-key", "toml"],
)
def test_mapping_errors_say_what_to_fix(tmp_path: Path, text: str, fragment: str) -> None:
    with pytest.raises(MappingError) as info:
        load_mapping_file(_write(tmp_path, text))
    assert fragment in str(info.value)


def test_missing_columns_are_listed() -> None:
    mapping = Mapping(name="x", external_id="customer_id", created_at="ordered_at", origin="m.toml")
    with pytest.raises(MappingError, match="no column\\(s\\) customer_id"):
        mapping.check_columns(["ordered_at", "id"])


def test_mapping_fingerprint_changes_with_mapping() -> None:
    a = Mapping(name="x", external_id="c", created_at="t")
    b = Mapping(name="y", external_id="c", created_at="t")
    assert a.fingerprint() == Mapping(name="x", external_id="c", created_at="t").fingerprint()
    assert a.fingerprint() != b.fingerprint()


@pytest.mark.parametrize(
    ("columns", "preset"),
    [
        (["order_id", "customer_id", "ordered_at", "total"], "orders"),
        (["order_id", "customer_id", "created_at"], "orders"),
        (["action", "occurred_at", "user_id", "properties"], "actions"),
        (["action", "occurred_at", "anonymous_id"], "actions"),
        (["event", "timestamp", "user_id", "anonymous_id", "context_traits_email"], "segment"),
        (["event", "originalTimestamp", "userId", "properties"], "segment"),
    ],
    ids=["orders", "orders-created_at", "actions", "actions-anon", "segment-warehouse", "segment-json"],
)
def test_detect_preset(columns: list[str], preset: str) -> None:
    name, mapping = detect_preset(columns)
    assert name == preset
    mapping.check_columns(columns)


def test_segment_preset_fields() -> None:
    mapping = preset_mapping(
        "segment",
        ["id", "event", "timestamp", "user_id", "anonymous_id", "context_traits_email", "received_at", "plan"],
    )
    assert (mapping.name_column, mapping.external_id, mapping.anonymous_id) == ("event", "user_id", "anonymous_id")
    assert mapping.user == (("email", "context_traits_email"),)
    assert mapping.key == ("id",)
    props = mapping.data_properties(
        ["id", "event", "timestamp", "user_id", "anonymous_id", "context_traits_email", "received_at", "plan"]
    )
    assert props == [("plan", "plan")]


def test_detection_failure_lists_what_is_missing() -> None:
    with pytest.raises(MappingError) as info:
        detect_preset(["foo", "bar"])
    message = str(info.value)
    for fragment in (
        "orders lacks order_id, customer_id",
        "actions lacks action",
        "segment lacks event",
        "the source has foo, bar",
    ):
        assert fragment in message


def test_a_presets_fingerprint_is_the_same_in_every_process() -> None:
    # A set's iteration order follows PYTHONHASHSEED; a fingerprint that followed it made every resume of a
    # segment job stop with "the mapping changed since it was checkpointed".
    code = (
        "from spotzee_loader.mapping import preset_mapping;"
        "print(preset_mapping('segment', ['id', 'event', 'event_text', 'timestamp', 'user_id', 'received_at',"
        " 'sent_at', 'uuid_ts', 'context_ip', 'context_library_name', 'context_page_path', 'revenue']).fingerprint())"
    )
    prints = {
        subprocess.run(
            [sys.executable, "-c", code], env={**os.environ, "PYTHONHASHSEED": str(seed)}, capture_output=True,
            text=True, check=True,
        ).stdout
        for seed in range(6)
    }  # fmt: skip
    assert len(prints) == 1, prints
