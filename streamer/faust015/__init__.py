"""The repair kit for faust-streaming 0.15.3: every use of a private Faust, mode or aiokafka
name, and every guard against a bug of theirs, lives in this package and nowhere else.

It checks the installed versions when it is imported and refuses any other with one line:
the guards reach into internals that change between releases, and each was proven against
these versions by the test it names. To move to a new release, install it, run the tests
each guard names and the reliability suite, drop the guards upstream has made unneeded, and
change :data:`PROVEN`.

| module | what it repairs | upstream | reproduced by | can go when |
|---|---|---|---|---|
| `consumer` | a fetch handed out while the flow stops or the generation changes is dropped; the fetch loop makes four tasks per message | faust-streaming #223/#234/#235/#253 (reverted by #256), robinhood/faust#580/#583; robinhood/faust#563/#718 | tests/integration/test_runtime.py::test_a_fetch_the_flow_stopped_in_the_middle_of_is_fetched_again; tests/unit/test_consumer.py | `getmany` seeks back to what it did not hand out |
| `offsets` | commits that stall behind an unacked head, jump over one, or are recorded though they failed; records skipped after a rebalance | robinhood/faust#625, #559, faust-streaming #596, #606 (PR #707), #316 (PR #692) | tests/unit/test_offsets.py; tests/integration/test_runtime.py::test_two_workers_split_partitions_and_hand_over_state | Faust commits what was acked, contiguously, and only what it committed |
| `watchdog` | input waiting while nothing is delivered; a recovery that receives nothing ("No event received for active tp") | the consumer row above; faust-streaming #176 (#155, #651, #597, #432) | tests/unit/test_watchdog.py; tests/integration/test_runtime.py::test_a_worker_whose_recovery_fetch_is_dropped_reads_the_changelog_again | both rows above are fixed upstream |
| `tables` | table writes outside stream iteration (batches) need the stream's current event; the changelog write path cannot be awaited | (design of 0.15: `faust.streams._current_event`) | tests/integration/test_runtime.py (hand-over tests) | Faust takes a partition for a table write |
| `take` | a stream's batch ends only when full or when its timer runs out (`noack_take(max, within)`), so at light load every event waits out the timer | (design of 0.15: every take ends on `within`) | tests/unit/test_take.py | Faust's take ends a batch when its queue is empty |
| `producer` | records sent as aiokafka batches and awaited (Faust's buffer flush gives up after 0.1 s) | (design of 0.15: `Producer._ensure_producer`) | tests/integration/test_runtime.py::test_end_to_end_alerts_validate_and_reach_a_non_python_client | Faust exposes its aiokafka producer |
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

#: the versions every guard here was proven against (pinned in constraints.txt)
PROVEN = {"faust-streaming": "0.15.3", "mode-streaming": "0.7.1", "aiokafka": "0.14.0"}


class UnprovenVersion(ValueError):
    """An installed Faust, mode or aiokafka that the guards were not proven against."""


def check_versions(proven: dict[str, str] = PROVEN) -> None:
    """Refuse, in one line, any installed version other than the proven ones."""
    wrong = []
    for name, wanted in proven.items():
        try:
            have = version(name)
        except PackageNotFoundError:
            have = "none"
        if have != wanted:
            wrong.append(f"{name} {have} (needs {wanted})")
    if wrong:
        raise UnprovenVersion(
            "the worker's Faust guards (streamer/faust015) were proven on other versions: "
            + ", ".join(wrong) + "; install the pinned ones: pip install -c constraints.txt -e .")


check_versions()
