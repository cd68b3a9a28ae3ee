"""Fixtures of the exercise tests: ``impl`` (the code under test) and ``reference``.

Who chooses ``impl``: ``roomkit grade`` and ``await check(...)`` (through their
pytest plugin), else the ``ROOMKIT_CANDIDATE`` environment variable (a notebook
file or a folder of notebooks), else the reference itself. See docs/instructors.md.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from roomkit.grading import bound_in_time, candidate_for, reference_for
from roomkit.implementations import Implementation


@pytest.fixture
def impl(request: pytest.FixtureRequest) -> Implementation:
    return candidate_for(request)


@pytest.fixture
def reference(request: pytest.FixtureRequest) -> Implementation:
    return reference_for(request)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    # Every exercise test gets a time limit; running out fails it as "timed out".
    bound_in_time(items, Path(__file__).parent)
