# Shared helpers for scripts/*; source it, don't run it.

# Install Debian packages that are missing (the machine image may lack them).
ensure_debs() {
  local missing=()
  for pkg in "$@"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  echo "installing Debian packages: ${missing[*]}"
  local sudo=""
  [ "$(id -u)" -ne 0 ] && sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

port_open() {
  (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

wait_port() {
  local port=$1 name=$2
  for _ in $(seq 1 60); do
    port_open "$port" && return 0
    sleep 1
  done
  echo "$name did not start on 127.0.0.1:$port" >&2
  return 1
}

# RabbitMQ (5672) and Mosquitto (1883) on loopback, started when not running.
ensure_brokers() {
  ensure_debs rabbitmq-server mosquitto
  if ! port_open 5672; then
    echo "starting RabbitMQ"
    rabbitmq-server -detached >/dev/null 2>&1 || true
  fi
  if ! port_open 1883; then
    echo "starting Mosquitto"
    mkdir -p /run/mosquitto
    chown mosquitto: /run/mosquitto 2>/dev/null || true
    mosquitto -d -c /etc/mosquitto/mosquitto.conf
  fi
  wait_port 5672 RabbitMQ
  wait_port 1883 Mosquitto
  # A listener answers before the broker accepts logins: wait for the node itself.
  rabbitmqctl await_startup >/dev/null 2>&1 || true
}
