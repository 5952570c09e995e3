# One image for every process: `ioc worker`, `ioc api`, `ioc simulate`, `ioc migrate`,
# `ioc connect ...`. A regular (non-editable) install of the project's wheel, its dependencies
# pinned by constraints.txt; without the `embedded` extra: Kafka, TimescaleDB and Mosquitto are
# their own services here, so the image has no broker, PostgreSQL or MQTT binaries.
FROM python:3.11-slim AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /src
COPY pyproject.toml README.md LICENSE ./
COPY ioc ioc
COPY streams streams
COPY connectors connectors
COPY api api
COPY dashboards dashboards
COPY bench bench
RUN pip wheel --no-deps --wheel-dir /wheels .

FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
RUN useradd --system --create-home --uid 10001 ioc
COPY constraints.txt /tmp/constraints.txt
COPY --from=build /wheels /tmp/wheels
RUN pip install -c /tmp/constraints.txt /tmp/wheels/*.whl && rm -rf /tmp/wheels /tmp/constraints.txt \
    && mkdir -p /data && chown ioc /data
WORKDIR /data
USER ioc
ENV IOC_DATA_DIR=/data IOC_API_HOST=0.0.0.0
ENTRYPOINT ["ioc"]
CMD ["api"]
