"""The benchmark's own measurements: the floor it compares grading with must be a real pytest run."""

from __future__ import annotations

from checks import bench, catalogue


def test_check_count_counts_the_collected_checks() -> None:
    # Every graded item has at least one check; a count of 0 would mean pytest's listing was misread.
    assert bench.check_count() >= len(catalogue.BY_ID)


def test_floor_is_a_passing_pytest_run_of_the_asked_size(tmp_path) -> None:
    times = bench.floor_times(2, 3)
    assert len(times) == 2 and all(0 < t < 60 for t in times)
