#!/bin/bash
# Try haven in one command: installs the dependencies, builds, creates a
# demo data directory (embedded local object store) with a tenant "demo",
# a site bundle and a 1 GiB disk "vm1/disk0", prints the commands the
# tenant's site runs to replicate into it, and runs havend in the
# foreground.  Ctrl-C stops it.
#
#   HAVEN_DEMO_DIR   data directory (default: ./demo-data)
#   HAVEN_DEMO_PORT  NBD port on 127.0.0.1 (default: 10809)
set -euo pipefail

src=$(cd "$(dirname "$0")/.." && pwd)
cd "$src"
tests/install-deps.sh
[ -d build ] || meson setup build >/dev/null
ninja -C build >/dev/null

dir=${HAVEN_DEMO_DIR:-$src/demo-data}
port=${HAVEN_DEMO_PORT:-10809}
ctl="$src/build/gateway/havenctl -d $dir"
bundle=$dir/site-bundle

if [ ! -d "$dir/catalog" ]; then
    $ctl init >/dev/null
    $ctl tenant add demo >/dev/null
    $ctl cert issue demo --site hq --out "$bundle" >/dev/null
    $ctl disk create demo/vm1/disk0 --size 1G >/dev/null
    echo "demo: created $dir (tenant demo, site bundle $bundle, disk vm1/disk0)"
fi

cat <<EOT

== A tenant site replicates into haven with stock clients ==

  # a source image to replicate (any raw disk image will do)
  truncate -s 1G /tmp/disk.img

  # nbdcopy (libnbd)
  nbdcopy --flush /tmp/disk.img 'nbds://127.0.0.1:$port/vm1/disk0?tls-certificates=$bundle'

  # qemu-img
  qemu-img convert -n -W -p -f raw /tmp/disk.img \\
    --object tls-creds-x509,id=tls0,endpoint=client,dir=$bundle \\
    --target-image-opts driver=nbd,server.type=inet,server.host=127.0.0.1,server.port=$port,export=vm1/disk0,tls-creds=tls0

  # look at it
  nbdinfo 'nbds://127.0.0.1:$port/vm1/disk0?tls-certificates=$bundle'
  nbdinfo --list 'nbds://127.0.0.1:$port/?tls-certificates=$bundle'

== havend (Ctrl-C to stop) ==
EOT
exec "$src/build/gateway/havend" -d "$dir" --listen "127.0.0.1:$port"
