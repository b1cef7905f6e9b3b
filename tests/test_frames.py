"""frames.py: the small-table helpers give the tables the plain pandas idioms give."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from pcapline.frames import in_order, joined, with_columns


def _table() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "id": np.array([0, 1, 2], np.int64),
            "name": pd.Series(["a", "b", "c"], dtype=object),
            "n": np.array([5, 6, 7], np.uint16),
        }
    )


def _one_by_one(frame: pd.DataFrame, columns: dict[str, pd.Series]) -> pd.DataFrame:
    out = frame.copy()
    for name, column in columns.items():
        out[name] = column
    return out


@pytest.mark.parametrize(
    "new",
    [
        {},
        {"fate": ["refused", "closed", "reset"]},
        {"fate": ["refused", "closed", "reset"], "count": [1, 2, 3]},
        {"name": ["x", "y", "z"], "count": [1, 2, 3]},  # one replaced in place, one added
        {"n": [9, 8, 7], "name": ["x", "y", "z"], "lists": [[1], [], [2, 3]]},
    ],
    ids=["none", "one", "two-added", "one-replaced", "two-replaced"],
)
def test_with_columns_is_setting_them_one_by_one(new: dict[str, list[object]]) -> None:
    frame = _table()
    columns = {
        name: pd.Series(values, index=frame.index, dtype=object if name != "count" else np.int64)
        for name, values in new.items()
    }
    got = with_columns(frame, columns)
    pd.testing.assert_frame_equal(got, _one_by_one(frame, columns), check_exact=True)
    assert list(got.dtypes) == list(_one_by_one(frame, columns).dtypes)
    assert list(frame.columns) == ["id", "name", "n"]  # the input is left as it was


def test_with_columns_places_replaced_and_new_columns() -> None:
    frame = _table()
    got = with_columns(
        frame,
        {
            "extra": pd.Series([True, False, True]),
            "name": pd.Series(["x", "y", "z"], dtype=object),
        },
    )
    assert list(got.columns) == ["id", "name", "n", "extra"]
    assert got["name"].tolist() == ["x", "y", "z"]
    assert got["extra"].tolist() == [True, False, True]


def test_in_order_sorts_like_a_stable_sort_and_numbers_rows() -> None:
    events = pd.DataFrame(
        {
            "conn": np.array([2, 0, 2, 0, 1], np.int64),
            "frame": np.array([7, 3, 5, 3, 4], np.int64),
            "kind": ["fin", "syn", "rst", "synack", "ack"],
        },
        index=[10, 11, 12, 13, 14],
    )
    got = in_order(events, ["conn", "frame"])
    assert got["kind"].tolist() == ["syn", "synack", "ack", "rst", "fin"]  # ties keep their order
    assert got.index.tolist() == [0, 1, 2, 3, 4]
    pd.testing.assert_frame_equal(
        got, events.sort_values(["conn", "frame"], kind="stable").reset_index(drop=True)
    )


def test_in_order_returns_a_table_already_in_order_itself() -> None:
    table = _table()
    assert in_order(table, ["id"]) is table
    assert in_order(table.iloc[:0], ["id"]).empty
    # In order but not numbered from 0: renumbered, not the same object.
    shifted = table.set_axis([5, 6, 7])
    got = in_order(shifted, ["id"])
    assert got is not shifted and got.index.tolist() == [0, 1, 2]
    assert got["id"].tolist() == [0, 1, 2]


def test_in_order_ties_on_the_first_key_are_ordered_by_the_next() -> None:
    table = pd.DataFrame({"conn": [1, 1, 1], "frame": [3, 2, 4]})
    assert in_order(table, ["conn", "frame"])["frame"].tolist() == [2, 3, 4]
    assert in_order(table, ["conn"]) is table  # equal keys: already in order


def test_in_order_leaves_text_keys_to_pandas() -> None:
    table = pd.DataFrame({"name": ["b", "a"], "n": [1, 2]})
    assert in_order(table, ["name"])["n"].tolist() == [2, 1]


def test_joined_is_concat_with_a_new_index() -> None:
    a, b = _table(), _table().iloc[1:]
    pd.testing.assert_frame_equal(joined([a, b]), pd.concat([a, b], ignore_index=True))
    assert joined([a]) is a
    assert joined([b]).index.tolist() == [0, 1]  # not numbered from 0: renumbered


def test_empty_tables_are_typed_fresh_copies() -> None:
    """The empty ICMP and connections tables, built once per process, are handed out as
    copies: a capture that changes its table never changes the next capture's."""
    from pcapline.decode.icmp import ICMP_COLUMNS, empty_table
    from pcapline.flows import CONNECTION_ID_COLUMNS, _empty_connections

    icmp = empty_table()
    assert list(icmp.columns) == list(ICMP_COLUMNS)
    assert [str(t) for t in icmp.dtypes] == list(ICMP_COLUMNS.values())
    icmp["mtu"] = icmp["mtu"].astype("int64")
    assert str(empty_table()["mtu"].dtype) == "uint32"
    connections = _empty_connections()
    assert list(connections.columns) == list(CONNECTION_ID_COLUMNS)
    assert str(connections["client_ip"].dtype) == "object"
    assert str(connections["client_port"].dtype) == "uint16"
    assert connections is not _empty_connections()
