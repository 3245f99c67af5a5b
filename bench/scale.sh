#!/usr/bin/env bash
# scale.sh [MIB] [BIG_MIB]: what builds cost as a fleet grows. A cluster has
# at most 7 members (etcd), so a fleet is clusters built from the same
# package set: 3 nodes is one cluster of 3; 30 and 100 nodes are 6 and 20
# clusters of 5. For each fleet it runs `pgha-bundle build` of every
# cluster and prints the build time (all clusters, one after the other), the
# output's size and the largest peak RSS of one build:
#   per-node  every node's bundle and seed carry the packages: 3 and 30 nodes
#             (100 would write 40 GB for 200 MiB of packages)
#   shared    --packages-media shared: the packages once per cluster, in one
#             ISO and one tarball: 3, 30 and 100 nodes
# then `pgha-bundle diff` of every cluster of two 100-node shared builds (one
# PostgreSQL parameter changed between them), and the peak RSS of a 3-node
# build of a BIG_MIB package set (memory must not grow with the packages).
#
#   MIB      the large RPM of the package set (default 200); bench-smoke: 1
#   BIG_MIB  the large RPM of the RSS check (default 1024)
#   PGHA_BENCH_DIR  work directory (default: a temporary one, removed)
set -euo pipefail
shopt -s inherit_errexit

MIB=${1:-200}
BIG_MIB=${2:-1024}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck source=bench/lib.sh
. "$ROOT/bench/lib.sh"
bench_work pgha-scale-bench
command -v /usr/bin/time >/dev/null || { echo "missing /usr/bin/time (Debian: time)" >&2; exit 2; }

bench_setup "$WORK" "$MIB"
bin=$WORK/pgha-bundle
pk=$WORK/packages

# make_fleet NODES: writes the specs of a fleet of NODES nodes into
# WORK/fleet-NODES/, one per cluster (each cluster's secrets file is made by
# its first build and kept).
make_fleet() {
	local nodes=$1 size=5 count i dir=$WORK/fleet-$1
	if [ "$nodes" -le 7 ]; then
		size=$nodes
	fi
	count=$((nodes / size))
	mkdir -p "$dir"
	for ((i = 1; i <= count; i++)); do
		"$bin" init --quiet --os el9 --nodes "$size" -o - |
			sed -e "s/^  name: pgcluster$/  name: fleet$(printf '%03d' "$i")/" \
				-e "s|^  dir: packages$|  dir: $pk|" >"$dir/c$(printf '%03d' "$i").spec.yaml"
	done
}

# build_fleet NODES OUT FLAGS...: builds every cluster of the fleet into OUT;
# prints "SECONDS MAX_RSS_KB".
build_fleet() {
	local nodes=$1 out=$2 spec t rss=0 start end
	shift 2
	start=$(date +%s.%N)
	for spec in "$WORK/fleet-$nodes"/c[0-9][0-9][0-9].spec.yaml; do
		/usr/bin/time -f '%M' -o "$WORK/rss" "$bin" build --quiet -f "$spec" --out "$out" \
			--key "$pk/RPM-GPG-KEY-pgha-example" --key "$pk/RPM-GPG-KEY-bench" \
			--base-provides "$pk/base-provides.txt" "$@" >/dev/null
		t=$(tail -n 1 "$WORK/rss")
		[ "$t" -gt "$rss" ] && rss=$t
	done
	end=$(date +%s.%N)
	awk -v a="$start" -v b="$end" -v r="$rss" 'BEGIN { printf "%.2f %d\n", b - a, r }'
}

size_of() { du -sb "$1" | awk '{ printf "%.1f", $1 / 1048576 }'; }

# One build first, not measured: on a VM the first large write after a
# pause can take three times as long, all of it system time spent filling
# page-cache pages (3.2 s, then 1.1 s, for the same 3-node build).
make_fleet 3
build_fleet 3 "$WORK/out-warm-up" >/dev/null
rm -rf "$WORK/out-warm-up"

echo "==> $(bench_mib "$pk") MiB of packages, $(nproc) CPUs, load $(cut -d ' ' -f 1 /proc/loadavg)"
printf '%-9s %6s %9s %12s %12s\n' media nodes seconds "output MiB" "peak RSS MiB"
row() { # MEDIA NODES FLAGS...
	local media=$1 nodes=$2 out=$WORK/out-$1-$2 r
	shift 2
	rm -rf "$out"
	make_fleet "$nodes"
	r=$(build_fleet "$nodes" "$out" "$@")
	read -r secs rss <<<"$r"
	printf '%-9s %6d %9s %12s %12.1f\n' "$media" "$nodes" "$secs" "$(size_of "$out")" "$(awk -v k="$rss" 'BEGIN { print k / 1024 }')"
}
row per-node 3
rm -rf "$WORK/out-per-node-3"
row per-node 30
rm -rf "$WORK/out-per-node-30"
for n in 3 30 100; do
	row shared "$n" --packages-media shared
	[ "$n" = 100 ] || rm -rf "$WORK/out-shared-$n"
done

# The second 100-node build: one parameter changed in every cluster.
for spec in "$WORK/fleet-100"/c[0-9][0-9][0-9].spec.yaml; do
	grep -q '^    max_connections: 200$' "$spec" || { echo "$spec: no max_connections 200 to change" >&2; exit 1; }
	sed -i 's/^    max_connections: 200$/    max_connections: 300/' "$spec"
done
b=$WORK/out-shared-100b
rm -rf "$b"
build_fleet 100 "$b" --packages-media shared >/dev/null
start=$(date +%s.%N)
rss=0 changed=0
for dir in "$WORK/out-shared-100"/*/; do
	name=$(basename "$dir")
	status=0
	/usr/bin/time -f '%M' -o "$WORK/rss" "$bin" diff --stat --color never "$dir" "$b/$name" >/dev/null || status=$?
	# 1: the builds differ, as they must.
	[ "$status" = 1 ] || { echo "diff $name: status $status, want 1 (different)" >&2; exit 1; }
	r=$(tail -n 1 "$WORK/rss")
	[ "$r" -gt "$rss" ] && rss=$r
	changed=$((changed + 1))
done
end=$(date +%s.%N)
awk -v a="$start" -v b="$end" -v r="$rss" -v n="$changed" \
	'BEGIN { printf "diff of two 100-node builds: %d clusters in %.2f s, peak RSS %.1f MiB\n", n, b - a, r / 1024 }'
rm -rf "$WORK/out-shared-100" "$b"

# Peak RSS with a large package set: its own work directory (packages).
big=$WORK/big
mkdir -p "$big"
bench_setup "$big" "$BIG_MIB"
rm -rf "$big/out"
/usr/bin/time -f '%M' -o "$WORK/rss" "$big/pgha-bundle" build --quiet -f "$big/cluster.yaml" --out "$big/out" \
	--packages "$big/packages" --key "$big/packages/RPM-GPG-KEY-pgha-example" --key "$big/packages/RPM-GPG-KEY-bench" \
	--base-provides "$big/packages/base-provides.txt" >/dev/null
rss=$(tail -n 1 "$WORK/rss")
awk -v k="$rss" -v m="$(bench_mib "$big/packages")" 'BEGIN { printf "peak RSS, 3 nodes per-node, %s MiB of packages: %.1f MiB\n", m, k / 1024 }'
rm -rf "$big/out"
