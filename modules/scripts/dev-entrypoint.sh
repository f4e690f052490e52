#!/bin/sh
# pipeline development image entrypoint.
#   (no arguments) | build | test | configure | all : run pipeline-build on the source tree at /src
#   sshd : generate this container's host keys, then serve ssh (key authentication only) on $SSH_PORT (22)
#          at the address $SSH_LISTEN (127.0.0.1: with --network host, this machine only; 0.0.0.0 for every
#          interface, as docker run -p needs); keys from $SSH_AUTHORIZED_KEYS or a mounted /root/.ssh/authorized_keys
#   anything else : run it
set -e
case "${1:-all}" in
  all|build|test|configure) exec /usr/local/bin/pipeline-build "${1:-all}" ;;
  sshd)
    ssh-keygen -A >/dev/null
    if [ -n "${SSH_AUTHORIZED_KEYS:-}" ]; then
      mkdir -p /root/.ssh && printf '%s\n' "$SSH_AUTHORIZED_KEYS" > /root/.ssh/authorized_keys
      chmod 700 /root/.ssh && chmod 600 /root/.ssh/authorized_keys
    fi
    exec /usr/sbin/sshd -D -e -p "${SSH_PORT:-22}" -o ListenAddress="${SSH_LISTEN:-127.0.0.1}" ;;
  *) exec "$@" ;;
esac
