#!/usr/bin/env bash
# A real ZooKeeper ensemble on 127.0.0.1 for development, demos and CI,
# from Debian's `zookeeper` package.
#
#   scripts/zookeeper.sh install        install ZooKeeper, a JRE, the Curator jars and the example checkers (idempotent)
#   scripts/zookeeper.sh install --kerberos   also a KDC and the krb5 build deps (GSSAPI test)
#   scripts/zookeeper.sh start [N]      start N servers (default 3), wait for a quorum, print the connect string
#   scripts/zookeeper.sh stop           stop every server and keep the data
#   scripts/zookeeper.sh status         each server's mode (leader, follower, down)
#   scripts/zookeeper.sh kill I         SIGKILL server I (1-based), for fault injection
#   scripts/zookeeper.sh restart I      start server I again and wait until it serves
#   scripts/zookeeper.sh connect        print the connect string
#   scripts/zookeeper.sh clean          stop and delete all data
#
# Environment: ZK_LOCAL_DIR (default .zk-local in the repository),
# ZK_BASE_PORT (default 2181: clients use 2181..2181+N-1, peers 2888+,
# elections 3888+, admin servers 8081+ unless ZK_ADMIN_BASE_PORT is set).
# The tick is 500 ms, so sessions from 1 s to 60 s are allowed; every
# four-letter word is whitelisted.
set -euo pipefail

repo=$(cd "$(dirname "$0")/.." && pwd)
dir=${ZK_LOCAL_DIR:-$repo/.zk-local}
base=${ZK_BASE_PORT:-2181}
peer_base=$((base + 707))        # 2888 for the default base
election_base=$((base + 1707))   # 3888
admin_base=${ZK_ADMIN_BASE_PORT:-$((base + 5900))}  # 8081
tick=500
jar=/usr/share/java/zookeeper.jar
classpath="$jar:/usr/share/java/servlet-api.jar:/usr/share/java/slf4j-simple.jar:/usr/share/java/netty-codec.jar:/usr/share/java/netty-resolver.jar:/usr/share/java/netty-transport-native-unix-common.jar"
packages=(zookeeper default-jre-headless libservlet-api-java libslf4j-java libnetty-java openssl faketime
          libcurator-client-java libcurator-framework-java libcurator-recipes-java libcurator-discovery-java)

die() { echo "zookeeper.sh: $*" >&2; exit 1; }

servers() { cat "$dir/servers" 2>/dev/null || echo 0; }

connect_string() {
  local n i out=()
  n=$(servers)
  for ((i = 1; i <= n; i++)); do out+=("127.0.0.1:$((base + i - 1))"); done
  (IFS=,; echo "${out[*]}")
}

# Sends a four-letter word with bash's /dev/tcp, so nc is not needed.
four_letter() {
  local port=$1 word=$2
  timeout 2 bash -c "exec 3<>/dev/tcp/127.0.0.1/$port && printf '%s' '$word' >&3 && cat <&3" 2>/dev/null
}

mode() { four_letter "$((base + $1 - 1))" srvr | sed -n 's/^Mode: //p'; }

# What tests/examples.rs checks the example files with: systemd-analyze
# (Debian's systemd), PyYAML and kubernetes-validate (PyPI); and kazoo
# (PyPI), the Python client the interop tests contend with.
install_example_checkers() {
  local sudo="" apt=()
  [ "$(id -u)" -eq 0 ] || sudo=sudo
  command -v systemd-analyze >/dev/null || apt+=(systemd)
  command -v python3 >/dev/null || apt+=(python3)
  python3 -m pip --version >/dev/null 2>&1 || apt+=(python3-pip)
  if ((${#apt[@]} > 0)); then
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${apt[@]}" >/dev/null
  fi
  local wheels=(PyYAML 'kubernetes-validate>=1.30' 'kazoo==2.11.0')
  if ! python3 -c 'import yaml, kazoo' 2>/dev/null || ! command -v kubernetes-validate >/dev/null; then
    # Debian's own python3 refuses a plain pip install (PEP 668).
    python3 -m pip install --quiet --disable-pip-version-check "${wheels[@]}" \
      || $sudo python3 -m pip install --quiet --break-system-packages "${wheels[@]}"
  fi
}

install() {
  install_example_checkers
  local missing=() wanted=("${packages[@]}")
  # --kerberos: a KDC for the GSSAPI test, and what a build with
  # --features zk-common/gssapi needs (krb5 headers, libclang for bindgen).
  [ "${1:-}" = --kerberos ] && wanted+=(krb5-kdc krb5-admin-server libkrb5-dev libclang-dev)
  for p in "${wanted[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing+=("$p")
  done
  # The tests compile their Curator clients with javac.
  command -v javac >/dev/null || missing+=(default-jdk-headless)
  if ((${#missing[@]} == 0)); then
    echo "ZooKeeper, Java and Curator are installed"
    return
  fi
  echo "installing: ${missing[*]}"
  local sudo=""
  [ "$(id -u)" -eq 0 ] || sudo=sudo
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  # Debian starts a system ZooKeeper on 2181 when it can; ours needs the port.
  if command -v systemctl >/dev/null && systemctl is-active --quiet zookeeper 2>/dev/null; then
    $sudo systemctl disable --now zookeeper >/dev/null 2>&1 || true
  fi
}

write_config() {
  local n=$1 i j
  for ((i = 1; i <= n; i++)); do
    mkdir -p "$dir/server$i/data"
    echo "$i" > "$dir/server$i/data/myid"
    {
      echo "tickTime=$tick"
      echo "initLimit=20"
      echo "syncLimit=10"
      echo "minSessionTimeout=$((2 * tick))"
      echo "maxSessionTimeout=60000"
      echo "dataDir=$dir/server$i/data"
      echo "clientPort=$((base + i - 1))"
      echo "clientPortAddress=127.0.0.1"
      echo "4lw.commands.whitelist=*"
      echo "admin.enableServer=true"
      echo "admin.serverAddress=127.0.0.1"
      echo "admin.serverPort=$((admin_base + i - 1))"
      echo "standaloneEnabled=$([ "$n" -eq 1 ] && echo true || echo false)"
      echo "reconfigEnabled=false"
      echo "preAllocSize=1024"
      for ((j = 1; j <= n; j++)); do
        echo "server.$j=127.0.0.1:$((peer_base + j - 1)):$((election_base + j - 1)):participant;127.0.0.1:$((base + j - 1))"
      done
    } > "$dir/server$i/zoo.cfg"
  done
  echo "$n" > "$dir/servers"
}

running() { [ -f "$dir/server$1/pid" ] && kill -0 "$(cat "$dir/server$1/pid")" 2>/dev/null && \
            ! grep -q '^State:.*Z' "/proc/$(cat "$dir/server$1/pid")/status" 2>/dev/null; }

launch() {
  local i=$1
  running "$i" && return
  setsid nohup java -Xmx256m -XX:+UseSerialGC -Dorg.slf4j.simpleLogger.defaultLogLevel=warn \
    -cp "$classpath" org.apache.zookeeper.server.quorum.QuorumPeerMain "$dir/server$i/zoo.cfg" \
    >> "$dir/server$i/server.log" 2>&1 < /dev/null &
  echo $! > "$dir/server$i/pid"
}

wait_serving() {
  local i=$1 deadline=$((SECONDS + 60))
  until [[ "$(mode "$i")" =~ ^(leader|follower|standalone)$ ]]; do
    running "$i" || die "server $i exited; see $dir/server$i/server.log"
    ((SECONDS < deadline)) || die "server $i did not serve within 60s; see $dir/server$i/server.log"
    sleep 0.1
  done
}

start() {
  local n=${1:-3} i
  [ -f "$jar" ] || die "ZooKeeper is not installed; run: scripts/zookeeper.sh install"
  [[ "$n" =~ ^[1-9][0-9]*$ ]] || die "start takes a number of servers, not '$n'"
  if [ "$(servers)" != "$n" ]; then
    stop_all quiet
    rm -rf "$dir"
  fi
  write_config "$n"
  for ((i = 1; i <= n; i++)); do launch "$i"; done
  for ((i = 1; i <= n; i++)); do wait_serving "$i"; done
  connect_string
}

stop_all() {
  local n i pid
  n=$(servers)
  for ((i = 1; i <= n; i++)); do
    if running "$i"; then
      pid=$(cat "$dir/server$i/pid")
      kill "$pid" 2>/dev/null || true
      for _ in $(seq 50); do running "$i" || break; sleep 0.1; done
      kill -9 "$pid" 2>/dev/null || true
    fi
    rm -f "$dir/server$i/pid"
  done
  [ "${1:-}" = quiet ] || echo "stopped $n server(s)"
}

status() {
  local n i m
  n=$(servers)
  ((n > 0)) || { echo "no ensemble configured in $dir"; return 1; }
  for ((i = 1; i <= n; i++)); do
    m=$(mode "$i")
    echo "server $i 127.0.0.1:$((base + i - 1)) ${m:-down}"
  done
}

server_arg() {
  [[ "${1:-}" =~ ^[1-9][0-9]*$ ]] && (($1 <= $(servers))) || die "expected a server number from 1 to $(servers), got '${1:-}'"
}

case "${1:-}" in
  install) install "${2:-}" ;;
  start) start "${2:-3}" ;;
  stop) stop_all ;;
  status) status ;;
  kill)
    server_arg "${2:-}"
    if running "$2"; then kill -9 "$(cat "$dir/server$2/pid")"; fi
    rm -f "$dir/server$2/pid"
    echo "killed server $2" ;;
  restart)
    server_arg "${2:-}"
    launch "$2"
    wait_serving "$2"
    echo "server $2 $(mode "$2")" ;;
  connect) connect_string ;;
  clean) stop_all quiet; rm -rf "$dir"; echo "removed $dir" ;;
  *) sed -n '2,21p' "$0" | sed 's/^# \{0,1\}//'; exit 2 ;;
esac
