"""Many RQ jobs at once, written from a template instead of RQ's Job objects (see the table in __init__).

RQ's Queue.enqueue_many builds a Job per task, serialises it (`to_dict`: JSON, zlib, timestamps)
and sends three commands per job in a MULTI (an HSET of the status, an HSET of the hash, an
RPUSH): 42 % of a 10,000-task bulk enqueue, most of it Python. The jobs of one bulk differ only
in their id: for the tasks that share a queue, a task type, a timeout and a retry budget, RQ
itself builds the hash of one job (create_job, the queue's preparation, `to_dict`); that hash is
cut where the job id appears (the data, the description) and checked against the hash RQ builds
for a job of another id. The template is kept for the process (template_for). A Lua script
then writes every job's hash (one HSET each, the status in it), registers the queue and pushes
the ids, 1,000 jobs per call: Python sends the key and the compressed data of each job.

No MULTI: the rows are committed before the push, each script call is atomic by itself, and a
push cut short by a Redis error leaves the rows pending for reconcile as before (the caller's
RedisError path). Delayed tasks, and jobs whose template failed its check, go through RQ's own
path (jobs.push_jobs).
"""

from __future__ import annotations

import logging
import uuid
import zlib
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from types import SimpleNamespace

from rq import Queue
from rq.job import Job, JobStatus
from rq.utils import now as rq_now
from rq.utils import utcformat

from queue_app.rq_adapter.jobs import _JobData, get_connection, get_queue, push_jobs

logger = logging.getLogger("queue_app.transport")

# Jobs per script call: Lua's unpack of the ids must stay under its stack limit (8,000).
CHUNK = 1000
# The timestamps RQ sets when a job is created and queued: one for the whole push here.
TIMESTAMP_FIELDS = frozenset({"created_at", "enqueued_at"})

# KEYS[1] the queue's list, KEYS[2] the set of queues, KEYS[3..] the job hashes.
# ARGV[1] the length of the job key prefix; ARGV[2] n, then n constant field/value pairs;
# then m, then m (field, before, after) triples: the field's value is before .. id .. after;
# then one value (the compressed data) per job.
WRITE_JOBS = """
local prefix = tonumber(ARGV[1])
local n = tonumber(ARGV[2])
local args = {}
for i = 3, 2 + 2 * n do args[#args + 1] = ARGV[i] end
local pos = 3 + 2 * n
local m = tonumber(ARGV[pos])
local cut = {}
for j = 1, m do
  cut[j] = {ARGV[pos + 3 * j - 2], ARGV[pos + 3 * j - 1], ARGV[pos + 3 * j]}
end
pos = pos + 3 * m + 1
local base = #args
local ids = {}
for k = 3, #KEYS do
  local id = string.sub(KEYS[k], prefix + 1)
  ids[#ids + 1] = id
  for j = 1, m do
    args[base + 2 * j - 1] = cut[j][1]
    args[base + 2 * j] = cut[j][2] .. id .. cut[j][3]
  end
  args[base + 2 * m + 1] = 'data'
  args[base + 2 * m + 2] = ARGV[pos]
  pos = pos + 1
  redis.call('HSET', KEYS[k], unpack(args))
end
redis.call('SADD', KEYS[2], KEYS[1])
redis.call('RPUSH', KEYS[1], unpack(ids))
return #ids
"""


class TemplateMismatch(Exception):
    """RQ's hash of a job is not what the template makes of it: the group goes through RQ."""


@dataclass(frozen=True)
class JobTemplate:
    """The hash RQ writes for any job of a group, cut where the job id appears."""

    constant: tuple[tuple[str, bytes], ...]  # field, value as redis-py sends it
    cut: tuple[tuple[str, str, str], ...]  # field, before the id, after the id
    data: tuple[bytes, bytes]  # the uncompressed data before and after the id

    def data_of(self, job_id: str) -> bytes:
        before, after = self.data
        return zlib.compress(before + job_id.encode() + after)

    def mapping(self, job_id: str, *, timestamp: str) -> dict:
        """The hash of one job, as the script writes it (for the check against RQ, and tests)."""
        mapping = dict(self.constant)
        mapping.update(dict.fromkeys(TIMESTAMP_FIELDS, timestamp))
        mapping.update({field: f"{before}{job_id}{after}" for field, before, after in self.cut})
        mapping["data"] = self.data_of(job_id)
        return mapping


def rq_mapping(queue: Queue, data) -> dict:
    """The hash RQ's enqueue_many writes for one job of Queue.prepare_data (Job.save's mapping)."""
    job = queue.create_job(
        data.func,
        args=data.args,
        kwargs=data.kwargs,
        result_ttl=data.result_ttl,
        ttl=data.ttl,
        failure_ttl=data.failure_ttl,
        description=data.description,
        depends_on=data.depends_on,
        job_id=data.job_id,
        meta=data.meta,
        status=JobStatus.QUEUED,
        timeout=data.timeout,
        retry=data.retry,
        on_success=data.on_success,
        on_failure=data.on_failure,
        on_stopped=data.on_stopped,
        webhooks=data.webhooks,
        repeat=data.repeat,
    )
    queue._prepare_for_queue(job)
    return job.to_dict()


def _cut(value: str | bytes, job_id: str) -> tuple:
    sep = job_id.encode() if isinstance(value, bytes) else job_id
    parts = value.split(sep)
    if len(parts) != 2:
        raise TemplateMismatch(f"the job id appears {len(parts) - 1} times in a field")
    return parts[0], parts[1]


def _plain(value: object) -> bytes:
    # The bytes redis-py sends for a value (a str enum such as JobStatus as its value, not its name).
    return get_connection().get_encoder().encode(value)


def build_template(queue: Queue, first, second=None) -> JobTemplate:
    """The template of a group from RQ's hash of its first job's data, checked against a second's."""
    first_id = first.job_id
    constant, cut, data = [], [], None
    for field, value in rq_mapping(queue, first).items():
        if field in TIMESTAMP_FIELDS:
            continue
        if field == "ttl":  # RQ's _persist_job also sets the hash's expiry (job.cleanup(ttl)): not done here
            raise TemplateMismatch("the job has a ttl")
        if field == "data":
            data = _cut(zlib.decompress(value), first_id)
        elif isinstance(value, str) and first_id in value:
            cut.append((field, *_cut(value, first_id)))
        elif isinstance(value, bytes) and first_id.encode() in value:
            raise TemplateMismatch(f"field {field} holds the job id in bytes")
        elif isinstance(value, str | bytes | int | float):
            constant.append((field, _plain(value)))
        else:
            raise TemplateMismatch(f"field {field} holds a {type(value).__name__}")
    if data is None:
        raise TemplateMismatch("no data field")
    template = JobTemplate(constant=tuple(constant), cut=tuple(cut), data=data)
    if second is not None:
        expected = {field: _plain(value) for field, value in rq_mapping(queue, second).items()}
        made = {field: _plain(value) for field, value in template.mapping(second.job_id, timestamp="").items()}
        for field in TIMESTAMP_FIELDS:
            expected.pop(field, None)
            made.pop(field, None)
        if made != expected:
            differing = sorted(f for f in expected.keys() | made.keys() if expected.get(f) != made.get(f))
            raise TemplateMismatch(f"fields {differing} differ from RQ's")
    return template


def _head(template: JobTemplate, timestamp: str) -> list:
    # The script's arguments before the jobs' data (see WRITE_JOBS).
    head: list = [len(Job.redis_job_namespace_prefix), len(template.constant) + len(TIMESTAMP_FIELDS)]
    for field, value in template.constant:
        head += [field, value]
    for field in sorted(TIMESTAMP_FIELDS):
        head += [field, timestamp]
    head.append(len(template.cut))
    for field, before, after in template.cut:
        head += [field, before, after]
    return head


def _write_chunks(pipe, queue: Queue, template: JobTemplate, job_ids: list[str], timestamp: str) -> None:
    prefix = Job.redis_job_namespace_prefix
    head = _head(template, timestamp)
    for start in range(0, len(job_ids), CHUNK):
        chunk = job_ids[start : start + CHUNK]
        keys = [queue.key, queue.redis_queues_keys, *(prefix + job_id for job_id in chunk)]
        pipe.eval(WRITE_JOBS, len(keys), *keys, *head, *(template.data_of(job_id) for job_id in chunk))


# Templates by what a job's hash depends on besides its id; None: RQ's path (the check failed).
# Pure data, built and checked against RQ once per process; bounded (cleared when full).
_templates: dict[tuple, JobTemplate | None] = {}
TEMPLATES_MAX = 1000


class _Missing:
    """A look-up's default: no entry (a class: nothing to share or change)."""


def _with_id(task, task_id: str) -> SimpleNamespace:
    return SimpleNamespace(
        id=task_id, task_type=task.task_type, timeout=task.timeout, max_retries=task.max_retries, attempts=task.attempts
    )


def template_for(queue_name: str, task, job_data: _JobData) -> JobTemplate | None:
    """The checked template of the jobs of tasks like this one in this queue (None: use RQ's path)."""
    retry = job_data.retry(task.max_retries, task.attempts)
    key = (
        queue_name,
        task.task_type,
        task.timeout,
        job_data.ttl,
        (retry.max, tuple(retry.intervals)) if retry is not None else None,
    )
    known = _templates.get(key, _Missing)  # one look-up: another thread may clear() between two
    if known is not _Missing:
        return known
    queue = get_queue(queue_name)
    try:
        template = build_template(queue, job_data(task), job_data(_with_id(task, str(uuid.uuid4()))))
    except TemplateMismatch as error:
        logger.warning("RQ job template not used for queue %s (%s); RQ writes these jobs", queue_name, error)
        template = None
    if len(_templates) >= TEMPLATES_MAX:
        _templates.clear()
    _templates[key] = template
    return template


def push_jobs_templated(
    by_queue: Mapping[str, tuple[Iterable, Iterable]], *, retry_intervals: Callable[[int], list[int]]
) -> None:
    """jobs.push_jobs, the immediate jobs written from templates (delayed ones through RQ).

    Same arguments and the same hashes, lists and registries in Redis as jobs.push_jobs, and each
    queue's jobs in the order given (as RQ's enqueue_many): consecutive tasks of one template go
    in one script call, and a run of tasks without one goes through RQ's path in its turn.
    """
    job_data = _JobData(retry_intervals)
    delayed_by_queue: dict[str, tuple[list, list]] = {}
    # Per queue, in request order: (template or None, [tasks]) for each run of consecutive tasks.
    segments: list[tuple[str, JobTemplate | None, list]] = []
    for queue_name, (immediate, delayed) in by_queue.items():
        delayed = list(delayed)
        if delayed:
            delayed_by_queue[queue_name] = ([], delayed)
        templates: dict[tuple, JobTemplate | None] = {}
        last_key, run = None, None
        for task in immediate:
            key = (task.task_type, task.timeout, task.max_retries, task.attempts)
            if key != last_key:
                template = templates.get(key, _Missing)
                if template is _Missing:
                    template = templates[key] = template_for(queue_name, task, job_data)
                last_key = key
                if run is None or run[1] is not template:
                    run = (queue_name, template, [])
                    segments.append(run)
            run[2].append(task)
    if delayed_by_queue:
        push_jobs(delayed_by_queue, retry_intervals=retry_intervals)
    timestamp = utcformat(rq_now())
    pipe = None
    for queue_name, template, tasks in segments:
        if template is None:  # RQ's path, after what came before it in the queue
            if pipe is not None:
                pipe.execute()
                pipe.reset()
                pipe = None
            push_jobs({queue_name: (tasks, [])}, retry_intervals=retry_intervals)
            continue
        if pipe is None:
            pipe = get_connection().pipeline(transaction=False)
        _write_chunks(pipe, get_queue(queue_name), template, [str(task.id) for task in tasks], timestamp)
    if pipe is not None:
        with pipe:
            pipe.execute()
