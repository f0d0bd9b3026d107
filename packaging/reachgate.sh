#!/bin/sh
# reachgate as its Debian package or tarball installs it: the Node.js it carries runs the bundled CLI.
exec /usr/lib/reachgate/node/bin/node /usr/lib/reachgate/bin/reachgate "$@"
