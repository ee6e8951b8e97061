#!/usr/bin/env bash
# Provision and run a throw-away Apache Kafka 4.x cluster (KRaft, no ZooKeeper) on loopback for aegisbpf's Kafka tests.
#
#   kafka.sh install
#   kafka.sh start [--nodes 1|3] [--work-dir DIR] [--heap 256m] [--setting key=value]... [--timeout SECONDS]
#                  [--scram-user NAME:PASSWORD]   (also a SASL_PLAINTEXT listener, SCRAM-SHA-256/512, this user)
#                  [--owner-pid PID]   (stop the cluster automatically once PID has exited)
#   kafka.sh stop  --work-dir DIR
#   kafka.sh stop-node  --work-dir DIR --node N [--kill]   (SIGTERM, or SIGKILL with --kill; data is kept)
#   kafka.sh start-node --work-dir DIR --node N            (start a stopped node again, same ports and data)
#   kafka.sh info
#
# Source: the broker's jars and their runtime dependencies, each downloaded from Maven Central and checked against
# the sha256 pinned below (the binary tarball is not on Maven Central; these are the jars it ships). No tarball, no
# build. Every node is a combined broker+controller (process.roles=broker,controller) with a static controller quorum;
# all ports are picked free on 127.0.0.1 at start. Settings are tuned for tests: small heap, 3 s broker session,
# no initial rebalance delay, fast ISR shrink; auto topic creation is off (tests create their topics).
#
# `start` prints key=value lines on stdout (bootstrap=, nodes=, node<N>_port=, node<N>_pid=, work_dir=, version=,
# startup_ms=, and sasl_bootstrap= with --scram-user); everything else goes to stderr. See scripts/services/README.md.
set -euo pipefail

AEGIS_SCRIPT_NAME="kafka.sh"
SCRIPT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=scripts/services/lib.sh
source "$SCRIPT_DIR/lib.sh"

KAFKA_VERSION="4.1.1"
MAVEN_CENTRAL="${AEGIS_MAVEN_CENTRAL_URL:-https://repo1.maven.org/maven2}"
KAFKA_HOME_CACHED="$AEGIS_CACHE_DIR/kafka/$KAFKA_VERSION"
KAFKA_LIB="$KAFKA_HOME_CACHED/lib"
KAFKA_INSTALLED_MARKER="$KAFKA_HOME_CACHED/.aegis-installed"
KAFKA_JAVA_MIN=17

# group:artifact:version sha256 — the runtime closure of org.apache.kafka:kafka_2.13 (resolved with Maven's
# dependency:copy-dependencies) plus log4j-slf4j-impl so the broker writes a log.
KAFKA_JARS="
org.hdrhistogram:HdrHistogram:2.2.2 22d1d4316c4ec13a68b559e98c8256d69071593731da96136640f864fa14fad8
net.sourceforge.argparse4j:argparse4j:0.7.0 65ceb669d88f63306c680f8088bbf765bbca72d288a61a03703000076c3d3f56
com.github.ben-manes.caffeine:caffeine:3.2.0 ec411dfdf0c03f25218648ce89861630b71680e5858a9a7278ebac8e55cab3d7
commons-beanutils:commons-beanutils:1.9.4 7d938c81789028045c08c065e94be75fc280527620d5bd62b519d5838532368a
commons-collections:commons-collections:3.2.2 eeeae917917144a68a741d4c0dff66aa5c5c5fd85593ff217bced3fc8ca783b8
commons-digester:commons-digester:2.1 e0b2b980a84fc6533c5ce291f1917b32c507f62bcad64198fff44368c2196a3d
commons-logging:commons-logging:1.3.2 6b858424f518015f32bfcd1183a373f4a827d72d026b6031da0c91cf0e8f3489
commons-validator:commons-validator:1.9.0 c3c14748e2d78db58df88808740711bd643b32c45ffa7b8a739f00fb467cd7d7
com.dynatrace.hash4j:hash4j:0.22.0 23028a3fd006e530bf495f551083208187cafd8f80624d048eba56442f16a50e
com.fasterxml.jackson.core:jackson-annotations:2.19.0 ead60e9cac0e42b57092b9e2d087ff43536e9477d4486ba393037a8cc156cda7
com.fasterxml.jackson.core:jackson-core:2.19.0 da8e859bac94874528116a25f20c68560e4287acbf27628711b8a4f96b028430
com.fasterxml.jackson.core:jackson-databind:2.19.0 ceda311f476c3b18e1d2b240c94e2dcb9c8d44e70f8afa9facab88bac4ddc03a
com.fasterxml.jackson.dataformat:jackson-dataformat-csv:2.19.0 bec1150426b0616bb488149b952b45a0dcb16d9416b017c38f6455ad9389bc68
com.fasterxml.jackson.dataformat:jackson-dataformat-yaml:2.19.0 46e54dcbd39d4d12cda18ec9276e7b888e08fc765ea0c77e71662306f0d4abc4
com.fasterxml.jackson.datatype:jackson-datatype-jdk8:2.19.0 04f1a3f9da8155995dd00098d6847cdb9b7af67f4a3028c94031eff017c8e3e5
net.sf.jopt-simple:jopt-simple:5.0.4 df26cc58f235f477db07f753ba5a3ab243ebe5789d9f89ecf68dd62ea9a66c28
org.bitbucket.b_c:jose4j:0.9.6 7314af50cde9c99e8eaf43eee617a23edcc6bb43036221064355094999d837ef
org.jspecify:jspecify:1.0.0 1fad6e6be7557781e4d33729d49ae1cdc8fdda6fe477bb0cc68ce351eafdfbab
org.apache.kafka:kafka-clients:4.1.1 00247122a572c3d3ae4eb60a50192a5811bc0181f51923d13018600f892e821d
org.apache.kafka:kafka-coordinator-common:4.1.1 2072fc1ce7e0505149bba22a463a5909a899c6235c4fa696f15c21194a7baf60
org.apache.kafka:kafka-group-coordinator:4.1.1 3eb5a673b69d5992cfa86c5436f39adbf4ce284046a4c999ec6af0a8e31c5589
org.apache.kafka:kafka-group-coordinator-api:4.1.1 3d1801d2329dcf7d273796a034d61e6c7e0f851f384d0afbdd3a2e6cbd17a968
org.apache.kafka:kafka-metadata:4.1.1 a689665751415b6456de1ecb013042cb7ba99ac68fd8c3e8bf28e098feb43218
org.apache.kafka:kafka-raft:4.1.1 4810c93d93d1935dd54de61c5ba130f501c7fe11bc49ccd3ee05ec857818a72a
org.apache.kafka:kafka-server:4.1.1 9f6aff422855491aad54326eca8d604163d6d3a6507cc48ffe3ce6de73caf79a
org.apache.kafka:kafka-server-common:4.1.1 207edecd8322cf6c13d76d84addea7fd0ec441dc8d698cf69df43210ccdc0a94
org.apache.kafka:kafka-share-coordinator:4.1.1 e6bec53428c77bf6579321836d482542a93575f7c08e860a26c9f2c7f6059dac
org.apache.kafka:kafka-storage:4.1.1 1f85b82853eaec0143efbef7e3a4d4be8929ff83a386326431e0c2d0a557e58c
org.apache.kafka:kafka-storage-api:4.1.1 8c0a712472185d706c6bf5ae24bf5d84a8e396fd4745c708e6146a415f7fa7f7
org.apache.kafka:kafka-tools-api:4.1.1 542b08fe20cf872a2d866acdff61ea338b469219dc2ebfae727a1d9ea5737e1a
org.apache.kafka:kafka-transaction-coordinator:4.1.1 a261b5730ac9e3205df7af5d45180d851e9d5f729ce1275c67511a6f51f73755
org.apache.kafka:kafka_2.13:4.1.1 e89428126cc7630a802123ba27aac4442816840b66d60670226feaff65f24fd1
org.apache.logging.log4j:log4j-api:2.24.3 5b4a0a0cd0e751ded431c162442bdbdd53328d1f8bb2bae5fc1bbeee0f66d80f
org.apache.logging.log4j:log4j-core:2.24.3 7eb4084596ae25bd3c61698e48e8d0ab65a9260758884ed5cbb9c6e55c44a56a
org.lz4:lz4-java:1.8.0 d74a3334fb35195009b338a951f918203d6bbca3d1d359033dc33edd1cadc9ef
com.yammer.metrics:metrics-core:2.2.0 6b7a14a6f34c10f8683f7b5e2f39df0f07b58c7dff0e468ebbc713905c46979c
org.pcollections:pcollections:4.0.2 2bbeef5797a241300c4f7513cd546239629ed7deda4fc0c31df90bb95f5f13ef
com.google.re2j:re2j:1.8 7b52c72156dd7f98b3237a5b35c1d34fba381b21048c89208913ad80a45dfbd7
org.scala-lang:scala-library:2.13.16 1ebb2b6f9e4eb4022497c19b1e1e825019c08514f962aaac197145f88ed730f1
com.typesafe.scala-logging:scala-logging_2.13:3.9.5 87a3017d3f43e6ace7566fe4c3d615134c6914ff871c8d64bb32ca1d996d0545
org.scala-lang:scala-reflect:2.13.16 fb49ccd9cac7464486ab993cda20a3c1569d8ef26f052e897577ad2a4970fb1d
org.slf4j:slf4j-api:1.7.36 d3ef575e3e4979678dc01bf1dcce51021493b4d11fb7f1be8ad982877c16a1c0
org.yaml:snakeyaml:2.4 ef779af5d29a9dde8cc70ce0341f5c6f7735e23edff9685ceaa9d35359b7bb7f
org.xerial.snappy:snappy-java:1.1.10.7 4c766cb3f855415ee734b2392949a0b6f12a60879334a74518deaf6270d32e36
com.github.luben:zstd-jni:1.5.6-10 b6c3237e24b8252a5a9c3a0e1ae30ef8f323412e74bd358548b7a9e527d676df
org.apache.logging.log4j:log4j-slf4j-impl:2.24.3 40dec251164d1576e000968cd02e56a1125f46b91fb694a06dfa168f1335da48
"
# The marker holds a digest of the pinned list, so changing a pin re-installs.
KAFKA_PIN_DIGEST="$(printf '%s' "$KAFKA_JARS" | sha256sum | cut -d' ' -f1)"

usage() {
  awk 'NR == 1 { next } /^#/ { sub(/^# ?/, ""); print; next } { exit }' "${BASH_SOURCE[0]}" >&2
  exit 2
}

# ---- java --------------------------------------------------------------------------------------
find_java() {
  local jbin="${AEGIS_KAFKA_JAVA:-}"
  if [[ -z "$jbin" ]]; then
    command -v java >/dev/null 2>&1 || apt_install openjdk-17-jre-headless
    jbin="$(command -v java)" || die "java not found after installing openjdk-17-jre-headless"
  fi
  [[ -x "$jbin" ]] || die "AEGIS_KAFKA_JAVA=$jbin is not executable"
  local major
  major="$("$jbin" -XshowSettings:properties -version 2>&1 | awk -F'= ' '/java.specification.version/ {print $2; exit}' | cut -d. -f1)"
  [[ "$major" =~ ^[0-9]+$ ]] || die "could not determine the Java version of $jbin"
  (( major >= KAFKA_JAVA_MIN )) || die "Kafka $KAFKA_VERSION needs Java >= $KAFKA_JAVA_MIN, $jbin is Java $major (set AEGIS_KAFKA_JAVA)"
  printf '%s\n' "$jbin"
}

# ---- install -----------------------------------------------------------------------------------
fetch_jar() { # GAV SHA256 -> KAFKA_LIB/<artifact>-<version>.jar, verified
  local gav="$1" sha="$2" group artifact version
  IFS=: read -r group artifact version <<<"$gav"
  local name="$artifact-$version.jar" rel
  rel="${group//.//}/$artifact/$version/$name"
  local dest="$KAFKA_LIB/$name"
  if [[ -f "$dest" ]] && [[ "$(sha256_of "$dest")" == "$sha" ]]; then return 0; fi
  local m2="$HOME/.m2/repository/$rel" part="$dest.part"
  if [[ -f "$m2" ]] && [[ "$(sha256_of "$m2")" == "$sha" ]]; then
    cp "$m2" "$part"
  else
    curl -fsSL --retry 3 --retry-delay 2 --connect-timeout 20 --max-time 600 -o "$part" "$MAVEN_CENTRAL/$rel" >&2 \
      || { rm -f "$part"; die "could not download $MAVEN_CENTRAL/$rel"; }
  fi
  [[ "$(sha256_of "$part")" == "$sha" ]] || { rm -f "$part"; die "sha256 mismatch for $rel (expected $sha)"; }
  mv "$part" "$dest"
}

do_install_locked() {
  require_cmd curl curl
  require_cmd sha256sum coreutils
  find_java >/dev/null
  if [[ -f "$KAFKA_INSTALLED_MARKER" ]] && [[ "$(cat "$KAFKA_INSTALLED_MARKER")" == "$KAFKA_PIN_DIGEST" ]]; then
    return 0
  fi
  local t0 gav sha n=0
  t0=$(now_ms)
  rm -f "$KAFKA_INSTALLED_MARKER"
  mkdir -p "$KAFKA_LIB"
  while read -r gav sha; do
    [[ -n "$gav" ]] || continue
    fetch_jar "$gav" "$sha"
    n=$((n + 1))
  done <<<"$KAFKA_JARS"
  # Only the pinned jars may be on the class path: drop anything else (an older pin's leftovers).
  local f keep
  for f in "$KAFKA_LIB"/*; do
    keep=0
    while read -r gav sha; do
      [[ -n "$gav" ]] || continue
      IFS=: read -r _ a v <<<"$gav"
      [[ "$(basename "$f")" == "$a-$v.jar" ]] && { keep=1; break; }
    done <<<"$KAFKA_JARS"
    (( keep )) || rm -f -- "$f"
  done
  printf '%s\n' "$KAFKA_PIN_DIGEST" >"$KAFKA_INSTALLED_MARKER"
  log "installed $n jars (sha256 verified) into $KAFKA_LIB in $(( $(now_ms) - t0 )) ms"
}

cmd_install() {
  [[ $# -eq 0 ]] || usage
  local t0
  t0=$(now_ms)
  require_cmd flock util-linux
  with_lock "$AEGIS_CACHE_DIR/kafka/.install.lock" do_install_locked
  printf 'version=%s\nhome=%s\ninstall_ms=%s\n' "$KAFKA_VERSION" "$KAFKA_HOME_CACHED" "$(( $(now_ms) - t0 ))"
}

# ---- start -------------------------------------------------------------------------------------
free_port() { # a port nothing listens on now (the kernel picks it; tiny race with other runs, checked again at start)
  local p
  for _ in $(seq 1 50); do
    p=$(( 20000 + RANDOM % 40000 ))
    port_in_use "$p" || { printf '%s\n' "$p"; return 0; }
  done
  die "no free port found"
}

# launch_node WORK_DIR N: start node N from WORK_DIR/nodeN/server.properties in its own process group.
launch_node() {
  local work_dir="$1" n="$2" java heap
  java="$(cat "$work_dir/run/java")"
  heap="$(cat "$work_dir/run/heap")"
  local node_dir="$work_dir/node$n"
  rm -f "$work_dir/run/node$n.pid"
  (
    cd "$node_dir"
    # shellcheck disable=SC2016 # $$ and "$@" belong to the inner bash
    exec setsid bash -c 'echo $$ >"$1"; shift; exec "$@"' aegis-kafka-launch "$work_dir/run/node$n.pid" \
      "$java" "-Xms$heap" "-Xmx$heap" -XX:+UseSerialGC -XX:+ExitOnOutOfMemoryError -Djava.awt.headless=true \
      "-Dlog4j2.configurationFile=$work_dir/log4j2.properties" "-Dkafka.logs.dir=$node_dir/logs" \
      -cp "$KAFKA_LIB/*" kafka.Kafka "$node_dir/server.properties"
  ) >"$node_dir/logs/console.log" 2>&1 </dev/null &
  local launcher=$!
  for _ in $(seq 1 100); do
    [[ -s "$work_dir/run/node$n.pid" ]] && return 0
    pid_alive "$launcher" || break
    sleep 0.05
  done
  tail_logs 40 "$node_dir/logs/console.log"
  die "Kafka node $n launcher exited before starting"
}

# wait_node WORK_DIR N DEADLINE_MS: until node N accepts connections on its client port.
wait_node() {
  local work_dir="$1" n="$2" deadline="$3" pgid port
  pgid="$(cat "$work_dir/run/node$n.pid")"
  port="$(cat "$work_dir/node$n/port")"
  while ! port_in_use "$port"; do
    if ! group_alive "$pgid"; then
      tail_logs 60 "$work_dir/node$n/logs/server.log" "$work_dir/node$n/logs/console.log"
      return 1
    fi
    if (( $(now_ms) > deadline )); then
      tail_logs 60 "$work_dir/node$n/logs/server.log" "$work_dir/node$n/logs/console.log"
      return 1
    fi
    sleep 0.2
  done
}

cmd_start() {
  local nodes="${AEGIS_KAFKA_NODES:-1}" work_dir="${AEGIS_KAFKA_WORK_DIR:-}" heap="${AEGIS_KAFKA_HEAP:-256m}"
  local timeout="${AEGIS_KAFKA_START_TIMEOUT:-90}" owner_pid="${AEGIS_SERVICE_OWNER_PID:-}" scram_user=""
  local -a settings=()
  local s
  while [[ $# -gt 0 ]]; do
    case "$1" in
      --nodes) nodes="${2:?--nodes needs a value}"; shift 2 ;;
      --work-dir) work_dir="${2:?--work-dir needs a value}"; shift 2 ;;
      --heap) heap="${2:?--heap needs a value}"; shift 2 ;;
      --setting) settings+=("${2:?--setting needs key=value}"); shift 2 ;;
      --scram-user) scram_user="${2:?--scram-user needs NAME:PASSWORD}"; shift 2 ;;
      --timeout) timeout="${2:?--timeout needs a value}"; shift 2 ;;
      --owner-pid) owner_pid="${2:?--owner-pid needs a pid}"; shift 2 ;;
      -h|--help) usage ;;
      *) die "unknown start argument '$1' (see --help)" ;;
    esac
  done
  [[ "$nodes" == 1 || "$nodes" == 3 ]] || die "--nodes must be 1 or 3, got '$nodes'"
  [[ "$heap" =~ ^[0-9]+[mMgG]$ ]] || die "--heap must look like 256m or 1g, got '$heap'"
  [[ "$timeout" =~ ^[0-9]+$ ]] || die "--timeout must be whole seconds, got '$timeout'"
  if [[ -n "$owner_pid" ]] && { [[ ! "$owner_pid" =~ ^[0-9]+$ ]] || ! pid_alive "$owner_pid"; }; then
    die "--owner-pid '$owner_pid' is not a running process"
  fi
  for s in "${settings[@]}"; do
    [[ "$s" =~ ^[A-Za-z0-9_.-]+=.*$ ]] || die "setting '$s' is not key=value"
  done
  if [[ -n "$scram_user" && ! "$scram_user" =~ ^[A-Za-z0-9_.-]+:[A-Za-z0-9_.@%+-]+$ ]]; then
    die "--scram-user must be NAME:PASSWORD (letters, digits, . _ - in the name), got '$scram_user'"
  fi

  local t_start java
  t_start=$(now_ms)
  require_cmd flock util-linux
  with_lock "$AEGIS_CACHE_DIR/kafka/.install.lock" do_install_locked
  java="$(find_java)"

  if [[ -z "$work_dir" ]]; then
    work_dir="$(mktemp -d "${TMPDIR:-/tmp}/aegis-kafka.XXXXXX")"
  fi
  work_dir="$(realpath -m "$work_dir")"
  prepare_work_dir "$work_dir" kafka
  mkdir -p "$work_dir/run"
  printf '%s\n' "$java" >"$work_dir/run/java"
  printf '%s\n' "$heap" >"$work_dir/run/heap"
  cat >"$work_dir/log4j2.properties" <<'L4J'
# generated by scripts/services/kafka.sh: one log file per node, INFO and up
appender.file.type = File
appender.file.name = file
appender.file.fileName = ${sys:kafka.logs.dir}/server.log
appender.file.layout.type = PatternLayout
appender.file.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = INFO
rootLogger.appenderRef.file.ref = file
L4J

  local i voters="" bootstrap="" rf min_isr
  local -a ports=() cports=() sports=()
  local sasl_bootstrap=""
  for i in $(seq 1 "$nodes"); do
    ports[i]="$(free_port)"
    cports[i]="$(free_port)"
    voters+="${voters:+,}$i@127.0.0.1:${cports[i]}"
    bootstrap+="${bootstrap:+,}127.0.0.1:${ports[i]}"
    if [[ -n "$scram_user" ]]; then
      sports[i]="$(free_port)"
      sasl_bootstrap+="${sasl_bootstrap:+,}127.0.0.1:${sports[i]}"
    fi
  done
  # One node: replication 1. Three nodes: replicate internal topics 3 ways with min ISR 2, so acks=all survives
  # the loss of one node without accepting writes that only one replica holds.
  if (( nodes == 1 )); then rf=1; min_isr=1; else rf=3; min_isr=2; fi
  local cluster_id
  # A Kafka Uuid is 16 random bytes in unpadded base64url (what StorageTool random-uuid prints, without a JVM start);
  # one starting with '-' would read as a command-line option.
  cluster_id="-"
  while [[ "$cluster_id" == -* ]]; do
    cluster_id="$(head -c 16 /dev/urandom | base64 | tr '+/' '-_' | cut -c1-22)"
  done
  local -a formatters=()
  for i in $(seq 1 "$nodes"); do
    local node_dir="$work_dir/node$i"
    mkdir -p "$node_dir/data" "$node_dir/logs"
    printf '%s\n' "${ports[i]}" >"$node_dir/port"
    {
      cat <<PROPS
# generated by scripts/services/kafka.sh for one test run
process.roles=broker,controller
node.id=$i
controller.quorum.voters=$voters
listeners=PLAINTEXT://127.0.0.1:${ports[i]},CONTROLLER://127.0.0.1:${cports[i]}${scram_user:+,SASL_PLAINTEXT://127.0.0.1:${sports[i]:-}}
advertised.listeners=PLAINTEXT://127.0.0.1:${ports[i]}${scram_user:+,SASL_PLAINTEXT://127.0.0.1:${sports[i]:-}}
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT,SASL_PLAINTEXT:SASL_PLAINTEXT
sasl.enabled.mechanisms=SCRAM-SHA-256,SCRAM-SHA-512
listener.name.sasl_plaintext.scram-sha-256.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required;
listener.name.sasl_plaintext.scram-sha-512.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required;
log.dirs=$node_dir/data
num.partitions=1
default.replication.factor=$rf
min.insync.replicas=$min_isr
offsets.topic.replication.factor=$rf
offsets.topic.num.partitions=5
transaction.state.log.replication.factor=$rf
transaction.state.log.min.isr=$min_isr
transaction.state.log.num.partitions=5
share.coordinator.state.topic.replication.factor=$rf
share.coordinator.state.topic.min.isr=$min_isr
auto.create.topics.enable=false
group.initial.rebalance.delay.ms=0
group.min.session.timeout.ms=1000
group.consumer.min.session.timeout.ms=1000
group.consumer.session.timeout.ms=6000
group.consumer.min.heartbeat.interval.ms=500
group.consumer.heartbeat.interval.ms=1000
broker.session.timeout.ms=3000
broker.heartbeat.interval.ms=500
controller.quorum.election.timeout.ms=1000
controller.quorum.fetch.timeout.ms=2000
replica.lag.time.max.ms=5000
num.network.threads=2
num.io.threads=2
num.recovery.threads.per.data.dir=1
log.retention.check.interval.ms=3600000
PROPS
      for s in "${settings[@]}"; do printf '%s\n' "$s"; done
    } >"$node_dir/server.properties"
    # Formatting is a short JVM run: C1 only starts faster; the nodes format in parallel.
    # SCRAM credentials are written into the cluster metadata when the storage is formatted (KRaft has no ZooKeeper
    # to hold them), for both SCRAM mechanisms.
    local -a scram=()
    if [[ -n "$scram_user" ]]; then
      scram=(--add-scram "SCRAM-SHA-256=[name=${scram_user%%:*},password=${scram_user#*:}]"
        --add-scram "SCRAM-SHA-512=[name=${scram_user%%:*},password=${scram_user#*:}]")
    fi
    "$java" -XX:TieredStopAtLevel=1 -XX:+UseSerialGC -cp "$KAFKA_LIB/*" kafka.tools.StorageTool format \
      -t "$cluster_id" -c "$node_dir/server.properties" "${scram[@]}" >"$node_dir/logs/format.log" 2>&1 &
    formatters[i]=$!
  done
  for i in $(seq 1 "$nodes"); do
    wait "${formatters[i]}" || {
      tail_logs 30 "$work_dir/node$i/logs/format.log"
      remove_work_dir "$work_dir"
      die "formatting node $i failed"
    }
  done
  for i in $(seq 1 "$nodes"); do
    port_in_use "${ports[i]}" && { remove_work_dir "$work_dir"; die "port ${ports[i]} was taken meanwhile; start again"; }
    launch_node "$work_dir" "$i"
  done
  local deadline=$(( $(now_ms) + timeout * 1000 ))
  for i in $(seq 1 "$nodes"); do
    if ! wait_node "$work_dir" "$i" "$deadline"; then
      cmd_stop --work-dir "$work_dir" >/dev/null
      die "Kafka node $i did not listen on 127.0.0.1:${ports[i]} within ${timeout}s (logs above)"
    fi
  done
  printf '%s\n' "$nodes" >"$work_dir/run/nodes"
  start_watchdog "$owner_pid" "$work_dir" "$SCRIPT_DIR/kafka.sh"
  local startup_ms=$(( $(now_ms) - t_start ))
  log "Kafka $KAFKA_VERSION: $nodes node(s) listening on $bootstrap after ${startup_ms} ms (work dir $work_dir)"
  printf 'bootstrap=%s\nnodes=%s\n' "$bootstrap" "$nodes"
  [[ -z "$sasl_bootstrap" ]] || printf 'sasl_bootstrap=%s\n' "$sasl_bootstrap"
  for i in $(seq 1 "$nodes"); do
    printf 'node%s_port=%s\nnode%s_pid=%s\n' "$i" "${ports[i]}" "$i" "$(cat "$work_dir/run/node$i.pid")"
  done
  printf 'work_dir=%s\nversion=%s\nstartup_ms=%s\n' "$work_dir" "$KAFKA_VERSION" "$startup_ms"
}

# ---- stop --------------------------------------------------------------------------------------
check_work_dir() {
  [[ -d "$1" ]] || die "work dir $1 does not exist"
  [[ -f "$1/$AEGIS_WORKDIR_MARKER" ]] || die "$1 was not created by a services script (no $AEGIS_WORKDIR_MARKER); refusing to touch it"
}

parse_node_args() { # sets work_dir, node, kill_it
  work_dir="${AEGIS_KAFKA_WORK_DIR:-}" node="" kill_it=0
  while [[ $# -gt 0 ]]; do
    case "$1" in
      --work-dir) work_dir="${2:?--work-dir needs a value}"; shift 2 ;;
      --node) node="${2:?--node needs a value}"; shift 2 ;;
      --kill) kill_it=1; shift ;;
      -h|--help) usage ;;
      *) die "unknown argument '$1' (see --help)" ;;
    esac
  done
  [[ -n "$work_dir" ]] || die "needs --work-dir (or AEGIS_KAFKA_WORK_DIR)"
  [[ "$node" =~ ^[1-3]$ ]] || die "--node must be 1, 2 or 3, got '$node'"
  check_work_dir "$work_dir"
  [[ -f "$work_dir/node$node/server.properties" ]] || die "$work_dir has no node $node"
}

cmd_stop_node() {
  local work_dir node kill_it pgid
  parse_node_args "$@"
  pgid="$(cat "$work_dir/run/node$node.pid" 2>/dev/null || true)"
  [[ "$pgid" =~ ^[0-9]+$ ]] || die "node $node has no pid file"
  if (( kill_it )); then
    kill -KILL -- "-$pgid" 2>/dev/null || true
    local waited=0
    while group_alive "$pgid"; do
      (( waited++ < 300 )) || die "node $node (process group $pgid) still alive 15 s after SIGKILL"
      sleep 0.05
    done
  else
    stop_group "$pgid" "${AEGIS_KAFKA_STOP_GRACE:-20}"
  fi
  printf 'stopped_node=%s\n' "$node"
}

cmd_start_node() {
  local work_dir node kill_it pgid
  parse_node_args "$@"
  pgid="$(cat "$work_dir/run/node$node.pid" 2>/dev/null || true)"
  [[ "$pgid" =~ ^[0-9]+$ ]] && group_alive "$pgid" && die "node $node is still running (process group $pgid)"
  launch_node "$work_dir" "$node"
  wait_node "$work_dir" "$node" $(( $(now_ms) + ${AEGIS_KAFKA_START_TIMEOUT:-90} * 1000 )) \
    || die "Kafka node $node did not listen again (logs above)"
  printf 'started_node=%s\nnode%s_pid=%s\n' "$node" "$node" "$(cat "$work_dir/run/node$node.pid")"
}

cmd_stop() {
  local work_dir="${AEGIS_KAFKA_WORK_DIR:-}"
  while [[ $# -gt 0 ]]; do
    case "$1" in
      --work-dir) work_dir="${2:?--work-dir needs a value}"; shift 2 ;;
      -h|--help) usage ;;
      *) die "unknown stop argument '$1' (see --help)" ;;
    esac
  done
  [[ -n "$work_dir" ]] || die "stop needs --work-dir (or AEGIS_KAFKA_WORK_DIR)"
  if [[ ! -d "$work_dir" ]]; then
    log "work dir $work_dir does not exist: nothing to stop"
    return 0
  fi
  check_work_dir "$work_dir"
  local f pgid stopped=""
  # All nodes at once (SIGTERM to each, then wait): stopping one by one makes the last wait for a quorum that is gone.
  for f in "$work_dir"/run/node*.pid; do
    [[ -s "$f" ]] || continue
    pgid="$(cat "$f")"
    [[ "$pgid" =~ ^[0-9]+$ ]] && group_alive "$pgid" && kill -TERM -- "-$pgid" 2>/dev/null || true
  done
  for f in "$work_dir"/run/node*.pid; do
    [[ -s "$f" ]] || continue
    pgid="$(cat "$f")"
    [[ "$pgid" =~ ^[0-9]+$ ]] || continue
    stop_group "$pgid" "${AEGIS_KAFKA_STOP_GRACE:-10}"
    group_alive "$pgid" && die "could not stop Kafka process group $pgid"
    stopped+="${stopped:+,}$pgid"
  done
  stop_watchdog "$work_dir"
  remove_work_dir "$work_dir"
  log "stopped Kafka (process groups ${stopped:-none})"
  printf 'stopped=%s\n' "${stopped:-none}"
}

cmd_info() {
  local installed=no
  [[ -f "$KAFKA_INSTALLED_MARKER" ]] && [[ "$(cat "$KAFKA_INSTALLED_MARKER")" == "$KAFKA_PIN_DIGEST" ]] && installed=yes
  printf 'version=%s\nhome=%s\nlib=%s\ninstalled=%s\njars=%s\ncache_dir=%s\n' "$KAFKA_VERSION" "$KAFKA_HOME_CACHED" \
    "$KAFKA_LIB" "$installed" "$(grep -c . <<<"$KAFKA_JARS")" "$AEGIS_CACHE_DIR"
}

main() {
  [[ $# -ge 1 ]] || usage
  local sub="$1"; shift
  case "$sub" in
    install) cmd_install "$@" ;;
    start) cmd_start "$@" ;;
    stop) cmd_stop "$@" ;;
    stop-node) cmd_stop_node "$@" ;;
    start-node) cmd_start_node "$@" ;;
    info) cmd_info "$@" ;;
    -h|--help|help) usage ;;
    *) die "unknown subcommand '$sub' (install|start|stop|stop-node|start-node|info)" ;;
  esac
}

main "$@"
