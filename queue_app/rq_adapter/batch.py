"""RQ's start and end of many jobs at once, one Lua script each (see the table in __init__).

The batch worker (queue_app.batch_worker) and the thread worker start the jobs they take together
and write their successes together. Through RQ's own methods (Execution.create, Job.prepare_for_execution,
Job._handle_success, Job.cleanup, Execution.delete) that is about 25 commands per job, each built
and its reply parsed by redis-py: most of the batch worker's CPU per task. Here one script per
batch writes exactly those keys and fields (the execution hash and its registries, the started
and finished registries with RQ's scores, the worker's execution set, the job hash's status,
times and worker, the result stream entry, RQ's TTLs); Python sends the ids and the few values
that differ per job. tests/queue_app/test_batch_worker.py compares every key the simple worker
leaves, type, TTL and content, with what a batch leaves.

Kept out of the scripts: a job whose result TTL is 0 (RQ deletes it: RQ's own path), the worker's
own keys (state, heartbeat, counters: written by the caller in the same pipeline).

Key names come from RQ's own key functions, cut around the ids (_parts), so an RQ release that
renames a key changes the scripts' arguments, not a copy of its layout.
"""

from __future__ import annotations

from base64 import b64encode
from types import SimpleNamespace

from rq.defaults import UNSERIALIZABLE_RETURN_VALUE_PAYLOAD
from rq.executions import Execution, ExecutionRegistry
from rq.job import Job, JobStatus
from rq.registry import FinishedJobRegistry, StartedJobRegistry
from rq.results import Result
from rq.utils import utcformat

_J, _E = "\x00job\x00", "\x00execution\x00"


def _parts(key: str, *sentinels: str) -> list[str]:
    """The literal pieces of a key around the sentinels, which must appear once each, in order."""
    pieces = []
    for sentinel in sentinels:
        before, sep, key = key.partition(sentinel)
        if not sep or sentinel in key:
            raise RuntimeError(f"RQ's key layout changed: {sentinel!r} in {key!r}")
        pieces.append(before)
    pieces.append(key)
    return pieces


def _key_pieces() -> list[str]:
    job = SimpleNamespace(id=_J, redis_job_namespace_prefix=Job.redis_job_namespace_prefix)
    execution = Execution(id=_E, job_id=_J, connection=None)
    pieces = [
        *_parts(Job.key_for(_J), _J),
        *_parts(Job.dependents_key_for(_J), _J),
        *_parts(Job.dependencies_key.fget(job), _J),
        *_parts(execution.key, _J, _E),
        *_parts(execution.composite_key, _J, _E),
        *_parts(ExecutionRegistry(job_id=_J, connection=None).key, _J),
        *_parts(Result.get_key(_J), _J),
    ]
    return pieces


# ARGV[1..16]: the key pieces (see _key_pieces); the Lua helpers below rebuild RQ's keys from them.
KEY_FUNCTIONS = """
local P = {}
for i = 1, 16 do P[i] = ARGV[i] end
local function job_key(id) return P[1] .. id .. P[2] end
local function dependents_key(id) return P[3] .. id .. P[4] end
local function dependencies_key(id) return P[5] .. id .. P[6] end
local function execution_key(id, eid) return P[7] .. id .. P[8] .. eid .. P[9] end
local function composite(id, eid) return P[10] .. id .. P[11] .. eid .. P[12] end
local function executions_key(id) return P[13] .. id .. P[14] end
local function result_key(id) return P[15] .. id .. P[16] end
"""

# KEYS[1] the worker's execution set. ARGV after the key pieces: the worker's name, the executions'
# created_at (a float, as redis-py sends it), now (whole seconds, RQ's current_timestamp), the
# job's heartbeat and started_at (RQ's utcformat), the status 'started'; then per job: its id,
# its execution id, its heartbeat TTL, its started registry key.
# Per job, what Execution.create, Job.prepare_for_execution and a PERSIST of the job write.
START_JOBS = (
    KEY_FUNCTIONS
    + """
local worker, created, now, stamp, status = ARGV[17], ARGV[18], tonumber(ARGV[19]), ARGV[20], ARGV[21]
local n = 0
for i = 22, #ARGV, 4 do
  local id, eid, ttl, started = ARGV[i], ARGV[i + 1], tonumber(ARGV[i + 2]), ARGV[i + 3]
  local ekey, comp, ereg = execution_key(id, eid), composite(id, eid), executions_key(id)
  redis.call('HSET', ekey, 'id', eid, 'job_id', id, 'created_at', created, 'last_heartbeat', created,
             'worker_name', worker)
  redis.call('EXPIRE', ekey, ttl)
  redis.call('ZADD', ereg, now + ttl + 60, eid)
  redis.call('EXPIRE', ereg, ttl + 60)
  redis.call('ZADD', started, now + ttl, comp)
  if worker ~= '' then
    redis.call('SADD', KEYS[1], comp)
    redis.call('EXPIRE', KEYS[1], ttl + 60)
  end
  local key = job_key(id)
  redis.call('HSET', key, 'last_heartbeat', stamp, 'status', status, 'started_at', stamp, 'worker_name', worker)
  redis.call('PERSIST', key)
  n = n + 1
end
return n
"""
)

# KEYS[1] the worker's execution set. ARGV after the key pieces: the worker's name, now (whole
# seconds), the status 'finished', the result type, how many leading jobs' executions to delete
# (the caller deletes the rest through RQ); then per job: id, execution id, result TTL (not 0),
# started_at, ended_at (utcformat), the return value ('' if None), the execution's start and end
# (floats), its started and finished registry keys.
# Per job, what Job._handle_success, Job.cleanup and Execution.delete write.
END_JOBS = (
    KEY_FUNCTIONS
    + """
local worker, now, status, rtype, deleting = ARGV[17], tonumber(ARGV[18]), ARGV[19], ARGV[20], tonumber(ARGV[21])
local n = 0
for i = 22, #ARGV, 10 do
  local id, eid, ttl = ARGV[i], ARGV[i + 1], tonumber(ARGV[i + 2])
  local key, rkey = job_key(id), result_key(id)
  redis.call('HSET', key, 'status', status)
  redis.call('HSET', key, 'started_at', ARGV[i + 3], 'ended_at', ARGV[i + 4], 'last_heartbeat', ARGV[i + 4],
             'worker_name', worker, 'status', status)
  if ARGV[i + 5] ~= '' then
    redis.call('XADD', rkey, 'MAXLEN', '~', '10', '*', 'type', rtype, 'worker_name', worker,
               'return_value', ARGV[i + 5], 'execution_id', eid, 'execution_started_at', ARGV[i + 6],
               'execution_ended_at', ARGV[i + 7])
  else
    redis.call('XADD', rkey, 'MAXLEN', '~', '10', '*', 'type', rtype, 'worker_name', worker,
               'execution_id', eid, 'execution_started_at', ARGV[i + 6], 'execution_ended_at', ARGV[i + 7])
  end
  if ttl == -1 then
    redis.call('PERSIST', rkey)
    redis.call('ZADD', ARGV[i + 9], '+inf', id)
  else
    redis.call('EXPIRE', rkey, ttl)
    if ttl < 0 then
      redis.call('ZADD', ARGV[i + 9], ttl, id)
    else
      redis.call('ZADD', ARGV[i + 9], now + ttl, id)
    end
  end
  if ttl > 0 then
    redis.call('EXPIRE', key, ttl)
    redis.call('EXPIRE', dependents_key(id), ttl)
    redis.call('EXPIRE', dependencies_key(id), ttl)
  end
  n = n + 1
  if n <= deleting then
    local comp = composite(id, eid)
    redis.call('DEL', execution_key(id, eid))
    redis.call('ZREM', ARGV[i + 8], comp)
    redis.call('ZREM', executions_key(id), eid)
    if worker ~= '' then redis.call('SREM', KEYS[1], comp) end
  end
end
return n
"""
)


class BatchScripts:
    """The two scripts, sent with the calls' pipelines.

    EVAL with the script's text, not EVALSHA: redis-py's registered scripts ask SCRIPT EXISTS in a
    round trip of its own before every pipeline that runs one, and an EVALSHA that Redis lost
    (a restart, SCRIPT FLUSH) would fail inside the pipeline's MULTI after its other commands ran.
    Redis compiles a script once and finds it again by its SHA1: a few KB more per batch.
    """

    def __init__(self) -> None:
        self.pieces = _key_pieces()
        self._started: dict[str, str] = {}
        self._finished: dict[str, str] = {}

    def started_key(self, origin: str) -> str:
        key = self._started.get(origin)
        if key is None:
            key = self._started[origin] = StartedJobRegistry.key_template.format(origin)
        return key

    def finished_key(self, origin: str) -> str:
        key = self._finished.get(origin)
        if key is None:
            key = self._finished[origin] = FinishedJobRegistry.key_template.format(origin)
        return key

    def start_jobs(self, pipe, *, worker_name: str, executions_key: str, starts, created_at, now: int) -> None:
        """RQ's start of jobs: starts are (job, execution, heartbeat TTL); created_at the executions'."""
        args = [*self.pieces, worker_name, created_at.timestamp(), now, utcformat(created_at), JobStatus.STARTED.value]
        for job, execution, ttl in starts:
            args += (job.id, execution.id, ttl, self.started_key(job.origin))
        pipe.eval(START_JOBS, 1, executions_key, *args)

    def end_jobs(self, pipe, *, worker_name: str, executions_key: str, ends, now: int, deleting: int) -> None:
        """RQ's end of successes: ends are (job, execution, result TTL); the first `deleting` executions go."""
        args = [*self.pieces, worker_name, now, JobStatus.FINISHED.value, Result.Type.SUCCESSFUL.value, deleting]
        for job, execution, ttl in ends:
            args += (
                job.id,
                execution.id,
                ttl,
                utcformat(job.started_at),
                utcformat(job.ended_at),
                _return_value(job),
                execution.created_at.timestamp(),
                job.ended_at.timestamp(),
                self.started_key(job.origin),
                self.finished_key(job.origin),
            )
        pipe.eval(END_JOBS, 1, executions_key, *args)


def _return_value(job) -> str:
    """Result.serialize's return_value field ('' when RQ leaves it out)."""
    value = job._result
    if value is None:
        return ""
    try:
        serialized = job.serializer.dumps(value)
    except Exception:
        serialized = job.serializer.dumps(UNSERIALIZABLE_RETURN_VALUE_PAYLOAD)
    return b64encode(serialized).decode()
