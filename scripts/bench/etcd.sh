# Sourced by the benchmarks that compare with etcd and kazoo: installs
# etcd and kazoo if missing and starts one etcd on loopback for this run.
# Needs $work (a scratch directory); sets $etcd_pid and $etcdctl.

missing=()
command -v etcd >/dev/null || missing+=(etcd-server)
command -v etcdctl >/dev/null || missing+=(etcd-client)
((${#missing[@]} == 0)) || DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
python3 -c 'import kazoo' 2>/dev/null || pip install -q kazoo

etcd --name bench --data-dir "$work/etcd" --listen-client-urls http://127.0.0.1:23790 \
  --advertise-client-urls http://127.0.0.1:23790 --listen-peer-urls http://127.0.0.1:23800 \
  --initial-advertise-peer-urls http://127.0.0.1:23800 --initial-cluster bench=http://127.0.0.1:23800 \
  > "$work/etcd.log" 2>&1 &
etcd_pid=$!
export ETCDCTL_API=3
etcdctl="etcdctl --endpoints=http://127.0.0.1:23790"
for _ in $(seq 100); do $etcdctl endpoint health >/dev/null 2>&1 && break; sleep 0.1; done
