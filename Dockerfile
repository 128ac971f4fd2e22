# The streamer image: `streamer worker`, `streamer topics apply`, `streamer simulate --kafka`.
FROM python:3.11-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /app
# Dependencies first (cached while only the code changes); the package is installed
# editable because the contract (topics/) is read from next to it.
COPY pyproject.toml README.md ./
COPY streamer/__init__.py streamer/
RUN pip install -e ".[runtime]"
COPY topics/ topics/
COPY streamer/ streamer/

RUN useradd --uid 10001 --create-home streamer && mkdir -p /data && chown streamer /data
USER streamer
ENV STREAMER_DATA_DIR=/data STREAMER_METRICS_ADDR=0.0.0.0:9400 STREAMER_WEB_PORT=0
VOLUME /data
EXPOSE 9400
ENTRYPOINT ["streamer"]
CMD ["worker"]
