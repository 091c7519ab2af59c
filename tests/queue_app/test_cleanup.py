"""cleanup_tasks deletes old finished tasks in batches and keeps everything else."""

from datetime import timedelta

import pytest
from django.utils import timezone
from model_bakery import baker

from queue_app import services
from queue_app.models import Task, TaskStatus

pytestmark = pytest.mark.django_db


def test_cleanup_deletes_only_finished_tasks_older_than_the_cutoff():
    old = timezone.now() - timedelta(days=10)
    recent = timezone.now() - timedelta(days=1)
    baker.make(Task, status=TaskStatus.COMPLETED, finished_at=old, _quantity=7)
    baker.make(Task, status=TaskStatus.FAILED, finished_at=old, _quantity=2)
    keep_recent = baker.make(Task, status=TaskStatus.COMPLETED, finished_at=recent)
    keep_waiting = baker.make(Task, status=TaskStatus.QUEUED)
    deleted = services.tasks_cleanup(days=7, batch_size=3)
    assert deleted == 9
    assert set(Task.objects.values_list("id", flat=True)) == {keep_recent.id, keep_waiting.id}


def test_cleanup_refuses_negative_days():
    with pytest.raises(services.ValidationFailed):
        services.tasks_cleanup(days=-1)
