#!/usr/bin/env bash
# Resolves the Apache Kafka broker (org.apache.kafka:kafka_2.13, which holds kafka.Kafka and
# kafka.tools.StorageTool) and its runtime dependencies from Maven Central into
# .cache/kafka/<version>/libs, which sandbox/kafka_broker.py runs with `java -cp 'libs/*'`.
# Quick when the directory is already complete (a .complete stamp is written last).
set -euo pipefail
cd "$(dirname "$0")/.."

# the version the launcher runs (sandbox/kafka_broker.py), unless KAFKA_VERSION says otherwise
version=${KAFKA_VERSION:-$(sed -n 's/^KAFKA_VERSION = "\([^"]*\)".*/\1/p' sandbox/kafka_broker.py)}
[ -n "$version" ] || { echo "fetch-kafka: no KAFKA_VERSION in sandbox/kafka_broker.py" >&2; exit 1; }
log4j=2.25.5  # the broker logs through slf4j 1.7 -> log4j2, as in the Apache distribution
dest=.cache/kafka/$version
[ -f "$dest/.complete" ] && exit 0

command -v mvn >/dev/null || { echo "fetch-kafka: mvn (Maven) is needed" >&2; exit 1; }
command -v java >/dev/null || { echo "fetch-kafka: java (17+) is needed" >&2; exit 1; }
echo "fetch-kafka: resolving org.apache.kafka:kafka_2.13:$version from Maven Central"
rm -rf "$dest"
mkdir -p "$dest"
cat >"$dest/pom.xml" <<POM
<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>local.sandbox</groupId>
  <artifactId>kafka-runtime</artifactId>
  <version>1</version>
  <packaging>pom</packaging>
  <dependencies>
    <dependency>
      <groupId>org.apache.kafka</groupId>
      <artifactId>kafka_2.13</artifactId>
      <version>$version</version>
    </dependency>
    <dependency>
      <groupId>org.apache.logging.log4j</groupId>
      <artifactId>log4j-slf4j-impl</artifactId>
      <version>$log4j</version>
    </dependency>
    <dependency>
      <groupId>org.apache.logging.log4j</groupId>
      <artifactId>log4j-core</artifactId>
      <version>$log4j</version>
    </dependency>
  </dependencies>
</project>
POM
mvn -q -f "$dest/pom.xml" dependency:copy-dependencies \
  -DincludeScope=runtime -DoutputDirectory=libs
touch "$dest/.complete"
echo "fetch-kafka: $(ls "$dest/libs" | wc -l) jars in $dest/libs"
