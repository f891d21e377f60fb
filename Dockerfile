# One image for the worker, the API, the dashboard and the codec server (the command picks the role).
FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1
WORKDIR /app
COPY pyproject.toml README.md ./
COPY calendars calendars
COPY cases cases
COPY workflows workflows
COPY activities activities
COPY workers workers
COPY dashboard dashboard
COPY clients clients
COPY common common
COPY api api
COPY schemas schemas
RUN pip install --no-cache-dir .
RUN useradd --create-home app
USER app
CMD ["python", "-m", "workers"]
