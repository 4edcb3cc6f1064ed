#!/bin/sh
# Installs everything haven needs to build, test and benchmark on Debian 12.
# Runs apt-get as root (through sudo when not root).
set -eu

pkgs="build-essential pkg-config meson ninja-build clang python3-lmdb
      libssl-dev libuv1-dev liblmdb-dev librados-dev libcmocka-dev
      libinih-dev libjansson-dev libmicrohttpd-dev openssl lmdb-utils
      nbdkit libnbd-bin python3 python3-libnbd qemu-utils fio util-linux
      ceph-mon ceph-osd ceph-common procps iproute2
      groff-base man-db bsdextrautils systemd"

if [ "$(id -u)" -eq 0 ]; then sudo=""; else sudo="sudo"; fi

missing=""
for p in $pkgs; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" ||
        missing="$missing $p"
done
if [ -n "$missing" ]; then
    echo "install-deps: installing:$missing"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq $missing
fi
