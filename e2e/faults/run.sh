#!/bin/bash
# run.sh is the fault harness's entry point (make e2e-faults): as root, it
# installs what it needs from Debian's archive, builds or reuses the boot
# test's cached Debian tree (e2e/boot/mkbase.sh), runs the harness
# (go test -tags e2e ./e2e/faults/) and prints its figures. Whatever the
# test leaves behind when it is killed (containers, overlays, the network
# namespace) is removed here by this run's id.
#
# Environment:
#   PGHA_E2E_CACHE        base tree cache (default /var/cache/pgha-bundle-e2e)
#   PGHA_E2E_ARTIFACTS    where journals and install logs are kept, secrets
#                         redacted (default: a fresh directory under /tmp)
#   PGHA_E2E_FAULTS_DIRECT=1  install with install.sh run by the test instead
#                         of from the seeds through cloud-init
#   PGHA_E2E_FAULTS_ONLY  comma-separated faults to run (default: all)
#   PGHA_E2E_KEEP=1       keep the test's scratch directory (overlays)
#   PGHA_E2E_RUN          the tests to run (default ^TestFaults$; make e2e-vip: ^TestVIP$,
#                         make e2e-lifecycle: ^TestLifecycle$, make e2e-backup: ^TestBackup$, make e2e-scaling: ^TestScaling$)
#   PGHA_E2E_TIMEOUT      go test's timeout (default 22m)
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)

[ "$(id -u)" = 0 ] || { echo "run.sh: must run as root (namespaces, mounts, containers)" >&2; exit 2; }

missing=()
command -v systemd-nspawn >/dev/null || missing+=(systemd-container)
command -v nft >/dev/null || missing+=(nftables)
command -v debootstrap >/dev/null || missing+=(debootstrap)
command -v ip >/dev/null || missing+=(iproute2)
if [ "${#missing[@]}" -gt 0 ]; then
	echo "==> apt-get install ${missing[*]}"
	apt-get update -qq
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
command -v go >/dev/null || { echo "run.sh: go is not on PATH" >&2; exit 2; }

artifacts=${PGHA_E2E_ARTIFACTS:-}
if [ -z "$artifacts" ]; then
	artifacts=$(mktemp -d /tmp/pgha-e2e-faults-artifacts.XXXXXX)
else
	rm -rf "$artifacts"
	mkdir -p "$artifacts"
fi
export PGHA_E2E_ARTIFACTS=$artifacts
id=run$$
export PGHA_E2E_FAULTS_ID=$id

test_pid=
# shellcheck disable=SC2317 # called by the EXIT trap
cleanup() {
	if [ -n "$test_pid" ] && kill -0 "$test_pid" 2>/dev/null; then
		kill -TERM "-$test_pid" 2>/dev/null || true
		sleep 5
		kill -KILL "-$test_pid" 2>/dev/null || true
	fi
	local h d pid m
	for h in /sys/fs/cgroup/systemd /sys/fs/cgroup/unified; do
		d=$h/pgha-faults-$id
		[ -d "$d" ] || continue
		for _ in 1 2 3 4 5; do
			find "$d" -name cgroup.procs -exec cat {} + 2>/dev/null | while read -r pid; do
				kill -KILL "$pid" 2>/dev/null || true
			done
			sleep 0.5
		done
		find "$d" -depth -type d -exec rmdir {} \; 2>/dev/null || true
	done
	while read -r m; do
		umount -l "$m" 2>/dev/null || true
	done < <(awk -v id="/pgha-e2e-faults-$id-" 'index($5, id) { print $5 }' /proc/self/mountinfo)
	local ns
	for ns in "pghaf-$id" "pghav-$id"; do
		if [ -e "/run/netns/$ns" ]; then
			ip netns del "$ns" || true
		fi
	done
	# The test's scratch directory (overlays, file system images), once
	# nothing of it is mounted any more, unless PGHA_E2E_KEEP asks to keep it.
	local tmp=${TMPDIR:-/tmp}
	if [ -z "${PGHA_E2E_KEEP:-}" ] && ! awk -v id="/pgha-e2e-faults-$id-" 'index($5, id) { found = 1 } END { exit !found }' /proc/self/mountinfo; then
		rm -rf "$tmp/pgha-e2e-faults-$id-"*
	fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

t0=$(date +%s)
"$root/e2e/boot/mkbase.sh" >/dev/null

echo "==> fault harness (artifacts in $artifacts)"
log=$artifacts/go-test.log
set +e
# shellcheck disable=SC2016 # expanded by the inner bash
setsid bash -c '
	cd "$1" || exit 2
	go test -tags e2e -count=1 -v -timeout "$4" -run "$3" ./e2e/faults/ 2>&1 | tee "$2"
	exit "${PIPESTATUS[0]}"
' run-e2e-faults "$root" "$log" "${PGHA_E2E_RUN:-^TestFaults\$}" "${PGHA_E2E_TIMEOUT:-22m}" &
test_pid=$!
wait "$test_pid"
rc=$?
set -e

echo "==> figures"
grep -o 'FIGURE .*' "$log" | sed 's/^FIGURE /  /' || true
echo "total: $(( $(date +%s) - t0 )) s"
if [ "$rc" -ne 0 ]; then
	echo "run.sh: fault harness failed (status $rc); journals in $artifacts" >&2
fi
exit "$rc"
