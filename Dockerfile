# otpq worker / Flower / sandbox image. Build: `docker compose build` (docs/deploy.md).
#
# BASE_IMAGE must carry python3 (>= 3.11) with venv; the default is the official image.
# WHEELHOUSE: a directory of the build context holding otpq's wheel and every pinned
# dependency (`pip wheel . -r requirements.lock -w wheels`): when it has wheels the build
# never touches the network; when empty, the wheels are built from PyPI here.
ARG BASE_IMAGE=python:3.11-slim-bookworm

FROM ${BASE_IMAGE} AS build
ARG WHEELHOUSE=wheels
WORKDIR /src
COPY . /src
RUN set -eu; \
    python3 -m venv /opt/otpq; \
    if ls "/src/${WHEELHOUSE}"/otpq-*.whl >/dev/null 2>&1; then \
        cp -r "/src/${WHEELHOUSE}" /wheels; \
    else \
        /opt/otpq/bin/pip wheel --no-cache-dir -w /wheels -r requirements.lock .; \
    fi; \
    /opt/otpq/bin/pip install --no-cache-dir --no-index --find-links /wheels \
        -r requirements.lock; \
    /opt/otpq/bin/pip install --no-cache-dir --no-index --find-links /wheels --no-deps otpq; \
    /opt/otpq/bin/pip check

FROM ${BASE_IMAGE}
# Non-root: nothing in otpq needs privileges; the ready file lives in the user's HOME.
RUN useradd --create-home --home-dir /home/otpq --uid 10001 --user-group otpq
COPY --from=build /opt/otpq /opt/otpq
COPY deploy/docker/entrypoint.sh /usr/local/bin/otpq-entrypoint
ENV PATH=/opt/otpq/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    OTPQ_READY_FILE=/home/otpq/ready
USER otpq
WORKDIR /home/otpq
# Workers touch the ready file once consuming and remove it on shutdown; Flower and the
# sandbox get their own healthcheck in docker-compose.yml.
HEALTHCHECK --interval=10s --timeout=5s --start-period=60s --retries=3 \
    CMD test -f "$OTPQ_READY_FILE"
ENTRYPOINT ["otpq-entrypoint"]
CMD ["celery", "-A", "worker", "worker", "-Q", "otp.interactive,otp.bulk"]
