"""The rollups' fixed lists agree with the vocabularies they count."""

from __future__ import annotations

from observatory import dialects
from observatory.sql import rollups


def test_the_detail_rollups_count_every_error_type_of_the_vocabulary() -> None:
    """A type added to dialects.yaml needs a migration adding its column to the detail rollups (until
    then its failures are counted as other): this test says so."""
    assert (*rollups.ERROR_TYPES, rollups.ERROR_OTHER) == dialects.load().error_vocabulary()


def test_output_length_buckets_are_two_per_power_of_two() -> None:
    assert rollups.OUTPUT_BOUNDS[:8] == (1, 2, 3, 4, 6, 8, 12, 16)
    assert rollups.OUTPUT_BOUNDS[-1] == 2**20 and len(rollups.OUTPUT_BOUNDS) == 40
