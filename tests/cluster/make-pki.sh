#!/bin/bash
# PKI for the local cluster (openssl): a CA, the apiserver's serving certificate, the
# apiserver's client certificate for kubelets, the service-account key pair, a static token file
# and one kubeconfig per component. Made once (FORCE=1 remakes); kubeconfigs are rewritten every
# time so a changed APISERVER_PORT is picked up.
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/env.sh"
P=$K8S_E2E_PKI
mkdir -p "$P"; chmod 700 "$P"; cd "$P"

if [ "${FORCE:-0}" = 1 ] || [ ! -s tokens.csv ]; then
  rm -f ./*.key ./*.crt ./*.csr ./*.ext ./*.srl ./*.pub tokens.csv ./*.kubeconfig
  openssl genrsa -out ca.key 2048 2>/dev/null
  openssl req -x509 -new -key ca.key -subj /CN=ico-e2e-ca -days 3650 -out ca.crt
  openssl genrsa -out apiserver.key 2048 2>/dev/null
  openssl req -new -key apiserver.key -subj /CN=kube-apiserver -out apiserver.csr
  cat > apiserver.ext <<EOT
subjectAltName=DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local,IP:127.0.0.1,IP:10.96.0.1,IP:$NODE_IP
extendedKeyUsage=serverAuth
keyUsage=digitalSignature,keyEncipherment
EOT
  openssl x509 -req -in apiserver.csr -CA ca.crt -CAkey ca.key -CAcreateserial -days 3650 \
    -extfile apiserver.ext -out apiserver.crt 2>/dev/null
  # The apiserver authenticates to the kubelet (logs, exec, port-forward) with this certificate;
  # the kubelet checks it against ca.crt and asks the apiserver (webhook) whether it may.
  openssl genrsa -out apiserver-kubelet-client.key 2048 2>/dev/null
  openssl req -new -key apiserver-kubelet-client.key \
    -subj "/O=system:masters/CN=kube-apiserver-kubelet-client" -out apiserver-kubelet-client.csr
  printf 'extendedKeyUsage=clientAuth\nkeyUsage=digitalSignature,keyEncipherment\n' > client.ext
  openssl x509 -req -in apiserver-kubelet-client.csr -CA ca.crt -CAkey ca.key -CAcreateserial \
    -days 3650 -extfile client.ext -out apiserver-kubelet-client.crt 2>/dev/null
  openssl genrsa -out sa.key 2048 2>/dev/null
  openssl rsa -in sa.key -pubout -out sa.pub 2>/dev/null
  # token,user,uid,"groups". The kubelet's identity is what the Node authorizer and the
  # NodeRestriction admission expect; system:kube-proxy is bound to system:node-proxier by default.
  {
    echo "$(openssl rand -hex 32),admin,uid-admin,\"system:masters\""
    echo "$(openssl rand -hex 32),system:kube-controller-manager,uid-kcm,"
    echo "$(openssl rand -hex 32),system:kube-scheduler,uid-sched,"
    echo "$(openssl rand -hex 32),system:node:$NODE_NAME,uid-kubelet,\"system:nodes\""
    echo "$(openssl rand -hex 32),system:kube-proxy,uid-proxy,"
  } > tokens.csv
  chmod 600 ./*.key tokens.csv
fi

kubeconfig() {  # file user
  local token; token=$(awk -F, -v u="$2" '$2 == u {print $1}' tokens.csv)
  cat > "$1.kubeconfig" <<EOT
apiVersion: v1
kind: Config
clusters:
- name: ico-e2e
  cluster:
    server: https://$NODE_IP:$APISERVER_PORT
    certificate-authority: $P/ca.crt
users:
- name: $2
  user:
    token: $token
contexts:
- name: ico-e2e
  context: {cluster: ico-e2e, user: $2}
current-context: ico-e2e
EOT
  chmod 600 "$1.kubeconfig"
}
kubeconfig admin admin
kubeconfig kcm system:kube-controller-manager
kubeconfig sched system:kube-scheduler
kubeconfig kubelet "system:node:$NODE_NAME"
kubeconfig proxy system:kube-proxy
