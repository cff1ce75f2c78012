"""The hand-vectorised text kernels against the Arrow (or orjson) rendering they replace."""

from __future__ import annotations

import numpy as np
import orjson
import pyarrow as pa
import pyarrow.compute as pc
import pytest

from spotzee_loader.mapping import fragments
from spotzee_loader.mapping import iso_text as convert

FIRST_MS, LAST_MS = -62_135_596_800_000, 253_402_300_799_999  # 0001-01-01T00:00:00.000Z, 9999-12-31T23:59:59.999Z
EDGES = [FIRST_MS, LAST_MS, 0, -1, 951_782_400_000, 951_868_799_999, 4_107_542_399_999, -2_208_988_800_001]


def _timestamps(seed: int, n: int, low: int = FIRST_MS, high: int = LAST_MS) -> pa.Array:
    rng = np.random.default_rng(seed)
    ms = np.concatenate([np.array(EDGES), rng.integers(low, high, n)])
    arr = pa.array(ms, pa.int64()).cast(convert.UTC_MS)
    return pc.if_else(pa.array(rng.random(len(ms)) < 0.1), pa.scalar(None, convert.UTC_MS), arr)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_iso_strings_match_arrows_formatter(seed: int) -> None:
    arr = _timestamps(seed, 200_000)
    assert convert.iso_strings(arr).equals(pc.strftime(arr, format=convert.ISO_FORMAT))
    window = arr.slice(3, 1000)  # an offset into shared buffers
    assert convert.iso_strings(window).equals(pc.strftime(window, format=convert.ISO_FORMAT))


@pytest.mark.parametrize("outside", [FIRST_MS - 1, LAST_MS + 1, LAST_MS + 400 * 86_400_000])
def test_iso_strings_outside_years_1_to_9999_keep_arrows_rendering(outside: int) -> None:
    arr = pa.array([0, outside, None], pa.int64()).cast(convert.UTC_MS)
    assert convert.iso_strings(arr).equals(pc.strftime(arr, format=convert.ISO_FORMAT))
    assert convert.iso_strings(arr)[0].as_py() == "1970-01-01T00:00:00.000Z"
    assert len(convert.iso_strings(arr.slice(0, 0))) == 0


@pytest.mark.parametrize("type_", [pa.date32(), pa.date64()])
def test_iso_dates_match_arrows_cast(type_: pa.DataType) -> None:
    rng = np.random.default_rng(7)
    days = np.concatenate([[-719_162, 2_932_896, 0, -1, 11_016], rng.integers(-719_162, 2_932_896, 100_000)])
    dates = pa.array(days.astype(np.int32), pa.int32()).cast(pa.date32()).cast(type_)
    dates = pc.if_else(pa.array(rng.random(len(days)) < 0.1), pa.scalar(None, type_), dates)
    assert convert.iso_dates(dates).equals(dates.cast(pa.string()))
    assert convert.iso_dates(dates.slice(5, 50)).equals(dates.slice(5, 50).cast(pa.string()))


@pytest.mark.parametrize(
    "values",
    [["plain", 'quote"', "x"], ["a", "b", "back\\slash"], ["ok", None, "tab\there"], ["clean", "also clean"]],
)
def test_json_strings_escape_exactly_like_orjson_also_in_slices(values: list[str | None]) -> None:
    arr = pa.array(values, pa.string())
    for start in range(len(values)):
        for stop in range(start, len(values) + 1):
            window = arr.slice(start, stop - start)
            expected = [None if v is None else orjson.dumps(v).decode() for v in values[start:stop]]
            got = fragments.concat(fragments.json_strings(window)) if stop > start else pa.array([], pa.string())
            assert got.to_pylist() == expected, (start, stop)


def test_json_object_leaves_out_missing_members_and_empty_objects() -> None:
    always = fragments.json_strings(pa.array(["a", "b", "c"]))
    sometimes = fragments.json_strings(pa.array([None, "y", None]))
    never = [pa.nulls(3, pa.string())]
    cases = {
        "first always there": ([("k", always), ("m", sometimes)], ['{"k":"a"}', '{"k":"b","m":"y"}', '{"k":"c"}']),
        "first sometimes": ([("m", sometimes), ("k", always)], ['{"k":"a"}', '{"m":"y","k":"b"}', '{"k":"c"}']),
        "all missing in a row": ([("m", sometimes), ("n", never)], [None, '{"m":"y"}', None]),
    }
    for label, (members, expected) in cases.items():
        assert fragments.concat(fragments.json_object(members, 3)).to_pylist() == expected, label


@pytest.mark.parametrize("outside", [-719_163, 2_932_897])
def test_iso_dates_outside_years_1_to_9999_keep_arrows_rendering(outside: int) -> None:
    dates = pa.array([0, outside, None], pa.int32()).cast(pa.date32())
    assert convert.iso_dates(dates).equals(dates.cast(pa.string()))
