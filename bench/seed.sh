#!/bin/bash
# Times writing one node's seed ISO with cloudinit.WriteISO (through
# cloudinit/internal/seedwrite), with and without a bundle, against Debian's
# cloud-localds on the same files (the bundle goes in as vendor-data so both
# images carry the same bytes). Prints wall time and peak RSS of each run and
# whether two runs give identical images.
#
#   bench/seed.sh [BUNDLE_MIB] [RUNS]      defaults: 200 3
set -euo pipefail

MIB=${1:-200}
RUNS=${2:-3}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
WORK=$(mktemp -d "${TMPDIR:-/tmp}/pgha-seed-bench.XXXXXX")
trap 'rm -rf "$WORK"' EXIT

for tool in cloud-localds genisoimage /usr/bin/time; do
	command -v "$tool" >/dev/null || { echo "missing $tool (Debian: cloud-image-utils, genisoimage, time)" >&2; exit 2; }
done

(cd "$ROOT" && CGO_ENABLED=0 go build -o "$WORK/seedwrite" ./cloudinit/internal/seedwrite)
case_dir="$ROOT/cloudinit/testdata/el7-static/pg1"
cp "$case_dir/user-data" "$case_dir/meta-data" "$case_dir/network-config" "$WORK/"
head -c "$((MIB * 1024 * 1024))" /dev/urandom >"$WORK/bundle.tgz"
sync

# measure NAME OUTPUT COMMAND...: runs COMMAND RUNS times, prints each run's
# seconds and peak RSS, and whether all runs wrote the same image.
measure() {
	local name=$1 out=$2 i first="" same=yes sum
	shift 2
	for ((i = 1; i <= RUNS; i++)); do
		rm -f "$out"
		/usr/bin/time -f '%e %M' -o "$WORK/time" "$@" >/dev/null 2>"$WORK/err" ||
			{ cat "$WORK/err" >&2; exit 1; }
		read -r secs rss <"$WORK/time"
		sum=$(sha256sum "$out" | cut -d ' ' -f 1)
		[ -z "$first" ] && first=$sum
		[ "$sum" = "$first" ] || same=no
		printf '%-34s run %d: %6.2f s  peak RSS %6d KiB  %d bytes\n' "$name" "$i" "$secs" "$rss" "$(stat -c %s "$out")"
		sleep 1 # a different wall-clock second for the next image
	done
	printf '%-34s identical images across runs: %s\n' "$name" "$same"
}

echo "bundle: $MIB MiB of random bytes; $RUNS runs each; $(nproc) CPUs"
measure "WriteISO, no bundle" "$WORK/a.iso" \
	"$WORK/seedwrite" "$WORK/a.iso" "$WORK/user-data" "$WORK/meta-data" "$WORK/network-config"
measure "cloud-localds, no bundle" "$WORK/b.iso" \
	cloud-localds -N "$WORK/network-config" "$WORK/b.iso" "$WORK/user-data" "$WORK/meta-data"
measure "WriteISO, ${MIB} MiB bundle" "$WORK/c.iso" \
	"$WORK/seedwrite" "$WORK/c.iso" "$WORK/user-data" "$WORK/meta-data" "$WORK/network-config" "$WORK/bundle.tgz"
measure "cloud-localds, ${MIB} MiB vendor-data" "$WORK/d.iso" \
	cloud-localds -N "$WORK/network-config" -V "$WORK/bundle.tgz" "$WORK/d.iso" "$WORK/user-data" "$WORK/meta-data"
