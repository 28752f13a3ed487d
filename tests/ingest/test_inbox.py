import threading
import time

from ingest.inbox import Inbox


def test_items_come_out_in_order_and_an_empty_inbox_times_out():
    inbox: Inbox[str] = Inbox(max_bytes=100)
    for item in ("a", "b", "c"):
        inbox.put(item, 10)
    assert [inbox.get(0), inbox.get(0), inbox.get(0)] == ["a", "b", "c"]
    assert inbox.get(0.01) is None
    assert inbox.bytes == 0


def test_put_waits_past_the_byte_bound_until_a_get_makes_room():
    inbox: Inbox[int] = Inbox(max_bytes=100)
    inbox.put(1, 150)  # one item alone may exceed the bound
    done = threading.Event()

    def put_second() -> None:
        inbox.put(2, 10)
        done.set()

    threading.Thread(target=put_second, daemon=True).start()
    assert not done.wait(0.2)
    assert inbox.get(1) == 1
    assert done.wait(2)
    assert inbox.get(1) == 2


def test_get_wakes_when_an_item_arrives():
    inbox: Inbox[str] = Inbox(max_bytes=100)
    threading.Timer(0.05, inbox.put, ("late", 1)).start()
    started = time.monotonic()
    assert inbox.get(5) == "late"
    assert time.monotonic() - started < 4


def test_close_releases_a_waiting_put_and_drops_later_ones():
    inbox: Inbox[int] = Inbox(max_bytes=10)
    inbox.put(1, 50)
    released = threading.Event()

    def put_second() -> None:
        inbox.put(2, 1)
        released.set()

    threading.Thread(target=put_second, daemon=True).start()
    assert not released.wait(0.1)
    inbox.close()
    assert released.wait(2)
    inbox.put(3, 1)
    assert [inbox.get(0), inbox.get(0)] == [1, None]
