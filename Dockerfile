# payivr's container image (used by asterisk/docker-compose.yml).
FROM python:3.11-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1
# uid and gid 10001: asterisk/init-secrets.sh gives payivr's secret files to group 10001.
RUN groupadd --system --gid 10001 payivr \
    && useradd --system --uid 10001 --gid payivr --create-home payivr \
    && mkdir -p /var/lib/payivr/gateway /etc/payivr \
    && chown -R payivr:payivr /var/lib/payivr

WORKDIR /opt/payivr/src
COPY pyproject.toml README.md requirements-runtime.lock ./
COPY payivr ./payivr
# Only the hash-pinned packages of requirements-runtime.lock (make lock), then payivr itself.
RUN pip install --require-hashes -r requirements-runtime.lock \
    && pip install --no-deps --no-build-isolation .

USER payivr
WORKDIR /home/payivr
# 8080: the agents' console; 4573: FastAGI (the *7 variant of dialplan [payivr-feature-agi]).
EXPOSE 8080 4573
CMD ["payivr", "--config", "/etc/payivr/payivr.toml", "run"]
