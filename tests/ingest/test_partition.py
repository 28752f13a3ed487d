import pytest

from ingest.errors import ConfigError
from ingest.partition import Partition
from vigil.topics import TopicKind


@pytest.mark.parametrize(("text", "index", "count"), [("0/1", 0, 1), ("1/2", 1, 2), ("7/8", 7, 8)])
def test_parse_accepts_index_over_count(text, index, count):
    assert Partition.parse(text) == Partition(index, count)
    assert str(Partition.parse(text)) == text


@pytest.mark.parametrize("text", ["", "1", "2/2", "-1/2", "0/0", "a/b", "1/2/3", " 0/1x"])
def test_parse_refuses_anything_else(text):
    with pytest.raises(ConfigError):
        Partition.parse(text)


def test_every_site_has_exactly_one_owner():
    sites = [f"site-{i}" for i in range(200)]
    workers = [Partition(i, 3) for i in range(3)]
    owners = [[w.index for w in workers if w.owns(s)] for s in sites]
    assert all(len(o) == 1 for o in owners)
    assert {o[0] for o in owners} == {0, 1, 2}


def test_filters_name_owned_sites_or_everything_for_a_single_worker():
    assert Partition().filters(["a", "b"]) == ["vigil/v1/+/+/up/#"]
    first, second = Partition(0, 2), Partition(1, 2)
    sites = [f"s{i}" for i in range(10)]
    a, b = first.filters(sites), second.filters(sites)
    assert sorted(a + b) == sorted(f"vigil/v1/{s}/+/up/#" for s in sites)
    assert first.client_id("x") == "x-0of2"
    assert first.filters(sites, TopicKind.EVENT) == [f.replace("/#", "/event") for f in a]
    assert Partition().filters([], TopicKind.TELEMETRY) == ["vigil/v1/+/+/up/telemetry"]
