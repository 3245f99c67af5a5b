# shellcheck shell=bash
# Helpers of bench/build.sh and bench/scale.sh (sourced).

# bench_work NAME sets WORK: PGHA_BENCH_DIR when set (kept), else a new
# directory NAME.XXXXXX under TMPDIR (default /var/tmp), removed on exit.
bench_work() {
	if [ -n "${PGHA_BENCH_DIR:-}" ]; then
		WORK=$PGHA_BENCH_DIR
		mkdir -p "$WORK"
	else
		WORK=$(mktemp -d "${TMPDIR:-/var/tmp}/$1.XXXXXX")
		trap 'rm -rf "$WORK"' EXIT
	fi
}

# bench_setup WORK MIB: builds pgha-bundle into WORK, and, once, a signed
# package set into WORK/packages: the el9 example's packages (internal/fixture,
# example key) and one incompressible RPM of MIB MiB signed with a bench key.
# WORK/cluster.yaml is the el9 example spec.
bench_setup() {
	local work=$1 mib=$2 root
	root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
	(cd "$root" && CGO_ENABLED=0 go build -trimpath -o "$work/pgha-bundle" ./cmd/pgha-bundle)
	if [ "$(cat "$work/packages/.mib" 2>/dev/null)" != "$mib" ]; then
		rm -rf "$work/packages"
		(cd "$root" &&
			go run ./internal/fixture/cmd/mkexample -os el9 -out "$work/packages" >/dev/null &&
			go run ./internal/fixture/cmd/mkbig -out "$work/packages" -mib "$mib" >/dev/null)
		echo "$mib" >"$work/packages/.mib"
	fi
	cp "$root/examples/cluster-el9.yaml" "$work/cluster.yaml"
	# Warm the page cache: every contender reads the packages from memory.
	cat "$work/packages"/*.rpm >/dev/null
}

# bench_mib DIR: MiB of the RPMs in DIR.
bench_mib() {
	find "$1" -name '*.rpm' -printf '%s\n' | awk '{ s += $1 } END { printf "%.1f", s / 1048576 }'
}

# timed CLEAN CMD...: runs CLEAN, then CMD; prints "WALL CPU" in seconds (CPU
# is user + system time of CMD and its children: the machine's other load
# shows less in it than in the wall time).
timed() {
	local clean=$1 TIMEFORMAT='%R %U %S' t
	shift
	"$clean"
	t=$({ time "$@" >&4 2>&4; } 4>&2 2>&1) || { echo "failed: $*" >&2; return 1; }
	awk '{ printf "%.3f %.3f\n", $1, $2 + $3 }' <<<"$t"
}

# best "WALL CPU"...: the least wall time and the least CPU time.
best() {
	printf '%s\n' "$@" | awk 'NR == 1 || $1 < w { w = $1 } NR == 1 || $2 < c { c = $2 } END { printf "%.2f %.2f", w, c }'
}
