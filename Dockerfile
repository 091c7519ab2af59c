# One image for every role (web, worker, scheduler); docker-compose.yml picks the command.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

# Debian's Chromium (Playwright drives it for browser tasks) and a font so pages render text.
ARG INSTALL_CHROMIUM=1
RUN if [ "$INSTALL_CHROMIUM" = "1" ]; then \
        apt-get update \
        && apt-get install -y --no-install-recommends chromium fonts-dejavu-core \
        && rm -rf /var/lib/apt/lists/*; \
    fi

WORKDIR /app
COPY requirements.txt .
RUN pip install -r requirements.txt

COPY . .

ENV DJANGO_SETTINGS_MODULE=upwork_automation.settings.production \
    STATIC_ROOT=/app/staticfiles \
    LOG_DIR=/app/logs \
    MEDIA_ROOT=/app/media \
    WEB_CONCURRENCY=2

# Static files are gathered at build time; whitenoise serves them (the keys are throwaways for this step only).
RUN SECRET_KEY=collectstatic-build-only \
    FIELD_ENCRYPTION_KEY="$(python -c 'from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())')" \
    python manage.py collectstatic --noinput -v 0 \
    && useradd --create-home --uid 1000 app \
    && mkdir -p /app/logs /app/media /app/.data \
    && chown -R app:app /app/logs /app/media /app/.data

USER app
EXPOSE 8000
HEALTHCHECK --interval=15s --timeout=5s --start-period=30s --retries=3 CMD ["python", "scripts/healthcheck.py", "web"]
CMD ["gunicorn", "upwork_automation.wsgi", "--bind", "0.0.0.0:8000", "--access-logfile", "-"]
