#!/bin/sh
# The CGI script a web server runs for rocks-compile (see apache-cgi.conf): the responder with
# this site's settings. The web server's user needs to read the database and, for boot-done
# and reinstall, to write it, its directory and the tree.
exec /usr/local/bin/rocks-compile --db /var/lib/rocks-compile/cluster.db cgi \
    --tree /var/lib/rocks-compile/tree --privileged-port --x-sendfile
