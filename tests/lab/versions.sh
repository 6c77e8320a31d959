# Versions of every lab component; the build cache is keyed by these.
K8S_VERSION=${K8S_VERSION:-v1.36.3}
ETCD_VERSION=${ETCD_VERSION:-v3.6.14}
KWOK_VERSION=${KWOK_VERSION:-v0.8.0}
GOVMOMI_VERSION=${GOVMOMI_VERSION:-v0.56.0}
MOTO_VERSION=${MOTO_VERSION:-5.1.22}
LAB_CACHE=${LAB_CACHE:-/var/cache/portable-lab}
LAB_RUN=${LAB_RUN:-/tmp/portable-lab}
KAMAL_PROXY_VERSION=${KAMAL_PROXY_VERSION:-v0.9.2}  # front proxy; only explicit tags are served by the Go proxy
CONTAINERD_VERSION=${CONTAINERD_VERSION:-v2.4.2}  # the real node (k8s_node): kubelet $K8S_VERSION needs containerd 2.x
COMPOSE_VERSION=${COMPOSE_VERSION:-v2.40.3}          # docker compose v2 (CLI plugin), tests/lab/build-parts.sh
TOXIPROXY_VERSION=${TOXIPROXY_VERSION:-v2.5.0}      # the `faults` component
