# shellcheck shell=bash
# The lab's real Kubernetes node (component k8s_node), sourced by tests/lab/lab; uses its helpers
# (log, die, start_bg, stop_many, set_env, apt_install, ...). See tests/lab/README.md,
# "Real node (k8s_node)".
#
# Beside kwok's simulated nodes, one node where pods really run: kubelet and kube-proxy
# (iptables mode) $K8S_VERSION, containerd $CONTAINERD_VERSION with Debian's runc, Debian's CNI
# plugins on the lab bridge labk0 (10.245.0.1/24: the node IP and the pods' network). It is
# labelled portable.dev/lab-node=real and tainted portable.dev/lab-node=real:NoSchedule, so only
# pods that ask for it (node selector + toleration) run there. Images come from the lab registry
# (127.0.0.1:5000, plain HTTP; docker.io is mirrored to it too, nothing reaches the internet),
# the pod sandbox image is lab/pause:1 built here (tests/lab/pause/main.go).

NODE_NAME=lab-real-node
NODE_LABEL=portable.dev/lab-node
NODE_BIN=$LAB_CACHE/bin/node-k8s-$K8S_VERSION-containerd-$CONTAINERD_VERSION
NODE_CONF=$LAB_RUN/k8s-node                          # configs, certs (a new one each k8s PKI)
NODE_STATE=/var/lib/portable-lab/k8s-node            # containerd's content store (images stay), kubelet root
NODE_RUNDIR=/run/portable-lab/node                   # sockets and runtime state (short paths)
NODE_SOCK=$NODE_RUNDIR/containerd.sock
NODE_BRIDGE=labk0 NODE_IP=10.245.0.1 NODE_POD_CIDR=10.245.0.0/24
NODE_SERVICE_CIDR=10.96.0.0/16                       # the apiserver's --service-cluster-ip-range
NODE_KWOK_POD_CIDR=10.244.0.0/16                     # kwok's --cidr (up_k8s)
NODE_PAUSE_IMAGE=$REGISTRY/lab/pause:1
NODE_PROCS="kubelet kube-proxy node-containerd"

build_k8s_node() {  # called by lab build: kubelet, kube-proxy, containerd, pause (each cached)
  local t0; t0=$(ms)
  if ! bash "$LAB_DIR/build-node.sh" pause containerd kubelet >>"$LAB_CACHE/build.log" 2>&1; then
    tail -n 40 "$LAB_CACHE/build.log" >&2; die "build-node.sh failed (full log: $LAB_CACHE/build.log)"
  fi
  log "build: real node (kubelet, kube-proxy $K8S_VERSION, containerd $CONTAINERD_VERSION, pause) ready in $(took "$t0")"
}

node_ctr() { "$NODE_BIN/ctr" --address "$NODE_SOCK" --namespace k8s.io "$@"; }
node_kubectl() { KUBECONFIG=$(env_get KUBECONFIG) kubectl "$@"; }
# k8s_node_ok: the node is Ready in the apiserver and its kubelet answers /healthz
k8s_node_ok() {
  local port; port=$(cat "$NODE_CONF/healthz.port" 2>/dev/null) || return 1
  curl -fsS "http://127.0.0.1:$port/healthz" 2>/dev/null | grep -qx ok || return 1
  node_kubectl get node "$NODE_NAME" -o jsonpath='{.status.conditions[?(@.type=="Ready")].status}' 2>/dev/null | grep -qx True
}

node_fw() {  # node_fw -I|-D: forwarding to and from the pods' bridge (engine A sets FORWARD to DROP)
  local rule
  for rule in "-s $NODE_POD_CIDR" "-d $NODE_POD_CIDR"; do
    # shellcheck disable=SC2086
    if [[ $1 == -I ]]; then
      iptables -C FORWARD $rule -j ACCEPT 2>/dev/null || iptables -I FORWARD $rule -j ACCEPT
    else
      while iptables -D FORWARD $rule -j ACCEPT 2>/dev/null; do :; done
    fi
  done
}

# Pods reach lab services that listen on this host's loopback (moto: presigned S3 URLs that a
# pod's init container downloads) at the node IP, same port: DNAT from the pods' bridge (and
# from this host, so that one URL works on both sides) to 127.0.0.1. Only the listed ports.
NODE_EXPOSE_TAG=portable-lab-node-expose
node_expose() {  # node_expose PORT...: replaces the previous set
  node_unexpose
  sysctl -qw "net.ipv4.conf.$NODE_BRIDGE.route_localnet=1"
  local port
  for port; do
    iptables -t nat -A PREROUTING -i "$NODE_BRIDGE" -d "$NODE_IP" -p tcp --dport "$port" \
      -m comment --comment "$NODE_EXPOSE_TAG" -j DNAT --to-destination "127.0.0.1:$port"
    iptables -t nat -A OUTPUT -d "$NODE_IP" -p tcp --dport "$port" \
      -m comment --comment "$NODE_EXPOSE_TAG" -j DNAT --to-destination "127.0.0.1:$port"
  done
}
node_unexpose() {
  local chain rule
  for chain in PREROUTING OUTPUT; do
    iptables -t nat -S "$chain" 2>/dev/null | grep -F -- "--comment $NODE_EXPOSE_TAG" | while read -r rule; do
      # shellcheck disable=SC2086
      iptables -t nat ${rule/-A/-D} 2>/dev/null || true
    done || true   # (grep finds nothing: no rules to remove)
  done
}
node_expose_lab() {  # what the tests need pods to reach: moto, when it is up; sets LAB_K8S_NODE_MOTO_URL
  local moto port
  moto=$(env_get LAB_MOTO_URL); port=${moto##*:}
  NODE_MOTO_URL=
  if [[ -n $moto ]] && moto_ok; then node_expose "$port"; NODE_MOTO_URL=http://$NODE_IP:$port; else node_unexpose; fi
}

node_pki() {  # client certs for kubelet and kube-proxy, the kubelet's serving cert (lab CA)
  local P=$LAB_RUN/k8s/pki C=$NODE_CONF/pki api; api=$(env_get LAB_K8S_API)
  mkdir -p "$C"
  cert() {  # cert NAME SUBJECT EXTENSIONS...
    local n=$1 subj=$2; shift 2
    openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -subj "$subj" -keyout "$C/$n.key" -out "$C/$n.csr" 2>/dev/null
    printf '%s\n' "$@" >"$C/$n.ext"
    openssl x509 -req -in "$C/$n.csr" -CA "$P/ca.crt" -CAkey "$P/ca.key" -CAcreateserial -days 3650 \
      -extfile "$C/$n.ext" -out "$C/$n.crt" 2>/dev/null
  }
  local client="extendedKeyUsage=clientAuth" ku="keyUsage=critical,digitalSignature,keyEncipherment"
  cert kubelet-client "/O=system:nodes/CN=system:node:$NODE_NAME" "$client" "$ku"
  cert kube-proxy "/CN=system:kube-proxy" "$client" "$ku"
  cert kubelet-serving "/O=system:nodes/CN=system:node:$NODE_NAME" "subjectAltName=IP:$NODE_IP,DNS:$NODE_NAME" \
    "extendedKeyUsage=serverAuth" "$ku"
  chmod 600 "$C"/*.key
  local who
  for who in kubelet-client kube-proxy; do
    cat >"$NODE_CONF/$who.kubeconfig" <<EOF
apiVersion: v1
kind: Config
clusters:
- name: lab
  cluster: {server: $api, certificate-authority: $P/ca.crt}
users:
- name: $who
  user: {client-certificate: $C/$who.crt, client-key: $C/$who.key}
contexts:
- name: lab
  context: {cluster: lab, user: $who}
current-context: lab
EOF
  done
  # RBAC only (no Node authorizer in the lab apiserver): the built-in roles of a node and of kube-proxy
  node_kubectl apply -f - >/dev/null <<'EOF'
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: portable-lab:nodes}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: system:node}
subjects: [{apiGroup: rbac.authorization.k8s.io, kind: Group, name: system:nodes}]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: portable-lab:kube-proxy}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: system:node-proxier}
subjects: [{apiGroup: rbac.authorization.k8s.io, kind: User, name: system:kube-proxy}]
EOF
}

node_pause_image() {  # lab/pause:1 in the lab registry (rebuilt when the pause binary changes)
  local sum; sum=$(sha256sum "$NODE_BIN/pause" | cut -c1-16)
  if [[ $(docker -H "$DOCKER_A" image inspect -f '{{index .Config.Labels "lab.pause"}}' lab/pause:1 2>/dev/null) != "$sum" ]]; then
    local root; root=$(mktemp -d); cp "$NODE_BIN/pause" "$root/pause"
    tar -C "$root" -c . | docker -H "$DOCKER_A" import --change 'ENTRYPOINT ["/pause"]' \
      --change "LABEL lab.pause=$sum" - lab/pause:1 >/dev/null
    rm -rf "$root"
  fi
  docker -H "$DOCKER_A" tag lab/pause:1 "$NODE_PAUSE_IMAGE"
  docker -H "$DOCKER_A" push -q "$NODE_PAUSE_IMAGE" >/dev/null
}

node_configs() {
  local c=$NODE_CONF
  mkdir -p "$c/cni" "$c/certs.d/$REGISTRY" "$c/certs.d/docker.io" "$NODE_STATE" "$NODE_RUNDIR"
  # the lab registry, plain HTTP; docker.io is mirrored to it (lab/web:1 works as well as 127.0.0.1:5000/lab/web:1)
  local d
  for d in "$REGISTRY" docker.io; do
    cat >"$c/certs.d/$d/hosts.toml" <<EOF
server = "http://$REGISTRY"
[host."http://$REGISTRY"]
  capabilities = ["pull", "resolve"]
EOF
  done
  cat >"$c/cni/10-lab-node.conflist" <<EOF
{
  "cniVersion": "1.0.0",
  "name": "lab-node",
  "plugins": [
    {"type": "bridge", "bridge": "$NODE_BRIDGE", "isGateway": true, "ipMasq": false, "hairpinMode": true,
     "ipam": {"type": "host-local", "ranges": [[{"subnet": "$NODE_POD_CIDR", "gateway": "$NODE_IP"}]],
              "routes": [{"dst": "0.0.0.0/0"}], "dataDir": "$NODE_RUNDIR/cni-ipam"}},
    {"type": "portmap", "capabilities": {"portMappings": true}}
  ]
}
EOF
  cat >"$c/containerd.toml" <<EOF
version = 3
root = "$NODE_STATE/containerd"
state = "$NODE_RUNDIR/containerd"
disabled_plugins = ["io.containerd.nri.v1.nri", "io.containerd.snapshotter.v1.erofs", "io.containerd.differ.v1.erofs"]
[grpc]
  address = "$NODE_SOCK"
[ttrpc]
  address = "$NODE_SOCK.ttrpc"
[plugins.'io.containerd.internal.v1.opt']
  path = "$NODE_STATE/opt"
[plugins.'io.containerd.cri.v1.images']
  snapshotter = "overlayfs"
  [plugins.'io.containerd.cri.v1.images'.pinned_images]
    sandbox = "$NODE_PAUSE_IMAGE"
  [plugins.'io.containerd.cri.v1.images'.registry]
    config_path = "$c/certs.d"
[plugins.'io.containerd.cri.v1.runtime']
  # this machine's root lacks CAP_SYS_RESOURCE: runc cannot lower oom_score_adj (the kubelet asks
  # -998 for sandboxes: "failed to update /proc/self/oom_score_adj: Permission denied"), so the
  # adjustment is kept at or above containerd's own
  restrict_oom_score_adj = true
  [plugins.'io.containerd.cri.v1.runtime'.containerd]
    default_runtime_name = "runc"
    [plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes.runc.options]
        BinaryName = "$(command -v runc)"
        Root = "$NODE_RUNDIR/runc"
        SystemdCgroup = false
  [plugins.'io.containerd.cri.v1.runtime'.cni]
    bin_dirs = ["/usr/lib/cni"]
    conf_dir = "$c/cni"
[plugins.'io.containerd.grpc.v1.cri']
  stream_server_address = "127.0.0.1"
  stream_server_port = "0"
EOF
  local kubelet_port healthz_port proxy_healthz proxy_metrics
  read -r healthz_port proxy_healthz proxy_metrics < <(freeports 3)
  kubelet_port=10250                               # on the bridge's address only
  echo "$healthz_port" >"$c/healthz.port"
  cat >"$c/kubelet.yaml" <<EOF
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
address: $NODE_IP
port: $kubelet_port
readOnlyPort: 0
healthzBindAddress: 127.0.0.1
healthzPort: $healthz_port
tlsCertFile: $c/pki/kubelet-serving.crt
tlsPrivateKeyFile: $c/pki/kubelet-serving.key
authentication:
  anonymous: {enabled: false}
  webhook: {enabled: false}
  x509: {clientCAFile: $LAB_RUN/k8s/pki/ca.crt}
authorization: {mode: AlwaysAllow}
containerRuntimeEndpoint: unix://$NODE_SOCK
# this machine mounts cgroup v1 (as engine A's dockerd uses it); kubelet >= 1.35 refuses v1 unless told
failCgroupV1: false
cgroupDriver: cgroupfs
podCIDR: $NODE_POD_CIDR
clusterDomain: cluster.local
failSwapOn: false
registerWithTaints:
- {key: $NODE_LABEL, value: real, effect: NoSchedule}
maxPods: 40
serializeImagePulls: false
podLogsDir: $NODE_STATE/pod-logs
# a shared, busy machine: never evict the tests' pods for disk or memory pressure
evictionHard: {memory.available: "1Mi", nodefs.available: "1%", imagefs.available: "1%", nodefs.inodesFree: "1%"}
imageGCHighThresholdPercent: 100
imageGCLowThresholdPercent: 99
nodeStatusUpdateFrequency: 4s
syncFrequency: 10s
fileCheckFrequency: 10s
volumeStatsAggPeriod: 60s
EOF
  cat >"$c/kube-proxy.yaml" <<EOF
apiVersion: kubeproxy.config.k8s.io/v1alpha1
kind: KubeProxyConfiguration
clientConnection: {kubeconfig: $c/kube-proxy.kubeconfig}
hostnameOverride: $NODE_NAME
mode: iptables
clusterCIDR: $NODE_POD_CIDR
bindAddress: 127.0.0.1
healthzBindAddress: 127.0.0.1:$proxy_healthz
metricsBindAddress: 127.0.0.1:$proxy_metrics
nodePortAddresses: ["$NODE_IP/32"]
conntrack: {maxPerCore: 0, min: 0}
iptables: {syncPeriod: 10s, minSyncPeriod: 0s}
EOF
}

node_wipe() {  # forget every pod and container of an earlier node (images stay in the content store)
  if [[ -S $NODE_SOCK ]] && node_ctr version >/dev/null 2>&1; then
    local id
    for id in $(node_ctr tasks ls -q 2>/dev/null); do node_ctr tasks kill -s SIGKILL "$id" >/dev/null 2>&1 || true; done
    sleep 0.5
    for id in $(node_ctr tasks ls -q 2>/dev/null); do node_ctr tasks delete -f "$id" >/dev/null 2>&1 || true; done
    for id in $(node_ctr containers ls -q 2>/dev/null); do node_ctr containers delete "$id" >/dev/null 2>&1 || true; done
  fi
}
node_unmount() {  # what the kubelet and containerd left mounted under the node's directories
  local m
  for m in $(awk -v a="$NODE_STATE" -v b="$NODE_RUNDIR" '$2 ~ "^"a || $2 ~ "^"b {print $2}' /proc/self/mounts | sort -r); do
    umount -l "$m" 2>/dev/null || true
  done
}

up_k8s_node() {
  k8s_ok || die "k8s_node: the k8s component is not up (lab up k8s)"
  registry_ok || die "k8s_node: the registry is not up (lab up registry)"
  # a new control plane (its CA) or a changed node.sh means a new node
  local stamp; stamp=$(cat "$LAB_RUN/k8s/pki/ca.crt" "$LAB_DIR/node.sh" | sha256sum | cut -c1-16)
  if running kubelet && running node-containerd && [[ $(cat "$NODE_CONF/stamp" 2>/dev/null) == "$stamp" ]] && k8s_node_ok; then
    log "k8s_node: already up"
    node_expose_lab
  else
    local b t
    for b in kubelet kube-proxy containerd containerd-shim-runc-v2 ctr pause; do
      [[ -x $NODE_BIN/$b ]] || die "k8s_node: $NODE_BIN/$b is missing: run 'lab build' first"
    done
    have runc || apt_install runc
    [[ -x /usr/lib/cni/bridge && -x /usr/lib/cni/host-local && -x /usr/lib/cni/loopback && -x /usr/lib/cni/portmap ]] \
      || apt_install containernetworking-plugins
    have iptables || apt_install iptables
    down_k8s_node_procs
    rm -rf "$NODE_CONF"; mkdir -p "$NODE_CONF"
    node_pki
    node_configs
    node_pause_image
    # the pods' bridge carries the node IP; service IPs are routed to it, so that a ClusterIP
    # without kube-proxy's rules never leaves this machine
    ip link show "$NODE_BRIDGE" >/dev/null 2>&1 || ip link add "$NODE_BRIDGE" type bridge
    ip addr replace "$NODE_IP/24" dev "$NODE_BRIDGE"
    ip link set "$NODE_BRIDGE" up
    ip route replace "$NODE_SERVICE_CIDR" dev "$NODE_BRIDGE" src "$NODE_IP"
    # kube-proxy also routes Services of kwok's pods, whose IPs (kwok's --cidr) exist nowhere:
    # traffic DNATed to them is refused here instead of leaving through the default route
    ip route replace unreachable "$NODE_KWOK_POD_CIDR"
    node_fw -I

    t=$(ms)
    start_bg node-containerd env PATH="$NODE_BIN:$PATH" "$NODE_BIN/containerd" --config "$NODE_CONF/containerd.toml"
    wait_for 60 "node containerd" node_ctr version || { show_log node-containerd; die "containerd did not start"; }
    node_wipe
    rm -rf "$NODE_RUNDIR/cni-ipam"
    log "k8s_node: containerd ready in $(took "$t")"
    # (the node object of an earlier run would keep its old pods: start from none)
    node_kubectl delete node "$NODE_NAME" --ignore-not-found --wait=false >/dev/null 2>&1 || true

    t=$(ms)
    mkdir -p "$NODE_STATE/kubelet"
    start_bg kubelet "$NODE_BIN/kubelet" --config="$NODE_CONF/kubelet.yaml" \
      --kubeconfig="$NODE_CONF/kubelet-client.kubeconfig" --hostname-override="$NODE_NAME" \
      --node-ip="$NODE_IP" --node-labels="$NODE_LABEL=real" \
      --root-dir="$NODE_STATE/kubelet" --cert-dir="$NODE_CONF/pki" --v=1
    start_bg kube-proxy "$NODE_BIN/kube-proxy" --config="$NODE_CONF/kube-proxy.yaml" --v=1
    wait_for 120 "node $NODE_NAME Ready" k8s_node_ok || { show_log kubelet; die "the kubelet did not make $NODE_NAME Ready"; }
    running kube-proxy || { show_log kube-proxy; die "kube-proxy exited"; }
    log "k8s_node: kubelet and kube-proxy ready (node $NODE_NAME Ready) in $(took "$t")"
    echo "$stamp" >"$NODE_CONF/stamp"
    node_expose_lab
  fi
  set_env k8s_node LAB_K8S_REAL_NODE="$NODE_NAME" LAB_K8S_REAL_NODE_LABEL="$NODE_LABEL=real" \
    LAB_K8S_REAL_NODE_TAINT="$NODE_LABEL=real:NoSchedule" LAB_K8S_REAL_NODE_IP="$NODE_IP" \
    LAB_K8S_POD_IMAGE_REGISTRY="$REGISTRY" ${NODE_MOTO_URL:+LAB_K8S_NODE_MOTO_URL=$NODE_MOTO_URL}
}

down_k8s_node_procs() {
  stop_many kubelet kube-proxy
  if [[ -x $NODE_BIN/kube-proxy ]] && iptables -t nat -S KUBE-SERVICES >/dev/null 2>&1; then
    "$NODE_BIN/kube-proxy" --cleanup >/dev/null 2>&1 || true
  fi
  running node-containerd && node_wipe
  stop_many node-containerd
  pkill_shims
  node_unmount
}
pkill_shims() {  # containerd-shim-runc-v2 processes of this node only (their -address is our socket)
  local p
  for p in /proc/[0-9]*; do
    [[ $( { tr '\0' ' ' <"$p/cmdline"; } 2>/dev/null) == "$NODE_BIN/containerd-shim-runc-v2 "*"-address $NODE_SOCK "* ]] \
      && kill -KILL "${p#/proc/}" 2>/dev/null || true
  done
}
node_kubelet_chains_cleanup() {  # the kubelet's own chains (kube-proxy --cleanup leaves them)
  local ipt t c
  for ipt in iptables ip6tables; do
    have "$ipt" || continue
    while "$ipt" -D INPUT -j KUBE-FIREWALL 2>/dev/null; do :; done
    while "$ipt" -D OUTPUT -j KUBE-FIREWALL 2>/dev/null; do :; done
    for t in filter nat mangle; do
      for c in KUBE-FIREWALL KUBE-KUBELET-CANARY KUBE-IPTABLES-HINT; do
        "$ipt" -t "$t" -F "$c" 2>/dev/null && "$ipt" -t "$t" -X "$c" 2>/dev/null || true
      done
    done
  done
}
down_k8s_node() {
  down_k8s_node_procs
  node_kubelet_chains_cleanup
  node_fw -D
  node_unexpose
  ip route del "$NODE_SERVICE_CIDR" dev "$NODE_BRIDGE" 2>/dev/null || true
  ip route del unreachable "$NODE_KWOK_POD_CIDR" 2>/dev/null || true
  ip link del "$NODE_BRIDGE" 2>/dev/null || true
  k8s_ok && node_kubectl delete node "$NODE_NAME" --ignore-not-found --wait=false >/dev/null 2>&1 || true
  clear_env k8s_node
}
status_k8s_node() {
  local st; k8s_node_ok && st=up || st=down
  printf '%-9s %-5s %s\n' k8s_node "$st" "node $NODE_NAME ($NODE_LABEL=real, IP $NODE_IP), containerd $NODE_SOCK"
}
