"""Not collected by the suite (no test_ prefix): the subject of tests/test_rq_upgrade_check.py, which runs
scripts/rq_upgrade_check.sh on this file to see the report it prints when an RQ release breaks a test."""


def test_passes():
    assert True


def test_breaks_under_the_new_rq():
    raise AssertionError("what a break under a new RQ looks like in the report")
