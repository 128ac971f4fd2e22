#!/usr/bin/env bash
# Single-node Apache Kafka (KRaft) on loopback, for tests and CI.
#
#   deploy/kafka/kafka.sh start|stop|kill|status|restart
#
# `stop` is a clean shutdown (SIGTERM); `kill` is a crash (SIGKILL) that always keeps
# KAFKA_DATA. With KAFKA_KEEP_DATA=1 (or after `kill`) a later `start` on the same
# KAFKA_DATA and ports brings the same broker back, topics and offsets included.
#
# Environment (all optional; every path and port is a variable so that two brokers,
# e.g. a PLAINTEXT one and a SASL_SSL one, can run side by side):
#   KAFKA_VERSION          org.apache.kafka:kafka_2.13 version       (default 4.1.1)
#   KAFKA_PORT             client listener, 127.0.0.1                  (default 19092)
#   KAFKA_CONTROLLER_PORT  KRaft controller listener, 127.0.0.1       (default KAFKA_PORT+10000)
#   KAFKA_CACHE            resolved jars, shared between runs          (default ~/.cache/streamer/kafka-$KAFKA_VERSION)
#   KAFKA_DATA             config, log dirs, pid file, kafka.log       (default ${TMPDIR:-/tmp}/streamer-kafka-$KAFKA_PORT)
#   KAFKA_HEAP_OPTS        JVM heap                                    (default -Xms256m -Xmx512m)
#   KAFKA_JVM_OPTS         extra JVM flags
#   KAFKA_EXTRA_CONFIG     file appended to server.properties; later keys win, so it can
#                          redefine listeners/advertised.listeners/security settings
#   KAFKA_START_TIMEOUT    seconds to wait for the broker to answer    (default 60)
#   KAFKA_MAVEN_ARGS       extra mvn arguments, e.g. -Dmaven.repo.local=/some/dir
#   KAFKA_FORMAT_ARGS      extra arguments of the storage format (first start of a data dir),
#                          e.g. --add-scram SCRAM-SHA-512=[name=u,password=p] (SASL users)
#   KAFKA_KEEP_DATA=1      `stop` keeps KAFKA_DATA (to read kafka.log afterwards)
#
# `start` prints KAFKA_BOOTSTRAP=127.0.0.1:$KAFKA_PORT on its last line of stdout.
set -euo pipefail

KAFKA_VERSION="${KAFKA_VERSION:-4.1.1}"
KAFKA_PORT="${KAFKA_PORT:-19092}"
KAFKA_CONTROLLER_PORT="${KAFKA_CONTROLLER_PORT:-$((KAFKA_PORT + 10000))}"
KAFKA_CACHE="${KAFKA_CACHE:-$HOME/.cache/streamer/kafka-$KAFKA_VERSION}"
KAFKA_DATA="${KAFKA_DATA:-${TMPDIR:-/tmp}/streamer-kafka-$KAFKA_PORT}"
KAFKA_HEAP_OPTS="${KAFKA_HEAP_OPTS:--Xms256m -Xmx512m}"
KAFKA_JVM_OPTS="${KAFKA_JVM_OPTS:-}"
KAFKA_EXTRA_CONFIG="${KAFKA_EXTRA_CONFIG:-}"
KAFKA_START_TIMEOUT="${KAFKA_START_TIMEOUT:-60}"
KAFKA_MAVEN_ARGS="${KAFKA_MAVEN_ARGS:-}"
KAFKA_FORMAT_ARGS="${KAFKA_FORMAT_ARGS:-}"

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
BOOTSTRAP="127.0.0.1:$KAFKA_PORT"
PID_FILE="$KAFKA_DATA/kafka.pid"
LOG_FILE="$KAFKA_DATA/kafka.log"
PYTHON="${KAFKA_PYTHON:-python3}"

log() { echo "kafka.sh: $*" >&2; }
die() { log "ERROR: $*"; exit 1; }

answers() { "$PYTHON" "$HERE/kafka_ping.py" "$BOOTSTRAP" 2; }

port_busy() { # is anything listening on 127.0.0.1:$1 ?
  "$PYTHON" - "$1" <<'EOF'
import socket, sys
s = socket.socket()
s.settimeout(1)
sys.exit(0 if s.connect_ex(("127.0.0.1", int(sys.argv[1]))) == 0 else 1)
EOF
}

running_pid() { # pid of our broker if its process is alive
  [[ -f "$PID_FILE" ]] || return 1
  local pid
  pid="$(cat "$PID_FILE")"
  [[ -n "$pid" ]] && kill -0 "$pid" 2>/dev/null && echo "$pid"
}

resolve_jars() {
  # Jars come from Maven Central once per version; later starts only read the cache.
  [[ -f "$KAFKA_CACHE/.complete" ]] && return 0
  command -v mvn >/dev/null || die "mvn not found (needed once to fetch Kafka $KAFKA_VERSION)"
  mkdir -p "$(dirname "$KAFKA_CACHE")"
  # Two concurrent first starts (e.g. two brokers) must not resolve into the same folder.
  exec 9>"$(dirname "$KAFKA_CACHE")/.$(basename "$KAFKA_CACHE").lock"
  flock 9
  if [[ ! -f "$KAFKA_CACHE/.complete" ]]; then
    local t0=$SECONDS work="$KAFKA_CACHE.tmp.$$"
    log "resolving org.apache.kafka:kafka_2.13:$KAFKA_VERSION with Maven into $KAFKA_CACHE"
    rm -rf "$work" && mkdir -p "$work/lib"
    cat >"$work/pom.xml" <<EOF
<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>local.streamer</groupId>
  <artifactId>kafka-broker-runtime</artifactId>
  <version>$KAFKA_VERSION</version>
  <packaging>pom</packaging>
  <dependencies>
    <!-- kafka.Kafka and kafka.tools.StorageTool; its runtime scope brings kafka-server,
         kafka-storage, kafka-raft, the coordinators, log4j-core and slf4j-api -->
    <dependency>
      <groupId>org.apache.kafka</groupId>
      <artifactId>kafka_2.13</artifactId>
      <version>$KAFKA_VERSION</version>
    </dependency>
  </dependencies>
</project>
EOF
    # shellcheck disable=SC2086  # KAFKA_MAVEN_ARGS is a list of words
    mvn -B -q -Dstyle.color=never -f "$work/pom.xml" $KAFKA_MAVEN_ARGS dependency:copy-dependencies \
      -DincludeScope=runtime -DoutputDirectory="$work/lib" >"$work/mvn.log" 2>&1 ||
      { tail -n 30 "$work/mvn.log" >&2; rm -rf "$work"; die "Maven could not resolve Kafka $KAFKA_VERSION"; }
    # Kafka logs through slf4j 1.x, whose log4j2 binding Kafka's pom leaves to the
    # distribution; without it the broker logs nothing. Match the log4j-core it resolved.
    local cores=("$work/lib"/log4j-core-*.jar) log4j
    [[ -f "${cores[0]}" ]] || { rm -rf "$work"; die "no log4j-core among Kafka $KAFKA_VERSION's dependencies"; }
    log4j="$(basename "${cores[0]}" .jar)" && log4j="${log4j#log4j-core-}"
    # shellcheck disable=SC2086
    mvn -B -q -Dstyle.color=never -f "$work/pom.xml" $KAFKA_MAVEN_ARGS dependency:copy \
      -Dartifact="org.apache.logging.log4j:log4j-slf4j-impl:$log4j" \
      -DoutputDirectory="$work/lib" >>"$work/mvn.log" 2>&1 ||
      { tail -n 30 "$work/mvn.log" >&2; rm -rf "$work"; die "Maven could not resolve log4j-slf4j-impl $log4j"; }
    rm -rf "$KAFKA_CACHE"
    mv "$work/lib" "$KAFKA_CACHE"
    rm -rf "$work"
    touch "$KAFKA_CACHE/.complete"
    local jars=("$KAFKA_CACHE"/*.jar)
    log "resolved ${#jars[@]} jars ($(du -sh "$KAFKA_CACHE" | cut -f1)) in $((SECONDS - t0)) s"
  fi
  exec 9>&-
}

write_config() {
  mkdir -p "$KAFKA_DATA/logs"
  cat >"$KAFKA_DATA/server.properties" <<EOF
# generated by deploy/kafka/kafka.sh: single-node KRaft broker+controller on loopback
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:$KAFKA_CONTROLLER_PORT
controller.listener.names=CONTROLLER
listeners=PLAINTEXT://127.0.0.1:$KAFKA_PORT,CONTROLLER://127.0.0.1:$KAFKA_CONTROLLER_PORT
advertised.listeners=PLAINTEXT://127.0.0.1:$KAFKA_PORT
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT,SSL:SSL,SASL_PLAINTEXT:SASL_PLAINTEXT,SASL_SSL:SASL_SSL
inter.broker.listener.name=PLAINTEXT
log.dirs=$KAFKA_DATA/logs

# one node: every internal topic has a single replica
default.replication.factor=1
min.insync.replicas=1
offsets.topic.replication.factor=1
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1

# tests create their topics explicitly, so a typo fails instead of auto-creating
auto.create.topics.enable=false
num.partitions=1
# consumer groups form at once instead of after the default 3 s grace period
group.initial.rebalance.delay.ms=0
EOF
  if [[ -n "$KAFKA_EXTRA_CONFIG" ]]; then
    [[ -f "$KAFKA_EXTRA_CONFIG" ]] || die "KAFKA_EXTRA_CONFIG=$KAFKA_EXTRA_CONFIG is not a file"
    { echo; echo "# from $KAFKA_EXTRA_CONFIG"; cat "$KAFKA_EXTRA_CONFIG"; } >>"$KAFKA_DATA/server.properties"
  fi
  cat >"$KAFKA_DATA/log4j2.properties" <<'EOF'
status = warn
appender.out.type = Console
appender.out.name = OUT
appender.out.layout.type = PatternLayout
appender.out.layout.pattern = [%d] %p %m (%c{1})%n
rootLogger.level = INFO
rootLogger.appenderRef.out.ref = OUT
logger.kafka.name = kafka
logger.kafka.level = INFO
logger.clients.name = org.apache.kafka.clients
logger.clients.level = WARN
logger.statechange.name = state.change.logger
logger.statechange.level = WARN
logger.request.name = kafka.request.logger
logger.request.level = WARN
EOF
}

java_args() { # JVM flags shared by the storage tool and the broker, into JAVA_ARGS
  # shellcheck disable=SC2206  # heap/jvm opts are lists of words
  JAVA_ARGS=($KAFKA_HEAP_OPTS -XX:+UseG1GC -XX:MaxGCPauseMillis=20 -Djava.awt.headless=true
    -Dlog4j2.configurationFile="$KAFKA_DATA/log4j2.properties" $KAFKA_JVM_OPTS
    -cp "$KAFKA_CACHE/*")
}

start() {
  local t0 pid
  t0="$(date +%s.%N)"
  if pid="$(running_pid)" && answers; then
    log "already running (pid $pid) on $BOOTSTRAP"
    echo "KAFKA_BOOTSTRAP=$BOOTSTRAP"
    return 0
  fi
  [[ "$KAFKA_PORT" != "$KAFKA_CONTROLLER_PORT" ]] || die "KAFKA_PORT and KAFKA_CONTROLLER_PORT are both $KAFKA_PORT"
  for p in "$KAFKA_PORT" "$KAFKA_CONTROLLER_PORT"; do
    port_busy "$p" && die "127.0.0.1:$p is already in use (another broker? set KAFKA_PORT / KAFKA_CONTROLLER_PORT)"
  done
  command -v java >/dev/null || die "java not found (Kafka $KAFKA_VERSION needs Java 17+)"
  resolve_jars
  write_config
  java_args

  if [[ ! -f "$KAFKA_DATA/logs/meta.properties" ]]; then
    # A fresh cluster id per data dir. `--cluster-id=ID`, not `--cluster-id ID`: a base64url
    # id starts with "-" once in 64, and the tool then takes it for an option (seen).
    local cluster_id
    cluster_id="$(head -c 16 /dev/urandom | base64 | tr '+/' '-_' | tr -d '=')"
    # shellcheck disable=SC2086  # KAFKA_FORMAT_ARGS is a list of words (not globbed: [..])
    (set -f; java "${JAVA_ARGS[@]}" kafka.tools.StorageTool format --cluster-id="$cluster_id" \
      --config "$KAFKA_DATA/server.properties" $KAFKA_FORMAT_ARGS) >"$KAFKA_DATA/format.log" 2>&1 ||
      { cat "$KAFKA_DATA/format.log" >&2; die "formatting $KAFKA_DATA/logs failed"; }
  fi

  # setsid: the broker must outlive the shell (or pytest process) that started it.
  setsid java "${JAVA_ARGS[@]}" kafka.Kafka "$KAFKA_DATA/server.properties" </dev/null >"$LOG_FILE" 2>&1 &
  pid=$!
  echo "$pid" >"$PID_FILE"

  local deadline=$((SECONDS + KAFKA_START_TIMEOUT))
  until answers; do
    if ! kill -0 "$pid" 2>/dev/null; then
      log "the broker exited during startup; last lines of $LOG_FILE:"
      tail -n 40 "$LOG_FILE" >&2
      die "Kafka $KAFKA_VERSION did not start on $BOOTSTRAP"
    fi
    if ((SECONDS >= deadline)); then
      log "no Kafka answer on $BOOTSTRAP after ${KAFKA_START_TIMEOUT}s; last lines of $LOG_FILE:"
      tail -n 40 "$LOG_FILE" >&2
      stop_pid "$pid"
      die "Kafka $KAFKA_VERSION did not come up on $BOOTSTRAP"
    fi
    sleep 0.3
  done
  log "Kafka $KAFKA_VERSION up on $BOOTSTRAP (pid $pid, data $KAFKA_DATA) in $(
    awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }') s"
  echo "KAFKA_BOOTSTRAP=$BOOTSTRAP"
}

stop_pid() {
  local pid=$1 i
  kill -TERM "$pid" 2>/dev/null || return 0
  # controlled shutdown of a single node takes a few seconds; don't wait forever
  for ((i = 0; i < 150; i++)); do
    kill -0 "$pid" 2>/dev/null || return 0
    sleep 0.2
  done
  log "pid $pid ignored SIGTERM for 30 s; sending SIGKILL"
  kill -KILL "$pid" 2>/dev/null || true
  for ((i = 0; i < 25; i++)); do
    kill -0 "$pid" 2>/dev/null || return 0
    sleep 0.2
  done
}

stop() {
  local pid
  if pid="$(running_pid)"; then
    stop_pid "$pid"
    log "stopped Kafka on $BOOTSTRAP (pid $pid)"
  else
    log "no broker running from $KAFKA_DATA"
  fi
  rm -f "$PID_FILE"
  if [[ "${KAFKA_KEEP_DATA:-0}" != 1 && -f "$KAFKA_DATA/server.properties" ]]; then
    # only a folder this script laid out: never rm -rf an arbitrary KAFKA_DATA
    rm -rf "$KAFKA_DATA"
  fi
}

kill_broker() { # a crash, for fault-injection tests: SIGKILL, data kept
  local pid i
  if pid="$(running_pid)"; then
    kill -KILL "$pid" 2>/dev/null || true
    for ((i = 0; i < 50; i++)); do
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.1
    done
    log "killed Kafka on $BOOTSTRAP (pid $pid); data kept in $KAFKA_DATA"
  else
    log "no broker running from $KAFKA_DATA"
  fi
  rm -f "$PID_FILE"
}

status() {
  if answers; then
    local pid
    pid="$(running_pid || echo '?')"
    echo "Kafka answers on $BOOTSTRAP (pid $pid)"
    return 0
  fi
  echo "no Kafka answer on $BOOTSTRAP"
  return 1
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  kill) kill_broker ;;
  status) status ;;
  restart) stop; start ;;
  *) echo "usage: $0 start|stop|kill|status|restart   (see the header of this file for env vars)" >&2; exit 2 ;;
esac
