"""The import file: every error found with its row number, or a plan for all rows."""

from __future__ import annotations

import pytest

from vigil.provisioning.importer import (
    KINDS,
    ImportRejected,
    Registry,
    read_csv,
    validate,
)

REG = Registry(
    sites=frozenset({"s1"}),
    sites_all=frozenset({"s1", "old"}),
    grids={"g1": "s1"},
    grids_all=frozenset({"g1"}),
    buildings={"b1": "g1"},
    buildings_all=frozenset({"b1"}),
    households={"h1": "b1"},
    households_all=frozenset({"h1"}),
    residents=frozenset({("h1", "王秀英")}),
    gateways={"gw-1": "s1"},
    gateways_all=frozenset({"gw-1"}),
    devices_all=frozenset({"sd-1"}),
    device_types=frozenset({"smoke", "panic"}),
)


def rows(*lines: str) -> list[tuple[int, dict[str, str]]]:
    header = "kind,id,site,grid,building,household,resident,name,address,unit,phone,type,gateway"
    return read_csv("\n".join([header, *lines]) + "\n")


def errors_of(*lines: str) -> list[str]:
    with pytest.raises(ImportRejected) as caught:
        validate(rows(*lines), REG)
    return [str(e) for e in caught.value.errors]


def test_a_whole_installation_in_one_file_in_any_order() -> None:
    plan = validate(
        rows(
            "device,sd-9,,,,h9,,,,,,smoke,gw-9",
            "contact,,,,,h9,李梅,李强,,,13800000000,,",
            "resident,,,,,h9,,李梅,,,,,",
            "household,h9,,,b9,,,,,3-201,,,",
            "building,b9,,g9,,,,9号楼,东路9号,,,,",
            "grid,g9,s9,,,,,九网格,,,,,",
            "site,s9,,,,,,九街道,,,,,",
            "gateway,gw-9,s9,,b9,,,,,,,,",
        ),
        REG,
    )
    assert plan.counts() == dict.fromkeys(KINDS, 1)


def test_every_error_is_reported_with_its_row_and_column() -> None:
    assert errors_of(
        "site,S 1,,,,,,,,,,,",  # row 2: bad id, no name
        "household,h2,,,b404,,,,,1,,,",  # row 3
        "device,sd-1,,,,,,,,,,toaster,gw-404",  # row 4: taken, unknown type and gateway
        "contact,,,,,h1,王秀英,,,,12ab,,",  # row 5: no name, bad phone
        "resident,,,,,h1,,王秀英,,,,,",  # row 6: lives there already
        "gadget,x,,,,,,,,,,,",  # row 7
    ) == [
        "row 2, column id: String should match pattern '^[a-z0-9][a-z0-9_-]{0,31}$'",
        "row 2, column name: Field required",
        "row 3, column building: no building b404",
        "row 4, column gateway: no gateway gw-404",
        "row 4, column id: device sd-1 is already registered",
        "row 4, column type: unknown device type 'toaster'; known: panic, smoke",
        "row 5, column name: Field required",
        "row 5, column phone: String should match pattern '^\\+?[0-9]{5,20}$'",
        "row 6, column name: 王秀英 already lives in h1",
        "row 7, column kind: want one of site, grid, building, household, resident, contact, "
        "gateway, device, not 'gadget'",
    ]


def test_a_cell_in_a_column_the_kind_does_not_use_is_an_error() -> None:
    assert errors_of("site,s2,,g1,,,,二街道,,,,,") == [
        "row 2, column grid: does not apply to a site row"
    ]


def test_duplicates_within_the_file_name_the_first_row() -> None:
    assert errors_of("site,s2,,,,,,二,,,,,", "site,s2,,,,,,二,,,,,") == [
        "row 3, column id: site s2 is also on row 2"
    ]


def test_a_reference_to_a_broken_row_is_not_reported_twice() -> None:
    assert errors_of("grid,g2,s1,,,,,,,,,,", "building,b2,,g2,,,,楼,路,,,,") == [
        "row 2, column name: Field required"
    ]


def test_a_device_and_its_household_must_share_the_gateways_site() -> None:
    reg_two_sites = Registry(**{**REG.__dict__, "sites": frozenset({"s1", "s2"}),
                                "gateways": {"gw-1": "s1", "gw-2": "s2"}})  # fmt: skip
    with pytest.raises(ImportRejected) as caught:
        validate(rows("device,pb-1,,,,h1,,,,,,panic,gw-2"), reg_two_sites)
    assert [str(e) for e in caught.value.errors] == [
        "row 2, column gateway: gateway gw-2 serves site s2, but household h1 is in site s1"
    ]


def test_the_header_is_checked_before_any_row() -> None:
    with pytest.raises(ImportRejected) as caught:
        read_csv("id,colour\nx,red\n")
    assert str(caught.value.errors[0]) == "row 1: the header has no `kind` column"
    assert "unknown columns colour" in str(caught.value.errors[1])


def test_row_numbers_are_file_lines_even_with_quoted_line_breaks() -> None:
    parsed = read_csv('kind,id,name,address,grid\nbuilding,b2,"two\nlines",x,g1\nsite,s2,,,\n')
    assert [line for line, _ in parsed] == [2, 4]


def test_blank_lines_are_skipped_and_ragged_rows_refused() -> None:
    assert read_csv("kind,id,name\n\nsite,s2,二\n") == [
        (3, {"kind": "site", "id": "s2", "name": "二"})
    ]
    with pytest.raises(ImportRejected, match="1 errors"):
        read_csv("kind,id\nsite,s2,extra\n")
