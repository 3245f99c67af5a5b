#!/bin/bash
# Verifies one ~200 MiB signed RPM (incompressible payload, header and
# header+payload signatures, payload SHA256 and MD5 digests) with our
# `pgha-bundle verify` and with Debian's `rpmkeys --checksig` (key imported
# into a throwaway rpmdb), from the page cache, RUNS times each. Prints every
# run's wall time and peak RSS, the best times, their ratio (ours/rpmkeys;
# below 1 means we are faster) and our peak RSS. CPU time (user+sys) is shown
# too: on a loaded machine wall times are noisy. Our verify also computes the
# whole file's sha256 (for the manifest) and hashes on all cores.
#
#   bench/verify.sh [PAYLOAD_MIB] [RUNS]      defaults: 200 3
# Goal: ratio <= 1, our peak RSS < 64 MiB.
set -euo pipefail

MIB=${1:-200}
RUNS=${2:-3}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
WORK=$(mktemp -d "${TMPDIR:-/tmp}/pgha-verify-bench.XXXXXX")
trap 'rm -rf "$WORK"' EXIT

for tool in rpmkeys /usr/bin/time; do
	command -v "$tool" >/dev/null || { echo "missing $tool (Debian: rpm, time)" >&2; exit 2; }
done

(cd "$ROOT" && CGO_ENABLED=0 go build -o "$WORK/pgha-bundle" ./cmd/pgha-bundle &&
	go run ./internal/fixture/cmd/mkbig -out "$WORK" -mib "$MIB" >/dev/null)
PKG=$(echo "$WORK"/big-*.rpm)
KEY=$WORK/RPM-GPG-KEY-bench
mkdir "$WORK/rpmdb"
rpmkeys --dbpath "$WORK/rpmdb" --import "$KEY"
cat "$PKG" >/dev/null # into the page cache: both tools read the same cached bytes
printf 'package: %s (%d bytes)\n' "$(basename "$PKG")" "$(stat -c %s "$PKG")"

# once NAME COMMAND...: runs COMMAND once (it must succeed), prints the run
# and sets SECS and RSS.
once() {
	local name=$1 user sys
	shift
	/usr/bin/time -f '%e %M %U %S' -o "$WORK/time" "$@" >"$WORK/out" 2>&1 ||
		{ cat "$WORK/out" >&2; echo "$name failed" >&2; exit 1; }
	read -r SECS RSS user sys <"$WORK/time"
	printf '%-20s %6.2f s wall  %5.2f s cpu  peak RSS %7d KiB   %s\n' "$name" "$SECS" \
		"$(awk "BEGIN{print $user + $sys}")" "$RSS" "$(tr '\n' ' ' <"$WORK/out" | cut -c1-40)"
}

# Runs alternate between the two tools, so that load from elsewhere on the
# machine hits both alike; the best run of each is compared.
OURS="" THEIRS="" OURS_RSS=0 THEIRS_RSS=0
min() { awk -v a="$1" -v b="$2" 'BEGIN{print (a == "" || b < a) ? b : a}'; }
for ((i = 1; i <= RUNS; i++)); do
	once "pgha-bundle verify" "$WORK/pgha-bundle" verify --key "$KEY" "$PKG"
	OURS=$(min "$OURS" "$SECS")
	if ((RSS > OURS_RSS)); then OURS_RSS=$RSS; fi
	once "rpmkeys --checksig" rpmkeys --dbpath "$WORK/rpmdb" --checksig "$PKG"
	THEIRS=$(min "$THEIRS" "$SECS")
	if ((RSS > THEIRS_RSS)); then THEIRS_RSS=$RSS; fi
done

awk -v o="$OURS" -v t="$THEIRS" -v r="$OURS_RSS" -v tr="$THEIRS_RSS" -v mib="$MIB" 'BEGIN {
	printf "best: pgha-bundle verify %.2f s, rpmkeys --checksig %.2f s, ratio %.2f (ours/rpmkeys)\n", o, t, (t > 0 ? o / t : 0)
	printf "peak RSS: pgha-bundle verify %.1f MiB (goal < 64), rpmkeys %.1f MiB; payload %d MiB\n", r / 1024, tr / 1024, mib
	if (r >= 64 * 1024) exit 1
}'
