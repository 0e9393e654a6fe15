# Dockerflow-style image: non-root user 10001, /app/version.json, listens on $PORT.
FROM python:3.11-slim

ARG SOURCE=unknown
ARG VERSION=0.1.0
ARG COMMIT=unknown
ARG BUILD=unknown

ENV PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    PORT=8000 \
    TOOLTOOL_STORE=file:///data \
    TOOLTOOL_VERSION_FILE=/app/version.json

RUN groupadd --gid 10001 app && useradd --uid 10001 --gid 10001 --home /app --create-home app

WORKDIR /app
COPY setup.py README.md ./
COPY manifests ./manifests
COPY proxy ./proxy
RUN pip install --no-cache-dir . \
    && printf '{"source": "%s", "version": "%s", "commit": "%s", "build": "%s"}\n' \
        "$SOURCE" "$VERSION" "$COMMIT" "$BUILD" > /app/version.json \
    && mkdir /data && chown app:app /data

USER app
VOLUME /data
EXPOSE 8000
# A container must listen on every interface; TOOLTOOL_PUBLIC_URL tells clients where it is.
CMD ["sh", "-c", "exec tooltool-proxy serve --host 0.0.0.0 --port \"$PORT\" --workers auto"]
