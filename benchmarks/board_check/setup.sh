#!/usr/bin/env bash
# The emulated arm64 board for `make board-check`: qemu-user 10 and a Debian bookworm arm64 Python 3.11.
#
# qemu-user 10.0 is Debian trixie's static binary taken out of its .deb (bookworm's qemu 7.2 segfaults in
# `import onnxruntime` whatever -cpu); the sysroot is `debootstrap --download-only` + `dpkg-deb -x` (no chroot,
# no second stage, no binfmt). Python wheels are not installed here: check.py installs the board side into a
# folder with the host's pip. Root is needed only to apt-get debootstrap, curl or xz-utils when missing.
# Idempotent: a finished step leaves its output and is skipped (first run ~5-40 min with the network and load,
# ~1.3 GB with the wheels; later runs seconds).
#
# Env: ARM_WORK (${TMPDIR:-/tmp}/edgeemg-arm64)  QEMU_DIR ($ARM_WORK/qemu)  DEBIAN_MIRROR (this host's apt mirror)
set -euo pipefail
W=${ARM_WORK:-${TMPDIR:-/tmp}/edgeemg-arm64}
Q=${QEMU_DIR:-$W/qemu}
# the Debian mirror this host's apt already uses (one-line or deb822 sources)
MIRROR=${DEBIAN_MIRROR:-$(grep -hoE '^(deb[[:space:]]+(\[[^]]*\][[:space:]]+)?|URIs:[[:space:]]+)https?://[^[:space:]]+/debian/?([[:space:]]|$)' \
  /etc/apt/sources.list /etc/apt/sources.list.d/*.list /etc/apt/sources.list.d/*.sources 2>/dev/null |
  grep -oE 'https?://[^[:space:]]+' | head -n 1 || true)}
MIRROR=${MIRROR:-http://deb.debian.org/debian}
N="nice -n ${NICE:-10}"
mkdir -p "$W" "$Q"

need=()
command -v debootstrap >/dev/null || need+=(debootstrap)
command -v curl >/dev/null || need+=(curl)
command -v xz >/dev/null || need+=(xz-utils)
if [ ${#need[@]} -gt 0 ]; then
  echo "board-check setup: installing ${need[*]} (apt-get)" >&2
  apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${need[@]}" >&2
fi

# qemu-aarch64 (and qemu-x86_64, for AVX2-only x86 checks) from trixie's qemu-user; flock: shared folder
if [ ! -x "$Q/qemu-aarch64" ]; then
  (
    flock 9
    if [ ! -x "$Q/qemu-aarch64" ]; then
      tmp=$(mktemp -d) && cd "$tmp"
      curl -fsSL -o Packages.xz "$MIRROR/dists/trixie/main/binary-amd64/Packages.xz"
      deb=$(xz -dc Packages.xz | awk '/^Package: qemu-user$/{p=1} p&&/^Filename:/{print $2; exit}')
      [ -n "$deb" ] || { echo "board-check setup: no qemu-user in $MIRROR trixie" >&2; exit 1; }
      curl -fsSL -o qemu-user.deb "$MIRROR/$deb" && dpkg-deb -x qemu-user.deb x
      cp x/usr/bin/qemu-aarch64 x/usr/bin/qemu-x86_64 "$Q/" && echo "$deb" > "$Q/SOURCE.txt"
      cd / && rm -rf "$tmp"
    fi
  ) 9>"$Q/.lock"
fi
"$Q/qemu-aarch64" --version | head -n 1 >&2

S=$W/sysroot
if [ ! -f "$S/.done" ]; then
  echo "board-check setup: Debian bookworm arm64 python3 into $S (debootstrap --download-only)" >&2
  rm -rf "$W/debs" "$S" && mkdir -p "$S"
  $N debootstrap --download-only --arch=arm64 --variant=minbase --include=python3,python3-venv \
    bookworm "$W/debs" "$MIRROR" >&2
  for d in "$W"/debs/var/cache/apt/archives/*.deb; do dpkg-deb -x "$d" "$S"; done
  rm -rf "$W/debs" && touch "$S/.done"
fi
QEMU_LD_PREFIX=$S "$Q/qemu-aarch64" "$S/usr/bin/python3.11" -c 'import platform, sys; print("arm64 sysroot:", platform.machine(), sys.version.split()[0])' >&2
