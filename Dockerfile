# Dockerflow image of tooltool-proxy (README "Container"): user 10001, /app/version.json, listens on $PORT.
#
#   deps     the runtime dependencies, exactly as pinned in requirements/constraints.txt, in /opt/venv
#   wheel    the tooltool-proxy wheel, built by pyproject.toml's backend as pinned in requirements/build.txt
#   package  that wheel installed under /package, laid out like /opt/venv
#   (final)  python:3.11-slim with /opt/venv and /app/version.json, nothing else
#
# Layers go from what changes least to what changes most: the dependency layers are rebuilt only when
# requirements/constraints.txt changes, a source change rebuilds from the wheel on, and the build arguments
# change only the last layer. Nothing here needs BuildKit.

FROM python:3.11-slim AS deps
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_ROOT_USER_ACTION=ignore
COPY requirements/constraints.txt /tmp/constraints.txt
# --no-deps: the file pins the whole closure; `pip check` proves it is complete.
RUN python -m venv --without-pip /opt/venv \
    && pip --python /opt/venv/bin/python install --no-deps -r /tmp/constraints.txt \
    && pip --python /opt/venv/bin/python check

FROM python:3.11-slim AS wheel
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_ROOT_USER_ACTION=ignore
WORKDIR /src
COPY requirements/build.txt /tmp/build.txt
RUN pip download --quiet --no-deps --only-binary :all: --dest /build-backend -r /tmp/build.txt
COPY pyproject.toml setup.py README.md ./
COPY manifests ./manifests
COPY proxy ./proxy
# Build isolation installs pyproject.toml's [build-system] requires, from the pinned wheels only.
RUN pip wheel --no-deps --no-index --find-links /build-backend --wheel-dir /wheel .

FROM deps AS package
COPY --from=wheel /wheel /wheel
RUN pip --python /opt/venv/bin/python install --no-deps --no-index --prefix /package /wheel/*.whl

FROM python:3.11-slim
RUN groupadd --gid 10001 app \
    && useradd --uid 10001 --gid 10001 --home-dir /app --no-create-home --shell /usr/sbin/nologin app \
    && mkdir /app /data && chown app:app /data
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    PORT=8000 \
    TOOLTOOL_STORE=file:///data \
    TOOLTOOL_VERSION_FILE=/app/version.json
COPY --from=deps /opt/venv /opt/venv
COPY --from=package /package/ /opt/venv/
WORKDIR /app
VOLUME /data
EXPOSE 8000
# The image's own Python, no curl: healthy while the event loop answers the load balancer's heartbeat.
HEALTHCHECK --interval=30s --timeout=5s --start-period=10s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/__lbheartbeat__' % os.environ['PORT'], timeout=4)"]

ARG SOURCE=unknown
# Empty: the installed package's version.
ARG VERSION=
ARG COMMIT=unknown
ARG BUILD=unknown
RUN python -c 'import json, os, importlib.metadata as m; json.dump({"source": os.environ["SOURCE"], "version": os.environ["VERSION"] or m.version("tooltool-proxy"), "commit": os.environ["COMMIT"], "build": os.environ["BUILD"]}, open("/app/version.json", "w"))'

USER 10001:10001
# A container must listen on every interface; TOOLTOOL_PUBLIC_URL tells clients where it is.
CMD ["sh", "-c", "exec tooltool-proxy serve --host 0.0.0.0 --port \"$PORT\" --workers auto"]
