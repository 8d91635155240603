#!/bin/sh
# A `zk-members watch --exec` handler: turns the members on stdin (a JSON
# array; each member's data is {"address": ..., "port": ...}) into a proxy's
# upstream file in nginx syntax, replaced atomically (the proxy never reads
# half a file), then runs $RELOAD_COMMAND (e.g. `nginx -s reload`).
#
#   zk-members watch /failover/upstreams --exec 'update-upstream.sh /etc/nginx/conf.d/app-upstream.conf'
#
# With no member at all the file is left as it was: an upstream block with
# no server would make the proxy refuse its whole configuration.
set -eu
out=$1
tmp="$out.tmp.$$"
servers=$(python3 -c '
import json, sys
for m in json.load(sys.stdin):
    d = m.get("data") or {}
    print("    server %s:%s;  # %s" % (d["address"], d["port"], m["id"]))
')
if [ -z "$servers" ]; then
  echo "update-upstream.sh: no live member under ${ZK_MEMBERS_PATH:-?}; $out left as it was" >&2
  exit 0
fi
printf '# written by update-upstream.sh from %s\nupstream app {\n%s\n}\n' \
  "${ZK_MEMBERS_PATH:-?}" "$servers" > "$tmp"
mv -f "$tmp" "$out"
${RELOAD_COMMAND:-true}
