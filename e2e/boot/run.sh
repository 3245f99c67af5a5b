#!/bin/bash
# run.sh is the boot test's entry point (make e2e-boot): as root, it installs
# what it needs from Debian's archive, builds or reuses the bookworm image
# (mkimage.sh, cached outside the clone), then boots it three times under
# qemu with generated seed ISOs (go test -tags e2e ./e2e/boot/) and prints
# the figures: image build time, accelerator, boot-to-healthy time.
# Exits non-zero on any failed assertion.
#
# Environment:
#   PGHA_E2E_CACHE         image cache (default /var/cache/pgha-bundle-e2e)
#   PGHA_E2E_ARTIFACTS     where serial logs, seeds and disks are kept
#                          (default: a fresh directory under /tmp)
#   PGHA_E2E_ACCEL         kvm or tcg: skip the KVM probe
#   PGHA_E2E_BOOT_TIMEOUT  per-boot limit (Go duration; default 20m on TCG, 8m on KVM)
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)

[ "$(id -u)" = 0 ] || { echo "run.sh: must run as root (debootstrap, mkfs, chroot)" >&2; exit 2; }

missing=()
command -v qemu-system-x86_64 >/dev/null || missing+=(qemu-system-x86)
command -v qemu-img >/dev/null || missing+=(qemu-utils)
command -v mkfs.ext4 >/dev/null || missing+=(e2fsprogs)
command -v debootstrap >/dev/null || missing+=(debootstrap)
if [ "${#missing[@]}" -gt 0 ]; then
	echo "==> apt-get install ${missing[*]}"
	apt-get update -qq
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
command -v go >/dev/null || { echo "run.sh: go is not on PATH" >&2; exit 2; }

artifacts=${PGHA_E2E_ARTIFACTS:-}
if [ -z "$artifacts" ]; then
	artifacts=$(mktemp -d /tmp/pgha-e2e-boot.XXXXXX)
else
	# A fresh directory: nothing of an earlier run mixes with this one's.
	rm -rf "$artifacts"
	mkdir -p "$artifacts"
fi
export PGHA_E2E_ARTIFACTS=$artifacts

# Last-resort cleanup: the test kills its own qemu processes (process group,
# parent-death signal), but a qemu whose pid file is still here on exit is
# ended by its pid.
test_pid=
# shellcheck disable=SC2317 # called by the EXIT trap
cleanup() {
	if [ -n "$test_pid" ] && kill -0 "$test_pid" 2>/dev/null; then
		kill -TERM "-$test_pid" 2>/dev/null || true
	fi
	local f pid
	for f in "$artifacts"/*.pid; do
		[ -f "$f" ] || continue
		pid=$(cat "$f" 2>/dev/null || true)
		if [ -n "$pid" ] && [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = qemu-system-x86 ]; then
			kill -KILL "$pid" 2>/dev/null || true
		fi
	done
}
trap cleanup EXIT
trap 'exit 130' INT TERM

t0=$(date +%s)
image=$("$here/mkimage.sh")
t1=$(date +%s)
cold="base tree $(cat "$image/base-seconds") s + configuration $(cat "$image/config-seconds") s"
if [ "$((t1 - t0))" -gt 5 ]; then
	image_figure="built in $((t1 - t0)) s this run ($cold)"
else
	image_figure="cached (cold build: $cold)"
fi
echo "==> image $image: $image_figure"

echo "==> boot test (artifacts in $artifacts)"
log=$artifacts/go-test.log
mkdir -p "$artifacts"
set +e
# In its own session, so the trap can end the whole test process group.
# shellcheck disable=SC2016 # expanded by the inner bash
PGHA_E2E_IMAGE=$image setsid bash -c '
	cd "$1" || exit 2
	go test -tags e2e -count=1 -v -timeout "$2" -run "^TestBootSeed$" ./e2e/boot/ 2>&1 | tee "$3"
	exit "${PIPESTATUS[0]}"
' run-e2e "$root" "${PGHA_E2E_GO_TIMEOUT:-85m}" "$log" &
test_pid=$!
wait "$test_pid"
rc=$?
set -e

echo "==> figures"
echo "image: $image_figure"
grep -o 'FIGURE .*' "$log" | sed 's/^FIGURE /  /' || true
echo "total: $(( $(date +%s) - t0 )) s"
if [ "$rc" -ne 0 ]; then
	echo "run.sh: boot test failed (status $rc); serial logs in $artifacts" >&2
fi
exit "$rc"
