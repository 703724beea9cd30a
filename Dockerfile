# One image for the four KibaLock services (gateway, processors, trainer, dashboard).
FROM python:3.11-slim-bookworm
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 \
    KIBALOCK_CACHE_DIR=/var/cache/kibalock
RUN apt-get update && apt-get install -y --no-install-recommends libsndfile1 \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY pyproject.toml README.md ./
COPY schemas ./schemas
COPY core ./core
COPY producers ./producers
COPY auth_gateway ./auth_gateway
COPY stream_processors ./stream_processors
COPY trainer ./trainer
COPY dashboard ./dashboard
COPY devstack ./devstack
COPY bench ./bench
COPY kibalock_cli ./kibalock_cli
RUN pip install --no-cache-dir uv && uv pip install --system --no-cache . \
    && kibalock models fetch
USER 10001
ENTRYPOINT ["kibalock"]
