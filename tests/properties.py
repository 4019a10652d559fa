"""The properties of the checks' inputs that a wrong solution could rely on, and what holds each one to account.

Every input a check uses has properties: the ids are in some order, some outcome mix, some timing. A
property that never varies is one a wrong solution can quietly depend on (sorting its results,
dropping a repeated id, raising only for the statuses it has seen). Each entry names the checks that
vary it and the known-bad files (tests/scenarios/) that rely on it and must fail those checks. A new
check is added here with its own property and scenario; tests/test_properties.py and the golden
verdicts (tests/test_verdicts.py) hold the table to what the checks really do.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Property:
    name: str
    varied: str  # how the checks vary it
    checks: tuple[str, ...]  # check functions (in checks/test_*.py) that vary it
    scenarios: tuple[str, ...]  # known-bad files that rely on it; each must fail at least one of `checks`


PROPERTIES: tuple[Property, ...] = (
    Property(
        "order of the ids",
        "ids are shuffled, never ascending, in every batch check",
        ("test_async_sends_every_request_before_any_returns", "test_async_fetches_fifty_posts_at_once"),
        ("async_results_sorted_by_id", "async_results_as_completed"),
    ),
    Property(
        "repeated ids",
        "one id is asked for twice in the base, limiter, two-endpoint and safe batches",
        (
            "test_async_sends_every_request_before_any_returns",
            "test_limited_never_exceeds_the_cap",
            "test_two_endpoints_are_fetched_in_one_batch",
            "test_safe_batch_keeps_error_statuses_in_their_slots",
        ),
        ("limited_drops_repeated_ids", "user_ids_put_in_a_set", "safe_batch_keyed_by_id"),
    ),
    Property(
        "mix of outcomes",
        "a batch in which every request fails, besides batches with a few failures",
        ("test_safe_batch_where_every_request_fails",),
        ("safe_batch_raises_when_everything_fails",),
    ),
    Property(
        "which error status",
        "404, 400, 403, 500, 502 and 503, not only the 404 and 500 the exercise shows",
        (
            "test_fetch_one_raises_for_an_error_status",
            "test_fetch_sync_raises_for_an_error_status",
            "test_safe_batch_keeps_error_statuses_in_their_slots",
        ),
        ("fetch_one_raises_only_for_404_and_500", "fetch_sync_raises_only_for_404_and_500", "sync_raises_only_for_404"),
    ),
    Property(
        "timing of the body, for deadlines",
        "a post whose headers come at once and whose body comes 2 s later, stubbed and over real sockets",
        ("test_slow_requests_time_out_while_the_rest_arrive", "test_one_request_with_a_deadline"),
        ("deadline_covers_headers_only",),
    ),
    Property(
        "timing of the body, for the limiter",
        "every body arrives after its headers, so a permit let go at the headers shows as a higher peak",
        ("test_limited_never_exceeds_the_cap",),
        ("limited_releases_at_the_headers",),
    ),
    Property(
        "how much of the deadline each request needs",
        "quick posts take more than an even share of the deadline, and far less than all of it",
        ("test_slow_requests_time_out_while_the_rest_arrive",),
        ("deadline_split_between_requests", "one_deadline_for_the_whole_batch"),
    ),
    Property(
        "identity of what a slot holds",
        "a failed slot must hold the request's own exception (its type and status), not one made from it",
        ("test_safe_batch_keeps_error_statuses_in_their_slots", "test_safe_batch_keeps_a_lost_connection_in_its_slot"),
        ("safe_batch_wraps_the_error",),
    ),
    Property(
        "requests per post",
        "each post is counted as the stand-in saw it: a retry shows as a second request",
        ("test_safe_batch_keeps_error_statuses_in_their_slots", "test_slow_requests_time_out_while_the_rest_arrive"),
        ("safe_batch_retries_failures_after_the_gather", "timeout_retried_once"),
    ),
    Property(
        "what closing releases",
        "connectors are counted as well as sessions, and the loopback server counts open connections",
        (
            "test_manual_session_works_and_is_closed_after_success",
            "test_manual_session_is_closed_when_a_request_fails",
            "test_manual_session_closes_its_connections_when_a_request_fails",
        ),
        ("manual_session_connector_not_owned",),
    ),
    Property(
        "the printed totals",
        "main()'s totals are held against the sync run and main()'s whole time, as measured",
        ("test_main_prints_a_sync_run_then_an_async_run",),
        ("async_total_includes_the_sync_run",),
    ),
    Property(
        "how answers finish together",
        "answers are let go two at a time, and the requests that start in reply are counted",
        ("test_limited_starts_the_next_request_as_one_finishes",),
        ("limited_refills_one_per_wake_up", "limited_in_batches"),
    ),
    Property(
        "state kept between calls",
        "functions are called twice in a row, and checks run in any order",
        ("test_main_fetches_the_count_it_is_given", "test_manual_session_is_closed_when_a_request_fails"),
        ("main_grows_post_ids", "manual_session_kept_between_calls"),
    ),
    Property(
        "the caller's session used once",
        "fetch_one is called twice on the session the check gives it",
        ("test_fetch_one_returns_the_post_through_the_given_session",),
        ("fetch_one_closes_the_given_session",),
    ),
)


def base_name(check: str) -> str:
    """'test_x' for a check reported as 'test_x[param]' or 'checks/test_y.py::test_x[param]'."""
    return check.rpartition("::")[2].partition("[")[0]


def unproven(failed_checks: dict[str, set[str]]) -> list[str]:
    """Each (property, scenario) whose scenario failed none of the property's checks in a grading run."""
    missing = []
    for prop in PROPERTIES:
        for scenario in prop.scenarios:
            failed = {base_name(c) for c in failed_checks.get(scenario, set())}
            if not failed & set(prop.checks):
                missing.append(f"{prop.name}: {scenario} failed none of {', '.join(prop.checks)}")
    return missing
