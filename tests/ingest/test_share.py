"""The fair share of claimed partitions (ingest/share.py), without a database."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from ingest.share import Plan, View, orphaned, plan, targets


def view(partitions: int, **holdings: set[int]) -> View:
    """Workers named w<id>: view(8, w1={0, 1}, w2=set())."""
    return View(partitions, {int(w[1:]): frozenset(h) for w, h in holdings.items()})


def settle(partitions: int, holdings: dict[int, set[int]], rounds: int = 20) -> int:
    """Every worker takes its turn in order, as if each turn saw the latest locks; returns the
    number of rounds until nothing changed."""
    for r in range(rounds):
        changed = False
        for me in sorted(holdings):
            todo = plan(View(partitions, {w: frozenset(h) for w, h in holdings.items()}), me)
            taken = set().union(*holdings.values())
            holdings[me] -= set(todo.release)
            won = [p for p in todo.claim if p not in taken][: todo.wanted]
            holdings[me] |= set(won)
            changed |= bool(todo.release or won)
        if not changed:
            return r
    raise AssertionError(f"no steady state after {rounds} rounds: {holdings}")


def test_a_lone_worker_takes_every_partition():
    assert plan(view(8, w7=set()), 7) == Plan(claim=(7, 0, 1, 2, 3, 4, 5, 6), wanted=8)


def test_a_worker_the_view_missed_counts_itself():
    todo = plan(view(4, w1={0, 1, 2, 3}), 2)
    assert todo == Plan()  # w1 holds all, w2 is due 2, nothing is free: it waits
    # Once w2's lock shows, w1 lets two go.
    assert plan(view(4, w1={0, 1, 2, 3}, w2=set()), 1) == Plan(release=(2, 3))


def test_targets_split_evenly_and_the_extra_goes_to_who_holds_most():
    assert targets(view(8, w1=set(), w2=set(), w3=set())) == {1: 3, 2: 3, 3: 2}
    assert targets(view(8, w1=set(), w2={0}, w3=set())) == {2: 3, 1: 3, 3: 2}
    assert targets(view(8, w1={0, 1}, w2={2, 3}, w3={4, 5}, w4={6, 7}, w5=set())) == {
        1: 2,
        2: 2,
        3: 2,
        4: 1,
        5: 1,
    }
    assert targets(view(2, w1=set(), w2=set(), w3=set())) == {1: 1, 2: 1, 3: 0}


def test_survivors_take_over_a_dead_workers_partitions():
    # w3 held 6 and 7 and is gone; w1 and w2 hold 3 each and are due 4 each.
    before = view(8, w1={0, 1, 2}, w2={3, 4, 5}, w3={6, 7})
    now = view(8, w1={0, 1, 2}, w2={3, 4, 5})
    assert orphaned(before, now) == {6, 7}
    assert plan(now, 1) == Plan(claim=(7, 6), wanted=1)
    assert plan(now, 2) == Plan(claim=(6, 7), wanted=1)


def test_a_returning_worker_gets_its_share_from_the_others_surplus():
    holdings = {1: {0, 1, 2, 3}, 2: {4, 5, 6, 7}, 3: set()}
    assert plan(View(8, {w: frozenset(h) for w, h in holdings.items()}), 1) == Plan(release=(3,))
    settle(8, holdings)
    assert sorted(len(h) for h in holdings.values()) == [2, 3, 3]
    assert holdings[1] == {0, 1, 2}  # the others kept the rest
    assert holdings[2] == {4, 5, 6}


def test_a_clean_release_is_not_an_orphan():
    before = view(4, w1={0, 1, 2, 3}, w2=set())
    now = view(4, w1={0, 1}, w2=set())
    assert orphaned(before, now) == set()
    assert orphaned(None, now) == set()


@given(
    st.integers(1, 24),
    st.lists(st.integers(0, 1000), min_size=1, max_size=6, unique=True),
    st.data(),
)
def test_any_start_settles_on_an_even_split_with_each_partition_held_once(
    partitions: int, workers: list[int], data: st.DataObject
):
    owner = data.draw(
        st.lists(st.sampled_from([None, *workers]), min_size=partitions, max_size=partitions)
    )
    holdings = {w: {p for p, o in enumerate(owner) if o == w} for w in workers}
    settle(partitions, holdings)
    held = sorted(p for h in holdings.values() for p in h)
    assert held == list(range(partitions))
    sizes = [len(h) for h in holdings.values()]
    assert max(sizes) - min(sizes) <= 1
    # Steady: nobody has anything left to do.
    final = View(partitions, {w: frozenset(h) for w, h in holdings.items()})
    assert all(plan(final, w) == Plan() for w in workers)
