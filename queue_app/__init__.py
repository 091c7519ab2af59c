"""The task queue: PostgreSQL task rows delivered to django-rq workers through Redis."""
