"""Apicurio Registry on loopback, serving the Confluent schema registry API at /apis/ccompat/v7.

Maven Central holds Apicurio's application jar but no runnable build, so the first start
assembles one: a small Maven project depends on ``apicurio-registry-app`` and lets the Quarkus
plugin augment it into ``target/*-runner.jar`` + ``target/lib`` (cached, like Kafka's jars).

Why 2.4.2.Final and not 3.x: on the Maven Central this project can reach, every 3.x release
is incomplete (3.3.x modules such as ``apicurio-registry-schema-util-provider`` are missing and
its classes need Java 21; 3.0.9 lacks its parent pom and three modules), and 2.6.13.Final lacks
``schema-util-provider``. 2.4.2.Final resolves with two patches, see ``_POM``. Its ccompat v7 API
is the one the cluster's Apicurio serves, so clients cannot tell the difference.

Schemas are stored in an H2 file database in the data dir, so ids survive restarts.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import httpx

from ico_analytics.services.base import DaemonService
from ico_analytics.services.maven import is_fresh, mark_fresh, run_maven
from ico_core.errors import ServiceError

APICURIO_VERSION = "2.4.2.Final"
QUARKUS_VERSION = "2.16.4.Final"  # the version apicurio-registry 2.4.2.Final is built with
CCOMPAT_PATH = "/apis/ccompat/v7"
JVM_OPTIONS = ("-Xms64m", "-Xmx384m", "-XX:+UseSerialGC", "-XX:+ExitOnOutOfMemoryError")

_POM = f"""\
<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>local.ico-analytics</groupId>
  <artifactId>apicurio-registry-local</artifactId>
  <version>{APICURIO_VERSION}</version>
  <properties>
    <maven.compiler.release>17</maven.compiler.release>
    <project.build.sourceEncoding>UTF-8</project.build.sourceEncoding>
  </properties>
  <dependencyManagement>
    <dependencies>
      <!-- Apicurio's own version pins for the whole dependency graph. -->
      <dependency>
        <groupId>io.apicurio</groupId><artifactId>apicurio-registry</artifactId>
        <version>{APICURIO_VERSION}</version><type>pom</type><scope>import</scope>
      </dependency>
      <!-- The pinned 0.1.18.Final of this Quarkus extension has no deployment artifact on
           Maven Central; 0.1.10.Final has both halves and the same API. -->
      <dependency>
        <groupId>io.apicurio</groupId><artifactId>apicurio-common-app-components-config-index</artifactId>
        <version>0.1.10.Final</version>
      </dependency>
      <dependency>
        <groupId>io.apicurio</groupId>
        <artifactId>apicurio-common-app-components-config-index-deployment</artifactId>
        <version>0.1.10.Final</version>
      </dependency>
    </dependencies>
  </dependencyManagement>
  <dependencies>
    <dependency>
      <groupId>io.apicurio</groupId><artifactId>apicurio-registry-app</artifactId>
      <version>{APICURIO_VERSION}</version>
      <exclusions>
        <!-- Published on JitPack only; it validates JSON Schema artifacts, which we do not use. -->
        <exclusion><groupId>com.github.everit-org.json-schema</groupId><artifactId>*</artifactId></exclusion>
      </exclusions>
    </dependency>
  </dependencies>
  <build>
    <plugins>
      <plugin>
        <!-- The app's application.properties carries its build-time Quarkus configuration. -->
        <groupId>org.apache.maven.plugins</groupId><artifactId>maven-dependency-plugin</artifactId>
        <version>3.8.1</version>
        <executions>
          <execution>
            <id>app-config</id><phase>process-resources</phase><goals><goal>unpack</goal></goals>
            <configuration>
              <artifactItems>
                <artifactItem>
                  <groupId>io.apicurio</groupId><artifactId>apicurio-registry-app</artifactId>
                  <version>{APICURIO_VERSION}</version><includes>application.properties</includes>
                  <outputDirectory>${{project.build.outputDirectory}}</outputDirectory>
                </artifactItem>
              </artifactItems>
            </configuration>
          </execution>
        </executions>
      </plugin>
      <plugin>
        <groupId>io.quarkus</groupId><artifactId>quarkus-maven-plugin</artifactId>
        <version>{QUARKUS_VERSION}</version>
        <executions><execution><goals><goal>build</goal></goals></execution></executions>
      </plugin>
    </plugins>
  </build>
</project>
"""
# The app jar has no Jandex index, so Quarkus must be told to scan it for beans.
_BUILD_ARGS = (
    "package",
    "-Dquarkus.index-dependency.app.group-id=io.apicurio",
    "-Dquarkus.index-dependency.app.artifact-id=apicurio-registry-app",
)


def apicurio_runner(cache_dir: Path) -> Path:
    """The runnable registry jar, built on first use."""
    home = cache_dir / f"apicurio-registry-{APICURIO_VERSION}"
    runner = home / "target" / f"apicurio-registry-local-{APICURIO_VERSION}-runner.jar"
    recipe = _POM + " ".join(_BUILD_ARGS)
    if is_fresh(home, recipe) and runner.exists():
        return runner
    home.mkdir(parents=True, exist_ok=True)
    (home / "pom.xml").write_text(_POM)
    if (home / "target").exists():
        shutil.rmtree(home / "target")
    run_maven(_BUILD_ARGS, cwd=home, cache_dir=cache_dir)
    if not runner.exists():
        raise ServiceError(f"the Apicurio build produced no {runner.name}")
    mark_fresh(home, recipe)
    return runner


class SchemaRegistryServer(DaemonService):
    """One local Apicurio Registry process bound to 127.0.0.1, Confluent API at ``url``."""

    name = "registry"
    readiness = "Confluent API"

    def __init__(self, data_dir: Path, cache_dir: Path, port: int | None = None) -> None:
        super().__init__(data_dir, port)
        self.cache_dir = cache_dir.resolve()

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def url(self) -> str:
        """The Confluent-compatible base URL, for SCHEMA_REGISTRY_URL."""
        return self.base_url + CCOMPAT_PATH

    def start(self, timeout: float = 180) -> None:
        """Build (first time) and start the registry; wait until the Confluent API answers."""
        super().start(timeout)

    def _launch(self, timeout: float) -> None:
        runner = apicurio_runner(self.cache_dir)
        java = shutil.which("java")
        if java is None:
            raise ServiceError("java is not installed; the schema registry needs Java 17")
        self._save_state(url=self.url, version=f"apicurio-{APICURIO_VERSION}")
        db = self.data_dir / "db" / "registry"
        self.process.start(
            [
                java,
                *JVM_OPTIONS,
                "-Dquarkus.http.host=127.0.0.1",
                f"-Dquarkus.http.port={self.port}",
                # A file database, so schema ids stay stable across restarts.
                f"-Dquarkus.datasource.jdbc.url=jdbc:h2:file:{db};DB_CLOSE_ON_EXIT=FALSE",
                # The prod profile keeps 20 idle connections; one user needs far fewer.
                "-Dquarkus.datasource.jdbc.min-size=1",
                "-Dquarkus.datasource.jdbc.initial-size=1",
                "-jar",
                str(runner),
            ],
            cwd=self.data_dir,
        )

    def _answers(self) -> bool:
        try:
            return httpx.get(self.url + "/subjects", timeout=2).status_code == 200
        except httpx.HTTPError:
            return False
