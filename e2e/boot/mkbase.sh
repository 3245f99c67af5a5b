#!/bin/bash
# mkbase.sh builds the expensive half of the boot test's image: a Debian
# bookworm tree (debootstrap --variant=minbase, then the test's packages with
# apt-get --no-install-recommends) in which nothing is configured for the
# test yet. mkimage.sh copies it and does the cheap configuration, so editing
# the image's units or settings never downloads or unpacks a package again.
#
# The tree is cached in ${PGHA_E2E_CACHE:-/var/cache/pgha-bundle-e2e}/
# base-bookworm-<hash of this script>/root and reused. Prints the base
# directory on stdout; progress goes to stderr.
#
# Speed: dpkg runs with force-unsafe-io (no fsync per file; the tree is
# thrown away on failure anyway) and without documentation, man pages or
# translations; the packages' own services are never started in the chroot
# (policy-rc.d); PostgreSQL's main cluster is never created, so no initdb.
# Package signatures are checked as usual (debootstrap's keyring, apt).
#
# Usage (as root): e2e/boot/mkbase.sh
set -euo pipefail

log() { printf '==> %s\n' "$*" >&2; }
die() { printf 'mkbase: %s\n' "$*" >&2; exit 1; }

[ "$(id -u)" = 0 ] || die "must run as root (debootstrap, chroot)"

self=$(readlink -f "${BASH_SOURCE[0]}")
cache=${PGHA_E2E_CACHE:-/var/cache/pgha-bundle-e2e}
key=$(sha256sum "$self" | cut -c1-16)
out=$cache/base-bookworm-$key

if [ -f "$out/build-seconds" ] && [ -x "$out/root/usr/bin/etcd" ]; then
	log "base tree cached: $out"
	printf '%s\n' "$out"
	exit 0
fi

need_pkgs=()
command -v debootstrap >/dev/null || need_pkgs+=(debootstrap)
[ -e /usr/share/keyrings/debian-archive-keyring.gpg ] || need_pkgs+=(debian-archive-keyring)
if [ "${#need_pkgs[@]}" -gt 0 ]; then
	log "apt-get install ${need_pkgs[*]}"
	apt-get update -qq >&2
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need_pkgs[@]}" >&2
fi

# The mirror the host's apt uses (deb822 or one-line format), else Debian's.
mirror=${PGHA_E2E_MIRROR:-}
if [ -z "$mirror" ]; then
	mirror=$(sed -n 's/^URIs:[[:space:]]*\([^[:space:]]*\/debian\)\/\{0,1\}$/\1/p' /etc/apt/sources.list.d/*.sources 2>/dev/null | head -n1 || true)
fi
if [ -z "$mirror" ]; then
	mirror=$(sed -n 's/^deb[[:space:]]\{1,\}\(\[[^]]*\][[:space:]]\{1,\}\)\{0,1\}\([^[:space:]]*\/debian\)\/\{0,1\}[[:space:]].*/\2/p' /etc/apt/sources.list 2>/dev/null | head -n1 || true)
fi
mirror=${mirror:-http://deb.debian.org/debian}

mkdir -p "$cache"
exec 8>"$cache/.lock-base"
flock 8
# Another run may have finished the tree while this one waited.
if [ -f "$out/build-seconds" ] && [ -x "$out/root/usr/bin/etcd" ]; then
	log "base tree cached: $out"
	printf '%s\n' "$out"
	exit 0
fi

work=$(mktemp -d "$cache/.base.XXXXXX")
root=$work/root
cleanup() {
	for m in proc sys dev/pts dev; do
		mountpoint -q "$root/$m" 2>/dev/null && umount -l "$root/$m"
	done
	rm -rf "$work"
}
trap cleanup EXIT
start=$(date +%s)

log "debootstrap --variant=minbase bookworm from $mirror"
debootstrap --variant=minbase --components=main bookworm "$root" "$mirror" >"$work/debootstrap.log" 2>&1 ||
	{ tail -n 40 "$work/debootstrap.log" >&2; die "debootstrap failed (log above)"; }
log "debootstrap done after $(( $(date +%s) - start )) s"

cat >"$root/etc/dpkg/dpkg.cfg.d/90pgha-e2e" <<'DPKG'
# Written by mkbase.sh; removed again before the tree is stored.
force-unsafe-io
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/man/*
path-exclude /usr/share/info/*
path-exclude /usr/share/locale/*
path-include /usr/share/locale/locale.alias
DPKG
cat >"$root/usr/sbin/policy-rc.d" <<'POLICY'
#!/bin/sh
# Written by mkbase.sh: no service starts inside the build chroot.
exit 101
POLICY
chmod 0755 "$root/usr/sbin/policy-rc.d"
mkdir -p "$root/etc/postgresql-common"
# Patroni needs an empty PGDATA: postgresql-common reads this before its
# postinst would create the main cluster (the package's conffile is kept
# as ours by --force-confold).
cat >"$root/etc/postgresql-common/createcluster.conf" <<'PGCC'
create_main_cluster = false
PGCC

mount -t proc proc "$root/proc"
mount -t sysfs sysfs "$root/sys"
mount --bind /dev "$root/dev"
mount --bind /dev/pts "$root/dev/pts"

chroot_apt() {
	chroot "$root" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin LANG=C.UTF-8 \
		DEBIAN_FRONTEND=noninteractive apt-get -y -q \
		-o Dpkg::Options::=--force-confold -o Dpkg::Options::=--force-confdef \
		-o APT::Install-Recommends=false -o Acquire::Retries=3 "$@"
}

packages=(
	linux-image-amd64 systemd systemd-sysv udev kmod
	cloud-init python3-cffi-backend
	etcd-server etcd-client patroni postgresql-15 postgresql-client-15 haproxy pgbackrest
	iproute2 util-linux procps curl ca-certificates rpm locales
)
log "apt-get install ${#packages[@]} packages and their dependencies"
chroot_apt update >"$work/apt.log" 2>&1 || { tail -n 40 "$work/apt.log" >&2; die "apt-get update failed"; }
chroot_apt install "${packages[@]}" >>"$work/apt.log" 2>&1 ||
	{ tail -n 40 "$work/apt.log" >&2; die "apt-get install failed (log above)"; }
chroot_apt clean >/dev/null 2>&1

for m in dev/pts dev sys proc; do
	umount "$root/$m"
done
rm -f "$root/etc/dpkg/dpkg.cfg.d/90pgha-e2e" "$root/usr/sbin/policy-rc.d"
rm -rf "$root/var/lib/apt/lists/"*
[ -x "$root/usr/bin/etcd" ] || die "etcd is missing from the tree"
# The backup scenario (e2e/faults/backup_test.go) runs Debian's pgBackRest.
[ -x "$root/usr/bin/pgbackrest" ] || die "pgbackrest is missing from the tree"

echo "$(( $(date +%s) - start ))" >"$work/build-seconds"
mkdir -p "$out.tmp"
mv "$root" "$work/build-seconds" "$out.tmp/"
rm -rf "$out"
mv "$out.tmp" "$out"
log "base tree built in $(cat "$out/build-seconds") s: $out"
printf '%s\n' "$out"
