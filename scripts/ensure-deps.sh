#!/usr/bin/env bash
# Installs what the demo and the tests need, and is quick when it is all there already.
# Debian packages: the real Prometheus, Alertmanager (+ promtool, amtool), ZooKeeper, a JDK
# (Flink, ZooKeeper and Kafka), Maven (resolves Kafka), openssl (sandbox TLS), Chromium.
# Apache Kafka's jars: scripts/fetch-kafka.sh. Python packages: a virtual environment at .venv,
# and checkov in its own at .venv-checkov.
set -euo pipefail
cd "$(dirname "$0")/.."

apt_pkgs=()
command -v prometheus >/dev/null || apt_pkgs+=(prometheus)
command -v prometheus-alertmanager >/dev/null || apt_pkgs+=(prometheus-alertmanager)
[ -x /usr/share/zookeeper/bin/zkServer.sh ] || apt_pkgs+=(zookeeper)
command -v javac >/dev/null || apt_pkgs+=(openjdk-17-jdk-headless)
command -v mvn >/dev/null || apt_pkgs+=(maven)
command -v openssl >/dev/null || apt_pkgs+=(openssl)
command -v chromium >/dev/null || apt_pkgs+=(chromium chromium-driver)
# libfaketime: the fault matrix's clock-jump row (tests/remediator/test_e2e_fault_matrix.py)
[ -f /usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1 ] || apt_pkgs+=(libfaketime)
if [ ${#apt_pkgs[@]} -gt 0 ]; then
  echo "ensure-deps: installing Debian packages: ${apt_pkgs[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${apt_pkgs[@]}" >/dev/null
fi
# Debian starts these as services on install; the sandbox runs its own on free ports.
for svc in prometheus prometheus-alertmanager prometheus-node-exporter zookeeper; do
  (service "$svc" stop >/dev/null 2>&1 || true)
done

py=${PYTHON:-python3}
stamp=.venv/.installed
if [ ! -x .venv/bin/python ]; then
  "$py" -m venv .venv
fi
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
  echo "ensure-deps: installing Python packages into .venv"
  .venv/bin/pip install -q --upgrade pip
  .venv/bin/pip install -q -e '.[test]'
  touch "$stamp"
fi

# checkov (the chart's security scan, tests/helm/test_chart_checkov.py) in its own environment:
# its pinned dependencies clash with the project's.
checkov_spec='checkov>=3.2,<4'
if [ ! -x .venv-checkov/bin/checkov ]; then
  echo "ensure-deps: installing $checkov_spec into .venv-checkov"
  "$py" -m venv .venv-checkov
  .venv-checkov/bin/pip install -q --upgrade pip
  .venv-checkov/bin/pip install -q "$checkov_spec"
fi

scripts/fetch-kafka.sh
