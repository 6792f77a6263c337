#!/bin/sh
# KAFKA_ADVERTISED_HOST: the Service's DNS name clients are told to use. Data in /var/lib/kafka
# (a volume); formatted on first start with a fixed cluster id.
set -euf  # -f: the class path "libs/*" is for java, not for the shell
: "${KAFKA_ADVERTISED_HOST:?set it to the Service name}"
DATA=${KAFKA_DATA:-/var/lib/kafka/data}
CONF=/tmp/kafka; mkdir -p "$CONF" "$DATA"
cat > "$CONF/server.properties" <<EOT
node.id=1
process.roles=broker,controller
listeners=PLAINTEXT://:9092,CONTROLLER://127.0.0.1:9093
advertised.listeners=PLAINTEXT://$KAFKA_ADVERTISED_HOST:9092
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT
inter.broker.listener.name=PLAINTEXT
controller.listener.names=CONTROLLER
controller.quorum.bootstrap.servers=127.0.0.1:9093
log.dirs=$DATA
auto.create.topics.enable=false
num.partitions=6
default.replication.factor=1
min.insync.replicas=1
offsets.topic.replication.factor=1
offsets.topic.num.partitions=10
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
group.initial.rebalance.delay.ms=0
EOT
cat > "$CONF/log4j2.properties" <<EOT
status = warn
rootLogger.level = INFO
rootLogger.appenderRef.out.ref = out
appender.out.type = Console
appender.out.name = out
appender.out.layout.type = PatternLayout
appender.out.layout.pattern = [%d] %p %m (%c)%n
logger.request.name = kafka.request.logger
logger.request.level = WARN
EOT
JAVA="java ${KAFKA_HEAP_OPTS:--Xms256m -Xmx512m} -XX:+UseG1GC -XX:+ExitOnOutOfMemoryError -Djava.awt.headless=true -Dlog4j2.configurationFile=$CONF/log4j2.properties -cp /opt/kafka/libs/*"
if [ ! -s "$DATA/meta.properties" ]; then
  $JAVA kafka.tools.StorageTool format --standalone --cluster-id="${KAFKA_CLUSTER_ID:-HA4uAAAAQACAAAAAAADKeg}" --config "$CONF/server.properties"
fi
exec $JAVA kafka.Kafka "$CONF/server.properties"
