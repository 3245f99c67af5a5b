# shellcheck shell=bash
# Helpers of bench/build.sh and bench/scale.sh (sourced).

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

# best_of RUNS CLEAN CMD...: runs CLEAN then CMD, RUNS times; prints the
# shortest time of CMD in seconds.
best_of() {
	local runs=$1 clean=$2 best="" t0 t1 t i
	shift 2
	for ((i = 0; i < runs; i++)); do
		"$clean"
		t0=$(date +%s.%N)
		"$@" >&2
		t1=$(date +%s.%N)
		t=$(awk -v a="$t0" -v b="$t1" 'BEGIN { print b - a }')
		if [ -z "$best" ] || awk -v a="$t" -v b="$best" 'BEGIN { exit !(a < b) }'; then best=$t; fi
	done
	echo "$best"
}
