#!/usr/bin/env bash
# build.sh [MIB] [RUNS]: `pgha-bundle build` of the 3-node el9 example against
# what a user would script instead and against the write floor, in one
# invocation on the same bytes: the example's signed packages (made by
# internal/fixture) plus one signed RPM of MIB MiB (default 200).
#
#   build  pgha-bundle build (it fsyncs every output before the swap)
#   peer   sha256sum of the packages, then per node tar of its config tree and
#          the packages, and genisoimage -J -R of a seed holding that tarball
#   floor  cat of the package set twice per node (a bundle and a seed each)
#
# The peer and the floor end with a sync of what they wrote, as the build
# does. The page cache is warm (the packages are read first). Each contender
# runs RUNS times (default 3), the three taking turns; the best wall time and
# the best CPU time (user + system, children included) count. Prints them and
# the ratios build/peer and build/floor.
#
#   PGHA_BENCH_DIR    work directory (default: a temporary one, removed)
#   PGHA_BENCH_FLAGS  extra flags for pgha-bundle build
set -euo pipefail

MIB=${1:-200}
RUNS=${2:-3}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck source=bench/lib.sh
. "$ROOT/bench/lib.sh"
bench_work pgha-build-bench
for tool in genisoimage sha256sum tar; do
	command -v "$tool" >/dev/null || { echo "missing $tool (Debian: genisoimage, coreutils, tar)" >&2; exit 2; }
done

bench_setup "$WORK" "$MIB"

pk=$WORK/packages
nodes=(el9-node01 el9-node02 el9-node03)

run_build() {
	# shellcheck disable=SC2086 # the flags are words
	"$WORK/pgha-bundle" build --quiet -f "$WORK/cluster.yaml" --out "$WORK/out" ${PGHA_BENCH_FLAGS:-} \
		--packages "$pk" --key "$pk/RPM-GPG-KEY-pgha-example" --key "$pk/RPM-GPG-KEY-bench" \
		--base-provides "$pk/base-provides.txt"
}

# The peer packs the config trees the build rendered: keep one build aside.
run_build
rm -rf "$WORK/trees" && cp -a "$WORK/out/pgcluster/nodes" "$WORK/trees"
rm -rf "$WORK/out/pgcluster"

run_peer() {
	local d=$WORK/peer n written=()
	mkdir -p "$d"
	sha256sum "$pk"/*.rpm >"$d/SHA256SUMS"
	for n in "${nodes[@]}"; do
		tar -cf "$d/$n.tar" -C "$WORK/trees" "$n" -C "$pk" .
		mkdir -p "$d/$n.seed"
		printf 'instance-id: %s\n' "$n" >"$d/$n.seed/meta-data"
		printf '#cloud-config\n' >"$d/$n.seed/user-data"
		ln "$d/$n.tar" "$d/$n.seed/bundle.tar"
		genisoimage -quiet -J -R -V cidata -o "$d/$n.iso" "$d/$n.seed"
		written+=("$d/$n.tar" "$d/$n.iso")
	done
	sync "${written[@]}" "$d"
}

run_floor() {
	local d=$WORK/floor n written=()
	mkdir -p "$d"
	for n in "${nodes[@]}"; do
		cat "$pk"/*.rpm >"$d/$n.bundle"
		cat "$pk"/*.rpm >"$d/$n.seed"
		written+=("$d/$n.bundle" "$d/$n.seed")
	done
	sync "${written[@]}" "$d"
}

clean() { rm -rf "$WORK/out/pgcluster" "$WORK/peer" "$WORK/floor"; sync -f "$WORK"; }

echo "==> $(bench_mib "$pk") MiB of packages, ${#nodes[@]} nodes, best of $RUNS (runs interleaved), $(nproc) CPUs, load $(cut -d ' ' -f 1 /proc/loadavg)"
tb=() tp=() tf=() r=""
for ((i = 0; i < RUNS; i++)); do
	r=$(timed clean run_build)
	tb+=("$r")
	r=$(timed clean run_peer)
	tp+=("$r")
	r=$(timed clean run_floor)
	tf+=("$r")
done
clean
read -r bw bc <<<"$(best "${tb[@]}")"
read -r pw pc <<<"$(best "${tp[@]}")"
read -r fw fc <<<"$(best "${tf[@]}")"
printf '%-6s %7s %7s\n' "" wall cpu build "$bw" "$bc" peer "$pw" "$pc" floor "$fw" "$fc"
awk -v b="$bw" -v p="$pw" -v f="$fw" -v bc="$bc" -v pc="$pc" -v fc="$fc" 'BEGIN {
	printf "build/peer  %.2f wall, %.2f cpu (goal <= 0.7)\n", b / p, bc / pc
	printf "build/floor %.2f wall, %.2f cpu (goal <= 1.5)\n", b / f, bc / fc
}'
