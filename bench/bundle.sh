#!/usr/bin/env bash
# bundle.sh [DIR]: bundle build throughput on a ~200 MiB EL-like package set
# against the floor of reading the inputs and writing the same bytes.
#   DIR  work directory (default /var/tmp/pgha-bundle-bench); the RPM set is
#        built once by bench/bundle-rpms.sh and reused.
# Prints MiB/s of package bytes for cat and cp (the floor) and, per gzip
# level, for bundle.Write (go test -bench BenchmarkWrite), with out/in size.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
dir=${1:-/var/tmp/pgha-bundle-bench}
rpms=$dir/rpms
"$here/bundle-rpms.sh" "$rpms" "${PGHA_BENCH_MIB:-200}"

bytes=$(find "$rpms" -name '*.rpm' -printf '%s\n' | awk '{ s += $1 } END { print s }')
mib=$(awk -v b="$bytes" 'BEGIN { printf "%.1f", b / 1048576 }')
echo "==> package set: $mib MiB in $(find "$rpms" -name '*.rpm' | wc -l) RPMs ($rpms)"

# Warm the page cache so every contender reads from memory, as the build would
# right after verifying the packages.
cat "$rpms"/*.rpm >/dev/null

rate() { awk -v b="$bytes" -v s="$1" 'BEGIN { printf "%.0f MiB/s", b / 1048576 / s }'; }
timed() { # best of three, seconds
	local best="" t0 t1 t
	for _ in 1 2 3; do
		t0=$(date +%s.%N)
		"$@"
		t1=$(date +%s.%N)
		t=$(awk -v a="$t0" -v b="$t1" 'BEGIN { print b - a }')
		if [ -z "$best" ] || awk -v a="$t" -v b="$best" 'BEGIN { exit !(a < b) }'; then best=$t; fi
	done
	echo "$best"
}
out=$dir/out
mkdir -p "$out"
cat_all() { cat "$rpms"/*.rpm >"$out/cat.bin"; }
cp_all() { rm -rf "$out/cp" && cp -r "$rpms" "$out/cp"; }
t=$(timed cat_all)
echo "floor: cat  ${t}s  $(rate "$t")"
t=$(timed cp_all)
echo "floor: cp   ${t}s  $(rate "$t")"
rm -rf "$out"

echo "==> bundle.Write (go test -bench, MB/s = 10^6 bytes of packages per second)"
cd "$here/.."
PGHA_BENCH_RPMS=$rpms go test ./bundle -run '^$' -bench BenchmarkWrite -benchtime "${PGHA_BENCH_TIMES:-3x}" |
	grep -E '^Benchmark'
