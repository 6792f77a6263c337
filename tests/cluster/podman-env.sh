# Podman/buildah configuration kept under $K8S_E2E_HOME/podman (no edits to /etc/containers).
# Sourced after env.sh. Needed here: runc (crun refuses hybrid cgroups), cgroupfs (PID 1 is not
# systemd), ulimits at the hard limits (root lacks CAP_SYS_RESOURCE).
PODMAN_HOME=${PODMAN_HOME:-$K8S_E2E_HOME/podman}
mkdir -p "$PODMAN_HOME"
cat > "$PODMAN_HOME/storage.conf" <<EOT
[storage]
driver = "overlay"
graphroot = "$PODMAN_HOME/storage"
runroot = "$PODMAN_HOME/run"
EOT
_nofile=$(ulimit -Hn)
cat > "$PODMAN_HOME/containers.conf" <<EOT
[containers]
default_ulimits = ["nofile=$_nofile:$_nofile", "nproc=32768:32768"]
[engine]
cgroup_manager = "cgroupfs"
events_logger = "file"
runtime = "runc"
[network]
network_backend = "netavark"
network_config_dir = "$PODMAN_HOME/networks"
EOT
export CONTAINERS_CONF=$PODMAN_HOME/containers.conf CONTAINERS_STORAGE_CONF=$PODMAN_HOME/storage.conf
APP_TAG=${APP_TAG:-$(awk -F'"' '/^appVersion:/ {print $2}' "$REPO_ROOT/helm/ico-analytics/Chart.yaml")}
