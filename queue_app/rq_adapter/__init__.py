"""The RQ adapter: the one place that depends on RQ's internals (pinned: rq==3.0.0).

Only this package and the worker subclasses (queue_app/worker.py, batch_worker.py, thread_worker.py,
whose overrides are rows below) import rq, django_rq or rq_scheduler; everyone else calls the functions exported here, or
queue_app.transport, which maps tasks to jobs through them. tests/queue_app/test_rq_adapter.py
checks both, and that every test named below exists. `make rq-next` runs the queue tests against
the newest RQ release and reports what breaks (docs/development.md).

Each row: what we change in RQ's behaviour | why | the test that proves it.

| Where | What we change | Why | Test |
|---|---|---|---|
| serializers.install | every module's resolve_serializer answers once per serializer | RQ re-resolves ~6 times per job; a Protocol isinstance costs 5-10 % of a bulk enqueue | tests/queue_app/test_enqueue.py::test_rq_resolves_each_serializer_once_and_still_refuses_a_bad_one |
| serializers.install | pickle, by any name, resolves to JobSerializer (JSON) | Redis is not trusted: reading a job must never unpickle | tests/queue_app/test_job_security.py::test_reading_a_planted_job_on_the_web_side_never_unpickles_it |
| serializers.install | (same) rq-scheduler's cron jobs are JSON too | (same) | tests/queue_app/test_job_security.py::test_schedule_cron_jobs_are_json_too |
| jobs.TaskJob | no callbacks, no webhooks (RQ['JOB_CLASS']) | RQ would import/call what a planted hash names, even on registry cleanup | tests/queue_app/test_job_security.py::test_the_apps_job_class_names_no_callback_and_sends_no_webhook |
| jobs.TaskJob | (same) in a real worker's registry cleanup | (same) | tests/queue_app/test_job_security.py::test_a_worker_cleaning_its_registries_never_calls_a_callback_named_in_redis |
| jobs.job_refusal | which dequeued jobs a worker runs (JSON, our function, no callbacks) | Redis is not trusted | tests/queue_app/test_job_security.py::test_job_refusal_names_what_this_app_never_enqueues |
| jobs.job_refuse | records a refused job failed without RQ's failure path (Job._handle_failure, intermediate queue) | RQ's path would retry it, call its callbacks, enqueue dependents | tests/queue_app/test_job_security.py::test_a_worker_refuses_planted_jobs_without_unpickling_or_running_them_and_keeps_serving |
| jobs.CONNECTIONS | one Redis client and Queue per name, per process (django-rq builds new ones per call) | a TCP connect and an INFO round trip per enqueue | tests/queue_app/test_enqueue.py::test_bulk_enqueue_writes_all_rows_and_pushes_in_one_pipeline |
| jobs.push_jobs | Queue.prepare_data + enqueue_many/schedule_job in one pipeline; due times rounded up to a whole second | one round trip per bulk; RQ keeps whole seconds and would run a job early | tests/queue_app/test_worker_execution.py::test_a_delayed_task_does_not_start_before_run_at |
| bulk.push_jobs_templated | immediate jobs are written from a template of RQ's own hash (one per queue, type, timeout, retry budget and TTL, kept per process, checked against RQ's hash of a job of another id): one Lua call per 1,000 jobs (an HSET each, status included, then one RPUSH), no MULTI | RQ's Job objects, to_dict and 3 commands per job were 42 % of a 10,000-task bulk enqueue | tests/queue_app/test_bulk_enqueue.py::test_a_templated_job_hash_is_field_for_field_the_hash_rq_writes |
| batch.BatchScripts.start_jobs | RQ's start of a batch's jobs (Execution.create, Job.prepare_for_execution, the job's PERSIST) written by one Lua script per batch from the ids, execution ids and heartbeat TTLs; key names cut from RQ's own key functions | ~25 commands per job built and parsed in redis-py were 80 % of a batch's time (with the end) | tests/queue_app/test_batch_worker.py::test_a_batch_starts_its_jobs_in_redis_as_rq_starts_each |
| batch.BatchScripts.end_jobs | (same) RQ's end of a batch's successes (Job._handle_success, Job.cleanup, Execution.delete), one script per batch; a result TTL of 0 and the last execution's cleanup (a subclass's idle state) go through RQ | (same) | tests/queue_app/test_batch_worker.py::test_a_batch_ends_its_jobs_in_redis_as_rq_ends_each |
| jobs.stop_running | sends stop-job to the worker named on the row | RQ reads the name from the job, set only once the horse runs | tests/queue_app/test_worker_execution.py::test_cancelling_a_task_just_started_asks_the_worker_named_on_its_row |
| jobs.job_states | reads status/origin/enqueued_at/ended_at of job hashes (RQ's hash layout) | reconcile finds missing, ended and stranded jobs | tests/queue_app/test_lost_writes.py::test_a_job_popped_by_a_worker_that_died_before_starting_it_is_delivered_again |
| jobs.retry_later, current_job | a job function returning rq.Retry puts its job back | over a limit, a task waits without counting an attempt | tests/queue_app/test_families.py::test_a_rate_limit_delays_the_excess_and_all_tasks_complete |
| registries.queue_counts | reads queue lists and Scheduled/Started registries | monitoring's queue depths | tests/queue_app/test_monitoring_stats.py::test_redis_queue_depth_per_priority_beside_the_rows |
| registries.workers | reads Worker.all as plain records | monitoring and health list workers | tests/queue_app/test_monitoring_stats.py::test_live_worker_shows_its_current_task |
| scheduler.ScheduleScheduler.cron, schedule | queue_app/scheduler.py subclasses django-rq's rq-scheduler (SchedulerBase): cron and interval jobs get a result TTL | rq-scheduler keeps cron results forever | tests/queue_app/test_scheduler_cycle.py::test_plain_rq_scheduler_cron_jobs_still_work_and_get_a_result_ttl |
| scheduler.ScheduleScheduler.__init__, enqueue_jobs, run | schedules are rows, synced and fired once per firing under the lock; logs under queue_app.scheduler | one task per firing whatever the number of schedulers | tests/queue_app/test_scheduler_process.py::test_two_scheduler_processes_create_exactly_one_task_per_firing |
| scheduler.ScheduleScheduler.run | wakes at the next firing between cycles | a long interval must not delay a firing | tests/queue_app/test_scheduler_process.py::test_a_firing_between_cycles_is_on_time_with_a_long_interval |
| worker.HeartbeatMixin.__init__, TaskWorker.__init__, TaskSimpleWorker.__init__ | queue names expand to family queues, strict priority | 'normal' means every family's normal queue | tests/queue_app/test_worker_execution.py::test_queues_are_drained_strictly_by_priority |
| worker.HeartbeatMixin.dequeue_timeout | idle wake-up at most 2 heartbeats | the PostgreSQL heartbeat stays fresh while idle | tests/queue_app/test_rq_adapter.py::test_an_idle_worker_wakes_often_enough_for_its_heartbeat |
| worker.HeartbeatMixin.work | RQ's loop re-entered after a Redis outage | RQ exits on a Redis error outside the dequeue wait | tests/queue_app/test_faults.py::test_a_30_second_redis_outage_loses_nothing |
| worker.HeartbeatMixin.dequeue_job_and_maintain_ttl | refuses jobs (job_refusal) and skips unreadable hashes | Redis is not trusted; one bad hash must not end the loop | tests/queue_app/test_job_security.py::test_a_worker_refuses_planted_jobs_without_unpickling_or_running_them_and_keeps_serving |
| worker.HeartbeatMixin.set_state | a repeated state is not written | RQ writes idle twice per job | tests/queue_app/test_lost_writes.py::test_the_worker_writes_a_repeated_state_once |
| worker.HeartbeatMixin.check_for_suspension | asks Redis at most once a second | RQ asks before every job | tests/queue_app/test_rq_adapter.py::test_a_suspended_worker_still_runs_nothing |
| worker.HeartbeatMixin._start_scheduler, WorkerScheduler.work, WorkerScheduler.heartbeat | the scheduler child stops with its worker; a burst worker moves due jobs itself | RQ's orphan keeps the scheduler lock | tests/test_leftover_processes.py::test_the_scheduler_child_of_a_worker_killed_with_kill_9_exits_within_10_seconds |
| worker.HeartbeatMixin._revive_scheduler (from heartbeat) | restarts a scheduler child a Redis outage killed | RQ checks only every 10 minutes | tests/queue_app/test_faults.py::test_a_30_second_redis_outage_loses_nothing |
| worker.HeartbeatMixin.register_birth | PostgreSQL heartbeat and reconcile at start | tasks whose jobs Redis lost are delivered again | tests/queue_app/test_faults.py::test_flushing_redis_loses_nothing_reconcile_delivers_every_task |
| worker.HeartbeatMixin.request_force_stop, teardown | repeated stop signals do not restart the cold stop or interrupt register_death | run_workers repeats its signal until the worker is gone | tests/queue_app/test_families.py::test_repeated_stop_signals_during_a_cold_stop_still_put_the_task_back |
| worker.HeartbeatMixin.register_death | re-queues the tasks it was running | a stopped worker must not strand its task | tests/queue_app/test_families.py::test_sigterm_during_a_long_task_puts_it_back_and_it_completes_later |
| worker.HeartbeatMixin.heartbeat | the worker key refreshed at most once a second, pipelined | RQ refreshes it 3 times per job, 3 round trips each | tests/queue_app/test_lost_writes.py::test_the_worker_refreshes_its_redis_key_once_a_second_at_most_but_always_for_a_job |
| worker.HeartbeatMixin.handle_execution_ended | the job's last heartbeat goes with the end's transaction | one round trip fewer per job | tests/queue_app/test_lost_writes.py::test_the_simple_worker_records_a_job_with_its_end_heartbeat_and_idle_state_in_one_transaction |
| worker.TaskSimpleWorker.cleanup_execution | the idle state goes with the end's transaction | one round trip fewer per job | tests/queue_app/test_lost_writes.py::test_the_simple_worker_records_a_job_with_its_end_heartbeat_and_idle_state_in_one_transaction |
| worker.TaskSimpleWorker.execute_job | the start is sent early; a thread beats while the job runs | overlap with RQ's preparation; heartbeat during long jobs | tests/queue_app/test_job_security.py::test_tasks_travel_as_json_and_complete_with_both_worker_classes |
| worker.TaskWorker.execute_job, fork_work_horse, main_work_horse, wait_for_horse | start sent by the parent, answer and outcome through pipes | no connection and no start round trip per horse | tests/queue_app/test_lost_writes.py::test_the_fork_worker_records_small_and_large_results_and_a_failure |
| worker.TaskWorker.perform_job | the horse closes the handler's connections, keeps the lifecycle one | no new database session per task | tests/queue_app/test_lost_writes.py::test_the_fork_worker_opens_no_database_connection_per_task |
| worker.TaskWorker.handle_payload, kill_horse | a stop before the fork is kept for after it | RQ would ignore it or killpg its own group | tests/queue_app/test_lost_writes.py::test_a_stop_before_the_fork_does_not_kill_the_worker_itself |
| worker.TaskWorker.handle_payload | (same) the stop reaches the starting job | (same) | tests/queue_app/test_worker_execution.py::test_a_stop_for_the_job_a_worker_is_starting_is_kept_for_after_the_fork |
| worker.TaskWorker._work_horse_killed_handler | a horse killed by a signal is recorded and retried | RQ alone leaves the row processing | tests/queue_app/test_faults.py::test_a_killed_work_horse_is_recorded_by_its_worker_and_retried |
| batch_worker.TaskBatchWorker.__init__ | a batch channel: the batch starts its tasks itself (one lifecycle.start_many), the ends are collected | one statement and one pipeline per batch, not per task | tests/queue_app/test_batch_worker.py::test_a_batch_leaves_rq_and_the_rows_as_the_simple_worker_does |
| batch_worker.TaskBatchWorker.dequeue_job_and_maintain_ttl | pops up to WORKER_BATCH_SIZE job ids from the highest non-empty queue (BLMPOP ... COUNT), loads them in one pipeline, refuses planted jobs, returns a list | one round trip per batch, priority kept, an idle worker takes a single job at once | tests/queue_app/test_batch_worker.py::test_a_batch_is_taken_from_the_highest_priority_in_one_go |
| batch_worker.TaskBatchWorker.dequeue_job_and_maintain_ttl | (same) a lone task is not held back to fill a batch | (same) | tests/queue_app/test_batch_worker.py::test_an_idle_batch_worker_takes_a_single_task_at_once |
| batch_worker.TaskBatchWorker.execute_job | starts the batch's jobs in one pipeline (an execution each, rq_adapter.batch's script), runs them in turn in this process, writes their ends together | RQ writes 3 round trips per job; the batch writes one per batch | tests/queue_app/test_batch_worker.py::test_a_batch_leaves_rq_and_the_rows_as_the_simple_worker_does |
| batch_worker.TaskBatchWorker.execute_job | (same) failures, timeouts and retries take RQ's per-job failure path | each task's outcome is as under the simple worker | tests/queue_app/test_batch_worker.py::test_retries_failures_and_timeouts_inside_a_batch_behave_as_in_the_simple_worker |
| batch_worker.TaskBatchWorker.execute_job | (same) an error that ends a batch puts its tasks not run back to queued and re-delivers their jobs once Redis answers | their jobs still say started and the worker lives on: neither the crash sweep nor reconcile would take them before their timeout | tests/queue_app/test_faults_concurrent.py::test_a_redis_outage_mid_run_loses_nothing |
| batch_worker.TaskBatchWorker.register_death | re-delivers the put-back tasks of an aborted batch before RQ's death, if Redis answers | (same) a worker stopping before Redis came back | tests/queue_app/test_faults_concurrent.py::test_a_redis_outage_mid_run_loses_nothing |
| batch_worker.TaskBatchWorker.handle_payload | a stop-job for a task of the batch skips it if it has not run, discards its result if it is running | RQ knows only one current job per worker | tests/queue_app/test_batch_worker.py::test_cancel_skips_a_task_of_the_batch_not_run_yet_and_discards_a_running_ones_result |
| batch_worker.TaskBatchWorker.cleanup_execution | RQ's cleanup without the simple worker's idle state | the batch goes on; its end sets idle | tests/queue_app/test_batch_worker.py::test_a_batch_leaves_rq_and_the_rows_as_the_simple_worker_does |
| thread_worker.TaskThreadWorker.__init__, execute_job | a job runs on a pool thread as its own RQ execution; the main thread goes back to dequeue | I/O-bound handlers, up to WORKER_THREADS at once in one process | tests/queue_app/test_thread_worker.py::test_one_thread_worker_runs_tasks_at_the_same_time_and_rq_sees_each_run |
| thread_worker.TaskThreadWorker.execute_job | (same) the jobs taken start together (one lifecycle.start_many, one pipeline of executions); a recorder thread writes the successes' ends together (one conditional lifecycle.complete_many, one pipeline of RQ's per-job end) | per-task round trips cost the worker's one interpreter lock 3-4 times the CPU of the handlers' bookkeeping | tests/queue_app/test_thread_worker.py::test_a_thread_worker_leaves_rq_and_the_rows_as_the_simple_worker_does |
| thread_worker.TaskThreadWorker.execute_job | (same) a run whose end the recorder has not written is still processing: a kill -9 re-delivers it | at-least-once, never twice at once | tests/queue_app/test_thread_worker.py::test_a_kill_9_between_a_run_and_its_recorded_end_redelivers_the_task |
| thread_worker.TaskThreadWorker.dequeue_job_and_maintain_ttl | pops up to (free threads) jobs from the highest non-empty queue in one round trip (BLMPOP ... COUNT, as the batch worker), only when a pool thread is free; heartbeats while every thread is busy | RQ pops as soon as its one job ends; a popped job must have a thread | tests/queue_app/test_thread_worker.py::test_a_family_limit_holds_across_two_thread_workers |
| thread_worker.TaskThreadWorker.dequeue_job_and_maintain_ttl | (same) strict priority across the jobs taken | a higher task never waits behind a lower one | tests/queue_app/test_thread_worker.py::test_higher_priority_tasks_are_taken_first |
| thread_worker.TaskThreadWorker.set_state, cleanup_execution | idle only when no execution of this worker is on | RQ sets idle after each job; rq info must show the worker busy while any run is on | tests/queue_app/test_thread_worker.py::test_one_thread_worker_runs_tasks_at_the_same_time_and_rq_sees_each_run |
| thread_worker.TaskThreadWorker.handle_payload | a stop-job for a running run records the job stopped at once and discards the handler's result | a thread cannot be killed; RQ would kill a horse or do nothing | tests/queue_app/test_thread_worker.py::test_cancelling_a_running_task_stops_it_in_rq_and_discards_its_result |
| thread_worker.TaskThreadWorker._shutdown, teardown | a warm stop ends the wait for a job or a free thread at once, then lets every run finish | RQ waits for one job, and would repeat its blocking pop | tests/queue_app/test_thread_worker.py::test_a_warm_stop_lets_every_run_finish_and_a_cold_stop_puts_them_back |
| thread_worker.TaskThreadWorker.register_death | writes the ends handed to the recorder (once more itself, if an outage or a slow recorder kept one out), queues the rows of the runs still on again but not those of runs that succeeded, then stops the pool | a stop must neither strand the runs' tasks nor run a finished one again | tests/queue_app/test_thread_worker.py::test_a_warm_stop_lets_every_run_finish_and_a_cold_stop_puts_them_back |
| thread_worker.TaskThreadWorker.work | a worker with a stuck thread exits with code 75 after its other runs | a stuck thread keeps its slot forever; the supervisor starts a fresh worker | tests/queue_app/test_thread_worker.py::test_a_worker_with_a_stuck_thread_finishes_the_others_and_recycles_itself |
"""

from __future__ import annotations

from rq import Retry

from queue_app.rq_adapter.bulk import push_jobs_templated
from queue_app.rq_adapter.jobs import (
    CONNECTIONS,
    ENDED_JOB_STATUSES,
    JOB_FUNCTION,
    JOB_FUNCTIONS,
    JobState,
    TaskJob,
    current_job,
    get_connection,
    get_queue,
    job_refusal,
    job_refuse,
    job_states,
    push_jobs,
    queue_job_ids,
    queue_length,
    remove,
    retry_later,
    stop_running,
)
from queue_app.rq_adapter.registries import WorkerRecord, queue_counts, workers
from queue_app.rq_adapter.scheduler import SchedulerBase
from queue_app.rq_adapter.serializers import JobSerializer, install, resolve_serializer

__all__ = [
    "CONNECTIONS",
    "ENDED_JOB_STATUSES",
    "JOB_FUNCTION",
    "JOB_FUNCTIONS",
    "JobSerializer",
    "JobState",
    "Retry",
    "SchedulerBase",
    "TaskJob",
    "WorkerRecord",
    "current_job",
    "get_connection",
    "get_queue",
    "install",
    "job_refusal",
    "job_refuse",
    "job_states",
    "push_jobs",
    "push_jobs_templated",
    "queue_counts",
    "queue_job_ids",
    "queue_length",
    "remove",
    "resolve_serializer",
    "retry_later",
    "stop_running",
    "workers",
]
