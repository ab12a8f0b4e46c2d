#!/usr/bin/env bash
# Tools the test suite needs besides a JDK; called by .ci/run before the build.
# Idempotent: installs only what is missing, and runs apt-get update at most once per call.
#
# - docker-compose (Debian's 1.29): DockerComposeTest validates docker-compose.yml with
#   `docker-compose config`, which needs no Docker engine.
# - tmux: LiveProgressTerminalTest runs the coordinator under a real pseudo-terminal.
# - curl: ./mvnw (bin/test) fetches the pinned Maven with it on first use.
# - gcc + libc6-dev: the agent build compiles the native restore stub (agent/src/main/c), and its
#   tests build an ASan/UBSan variant (libasan/libubsan come with gcc).
# - sqlite3: LockHandOverRestoreTest restores a sqlite3 shell that holds its database.
set -euo pipefail

updated=no
apt_install() {
  local package=$1
  if dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q 'install ok installed'; then
    return 0
  fi
  local sudo=""
  if [[ $(id -u) -ne 0 ]]; then
    sudo="sudo"
  fi
  if [[ $updated == no ]]; then
    $sudo apt-get update -qq
    updated=yes
  fi
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "$package" >/dev/null
  echo "install-tools: installed $package"
}

apt_install curl
apt_install docker-compose
# util-linux: setsid/setpriv/unshare (freeze guards, privilege drops, mount-namespace tests);
# iproute2 for the network-namespace tests' tools.
apt_install util-linux
apt_install iproute2
apt_install tmux
apt_install gcc
apt_install libc6-dev
apt_install sqlite3
# xfsprogs + btrfs-progs: the snapshot tests make XFS (reflink=1) and btrfs file systems on loop devices.
apt_install xfsprogs
apt_install btrfs-progs
