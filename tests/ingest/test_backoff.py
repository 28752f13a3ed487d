from ingest.backoff import Backoff


def test_delays_double_up_to_the_maximum_and_restart_after_success():
    b = Backoff(initial=0.5, maximum=3.0)
    assert [b.failed(100.0) - 100.0 for _ in range(5)] == [0.5, 1.0, 2.0, 3.0, 3.0]
    assert b.failures == 5
    b.succeeded()
    assert b.failed(7.0) == 7.5
