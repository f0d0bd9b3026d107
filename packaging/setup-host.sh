#!/bin/sh
# Prepares this host for reachgate's services: the reachgate system user, its state folder and the agent's spool
# (0700, the reports may name internal hosts). The Debian package runs it on install; after unpacking the tarball
# at /, run it once as root. Running it again changes nothing.
set -eu
if ! getent passwd reachgate >/dev/null; then
  useradd --system --user-group --home-dir /var/lib/reachgate --no-create-home --shell /usr/sbin/nologin \
    --comment 'reachgate network reachability probe' reachgate
fi
install -d -m 0700 -o reachgate -g reachgate /var/lib/reachgate /var/spool/reachgate
