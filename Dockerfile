# One image for every process: `ioc worker`, `ioc api`, `ioc simulate`, `ioc migrate`.
FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1
WORKDIR /app
RUN useradd --system --create-home --uid 10001 ioc
COPY pyproject.toml README.md ./
COPY ioc ioc
COPY streams streams
COPY connectors connectors
COPY api api
COPY dashboards dashboards
RUN pip install -e . && mkdir -p /data && chown ioc /data
USER ioc
ENV IOC_DATA_DIR=/data IOC_API_HOST=0.0.0.0
ENTRYPOINT ["ioc"]
CMD ["api"]
