# Lockstep: one image for the agent and the coordinator.
#
#   docker build -t lockstep .
#   docker run --rm lockstep agent --help
#   docker run --rm lockstep coordinator --help
#
# There is no ENTRYPOINT: every service names its program (agent or coordinator) in its command,
# exactly as an operator types it on a host (see docker-compose.yml).

# ---- build -------------------------------------------------------------------------------------
FROM maven:3.9-eclipse-temurin-17 AS build
WORKDIR /src
# The poms first, so that a change to the sources does not invalidate the dependency download.
COPY pom.xml ./
COPY proto/pom.xml proto/
COPY common/pom.xml common/
COPY agent/pom.xml agent/
COPY demo/pom.xml demo/
COPY coordinator/pom.xml coordinator/
COPY bench/pom.xml bench/
COPY proto/src proto/src
COPY common/src common/src
COPY agent/src agent/src
COPY demo/src demo/src
COPY coordinator/src coordinator/src
COPY bench/src bench/src
# The cache mount keeps ~/.m2 between builds (BuildKit, the default builder of current Docker);
# tests need cgroups, /proc/locks and child JVMs, which a build container does not offer: they run in CI.
# gcc: the agent build compiles the native restore stub (agent/src/main/c) into the agent's jar.
RUN apt-get update \
    && apt-get install -y --no-install-recommends gcc libc6-dev \
    && rm -rf /var/lib/apt/lists/*
RUN --mount=type=cache,target=/root/.m2 \
    mvn -B -DskipTests package -pl agent,coordinator -am

# ---- runtime -----------------------------------------------------------------------------------
FROM eclipse-temurin:17-jre
# util-linux: setsid (the freeze guard and the embedded ZooKeeper run in their own session, so
# they outlive a crash of the agent) and setpriv (group commands and restored commands drop to
# their recorded uid/gid). bash: the bin/ launchers.
RUN apt-get update \
    && apt-get install -y --no-install-recommends util-linux bash \
    && rm -rf /var/lib/apt/lists/*

# The launchers find their jar and lib/ relative to themselves (<home>/bin/.. ), so the runtime
# keeps the source tree's layout: <home>/{agent,coordinator}/target/{lockstep-*.jar,lib/}.
ENV LOCKSTEP_HOME=/opt/lockstep
# The JVMs' own text in UTF-8; names (files, arguments, environments) are bytes whatever the locale.
ENV LANG=C.UTF-8
COPY bin/ /opt/lockstep/bin/
COPY --from=build /src/agent/target/lockstep-agent-*.jar /opt/lockstep/agent/target/
COPY --from=build /src/agent/target/lib/ /opt/lockstep/agent/target/lib/
COPY --from=build /src/coordinator/target/lockstep-coordinator-*.jar /opt/lockstep/coordinator/target/
COPY --from=build /src/coordinator/target/lib/ /opt/lockstep/coordinator/target/lib/
RUN chmod 0755 /opt/lockstep/bin/agent /opt/lockstep/bin/coordinator \
    && mkdir -p /var/lib/lockstep
ENV PATH=/opt/lockstep/bin:$PATH

# Agents serve gRPC on 7411 (agent serve --listen 0.0.0.0:7411).
EXPOSE 7411
WORKDIR /var/lib/lockstep
CMD ["agent", "--help"]
