#!/bin/bash
# mkimage.sh builds the Debian bookworm root image the boot test runs in:
# a raw ext4 file system (mkfs.ext4 -d, no partition table, no bootloader)
# plus the kernel and initrd copied out of its /boot, so qemu boots it with
# -kernel/-initrd root=/dev/vda.
#
# The image carries Debian's etcd, Patroni, PostgreSQL 15 and HAProxy (no EL
# packages can be had here) with their own services disabled and no
# PostgreSQL cluster created, cloud-init restricted to the NoCloud datasource,
# systemd-networkd enabled (cloud-init's renderer here: it applies the seed's
# network-config through it), and two small units of the test's own:
#   pgha-e2e-net.service       puts the address given as pgha_e2e_addr= on
#                              the kernel command line on a dummy interface
#                              (for a VM without a NIC; the boot test now
#                              gives its VM a NIC and the seed an address)
#   pgha-e2e-observe.service   waits for cloud-init, runs check.sh from the
#                              disk labelled pghacheck, prints its markers to
#                              the serial console and powers off
#
# The packages come from mkbase.sh's tree (debootstrap and apt-get, the slow
# part, cached on its own); this script copies that tree and configures it,
# which takes a minute or two. The result is cached in
# ${PGHA_E2E_CACHE:-/var/cache/pgha-bundle-e2e}/bookworm-<hash of both
# scripts>/ and reused: a change to this script rebuilds only the cheap part.
# Prints the image directory on stdout; progress goes to stderr.
#
# Usage (as root): e2e/boot/mkimage.sh [--force]
set -euo pipefail

log() { printf '==> %s\n' "$*" >&2; }
die() { printf 'mkimage: %s\n' "$*" >&2; exit 1; }

[ "$(id -u)" = 0 ] || die "must run as root (debootstrap, chroot)"

force=0
[ "${1:-}" = "--force" ] && force=1

self=$(readlink -f "${BASH_SOURCE[0]}")
here=$(dirname "$self")
cache=${PGHA_E2E_CACHE:-/var/cache/pgha-bundle-e2e}
key=$(cat "$self" "$here/mkbase.sh" | sha256sum | cut -c1-16)
out=$cache/bookworm-$key

if [ "$force" = 0 ] && [ -s "$out/root.img" ] && [ -s "$out/vmlinuz" ] && [ -s "$out/initrd.img" ]; then
	log "image cached: $out"
	printf '%s\n' "$out"
	exit 0
fi

command -v mkfs.ext4 >/dev/null || {
	log "apt-get install e2fsprogs"
	apt-get update -qq >&2
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends e2fsprogs >&2
}

start=$(date +%s)
base=$("$here/mkbase.sh")
config_start=$(date +%s)

mkdir -p "$cache"
exec 9>"$cache/.lock"
flock 9

work=$(mktemp -d "$cache/.build.XXXXXX")
cleanup() {
	# Never leave a half-built image behind, nor mounts inside the chroot.
	for m in proc sys dev/pts dev; do
		mountpoint -q "$work/root/$m" 2>/dev/null && umount -l "$work/root/$m"
	done
	rm -rf "$work"
}
trap cleanup EXIT

root=$work/root
log "copy the base tree $base"
cp -a --reflink=auto "$base/root" "$root"

chroot_run() { chroot "$root" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin LANG=C.UTF-8 "$@"; }

log "configure the image"
# Patroni needs an empty PGDATA: mkbase.sh told postgresql-common never to
# create the main cluster; make sure of it.
sed -i 's/^#\{0,1\}[[:space:]]*create_main_cluster.*/create_main_cluster = false/' "$root/etc/postgresql-common/createcluster.conf"
grep -q '^create_main_cluster = false' "$root/etc/postgresql-common/createcluster.conf" ||
	echo 'create_main_cluster = false' >>"$root/etc/postgresql-common/createcluster.conf"
if [ -d "$root/etc/postgresql/15/main" ]; then
	chroot_run pg_dropcluster 15 main
fi
[ -z "$(ls -A "$root/var/lib/postgresql/15" 2>/dev/null)" ] || die "a PostgreSQL cluster is still in the image"
# What the EL server package creates and install.sh --no-packages relies on
# (as in e2e/cluster): PGDG's postgresql15-server owns /var/lib/pgsql and
# /var/lib/pgsql/15 as postgres, mode 0700. Debian's packages put nothing
# there; Patroni writes its pgpass beside PGDATA, in /var/lib/pgsql/15.
chroot_run install -d -m 0700 -o postgres -g postgres /var/lib/pgsql /var/lib/pgsql/15

# Only the units install.sh writes may run etcd, Patroni and HAProxy; the
# packages' own services stay disabled (not masked: a mask is a symlink to
# /dev/null in /etc/systemd/system, exactly where our units are written).
for unit in etcd.service patroni.service patroni@.service haproxy.service postgresql.service; do
	chroot_run systemctl disable "$unit" >/dev/null 2>&1 || true
done
chroot_run systemctl mask serial-getty@ttyS0.service >/dev/null
chroot_run systemctl mask getty@tty1.service >/dev/null

# cloud-init's locale module sets the distribution default, en_US.UTF-8,
# and fails (status: error) when that locale was never generated.
sed -i 's/^# *\(en_US.UTF-8 UTF-8\)/\1/' "$root/etc/locale.gen"
chroot_run locale-gen >/dev/null

echo pgha-e2e-template >"$root/etc/hostname"
cat >"$root/etc/hosts" <<'HOSTS'
127.0.0.1	localhost
::1	localhost ip6-localhost ip6-loopback
HOSTS
cat >"$root/etc/fstab" <<'FSTAB'
/dev/vda	/	ext4	defaults,errors=remount-ro	0	1
FSTAB
# No root password: nobody logs in, the observer reports on the console.
chroot_run passwd -l root >/dev/null

cat >"$root/etc/cloud/cloud.cfg.d/90_pgha_e2e.cfg" <<'CFG'
# The boot test's seed is a NoCloud ISO on /dev/sr0; nothing else is probed.
datasource_list: [ NoCloud, None ]
CFG

cat >"$root/usr/local/sbin/pgha-e2e-net" <<'NET'
#!/bin/sh
# Puts the address from pgha_e2e_addr=ADDR/PREFIX (kernel command line) on a
# dummy interface: the VM has no NIC, so no packet ever leaves it.
set -eu
addr=$(tr ' ' '\n' </proc/cmdline | sed -n 's/^pgha_e2e_addr=//p' | tail -n1)
[ -n "$addr" ] || exit 0
ip link add dummy0 type dummy 2>/dev/null || true
ip addr replace "$addr" dev dummy0
ip link set dummy0 up
NET
chmod 0755 "$root/usr/local/sbin/pgha-e2e-net"
cat >"$root/etc/systemd/system/pgha-e2e-net.service" <<'UNIT'
[Unit]
Description=pgha-bundle e2e: node address on a dummy interface
DefaultDependencies=no
After=systemd-modules-load.service
Before=network-pre.target cloud-init-local.service
Wants=network-pre.target

[Service]
Type=oneshot
RemainAfterExit=yes
ExecStart=/usr/local/sbin/pgha-e2e-net

[Install]
WantedBy=sysinit.target
UNIT

cat >"$root/usr/local/sbin/pgha-e2e-observe" <<'OBS'
#!/bin/bash
# Waits for cloud-init to finish, runs check.sh from the disk labelled
# pghacheck (the test's checks, kept out of the image so they can change
# without a rebuild) and powers the VM off. Every line goes to the serial
# console; the host reads the "PGHA-E2E:" markers.
exec >/dev/ttyS0 2>&1
echo "PGHA-E2E: OBSERVER uptime=$(cut -d' ' -f1 /proc/uptime)"
timeout 3000 cloud-init status --wait >/dev/null 2>&1
echo "PGHA-E2E: CLOUD-INIT-DONE uptime=$(cut -d' ' -f1 /proc/uptime) status=$(cloud-init status 2>/dev/null | sed -n 's/^status: //p')"
mkdir -p /run/pghacheck
if mount -o ro LABEL=pghacheck /run/pghacheck; then
	timeout 1800 bash /run/pghacheck/check.sh
	echo "PGHA-E2E: CHECKS-EXIT rc=$?"
else
	echo "PGHA-E2E: FAIL check-disk not found"
fi
echo "PGHA-E2E: END"
sync
systemctl poweroff
OBS
chmod 0755 "$root/usr/local/sbin/pgha-e2e-observe"
# DefaultDependencies=no: multi-user.target would otherwise be ordered after
# the observer, and cloud-final.service is ordered after multi-user.target:
# an ordering cycle systemd breaks by dropping the observer.
cat >"$root/etc/systemd/system/pgha-e2e-observe.service" <<'UNIT'
[Unit]
Description=pgha-bundle e2e: report checks on the serial console, then power off
DefaultDependencies=no
After=sysinit.target basic.target cloud-final.service
Wants=cloud-final.service
Conflicts=shutdown.target
Before=shutdown.target

[Service]
Type=simple
ExecStart=/usr/local/sbin/pgha-e2e-observe

[Install]
WantedBy=multi-user.target
UNIT
chroot_run systemctl enable pgha-e2e-net.service pgha-e2e-observe.service >/dev/null 2>&1
# cloud-init on Debian without ifupdown, netplan or NetworkManager renders
# the seed's network-config for systemd-networkd, which must then run.
chroot_run systemctl enable systemd-networkd.service systemd-networkd-wait-online.service >/dev/null 2>&1
[ -L "$root/etc/systemd/system/multi-user.target.wants/systemd-networkd.service" ] || die "systemd-networkd is not enabled"

# Apt caches and per-machine identity do not belong in a shared image.
chroot_run apt-get clean
rm -rf "$root/var/lib/apt/lists/"* "$root/var/log/"*.log
: >"$root/etc/machine-id"
rm -f "$root/var/lib/dbus/machine-id"

# shellcheck disable=SC2016 # dpkg-query's format, not the shell's
chroot_run dpkg-query -W -f '${Package} ${Version}\n' >"$work/packages.txt"

log "copy kernel and initrd"
kernel=$(find "$root/boot" -maxdepth 1 -name 'vmlinuz-*' | sort -V | tail -n1)
initrd=$(find "$root/boot" -maxdepth 1 -name 'initrd.img-*' | sort -V | tail -n1)
if [ ! -f "$kernel" ] || [ ! -f "$initrd" ]; then
	die "no kernel or initrd in the image's /boot"
fi
cp "$kernel" "$work/vmlinuz"
cp "$initrd" "$work/initrd.img"

log "mkfs.ext4 -d"
mkfs.ext4 -q -F -L pgharoot -d "$root" "$work/root.img" 4G >&2

mkdir -p "$work/img"
mv "$work/root.img" "$work/vmlinuz" "$work/initrd.img" "$work/packages.txt" "$work/img/"
# build-seconds: this run, base tree included when it was not cached;
# base-seconds: what building the base tree took; config-seconds: the rest.
now=$(date +%s)
echo "$((now - start))" >"$work/img/build-seconds"
echo "$((now - config_start))" >"$work/img/config-seconds"
cp "$base/build-seconds" "$work/img/base-seconds"
rm -rf "$out"
mv "$work/img" "$out"
log "image built in $(cat "$out/build-seconds") s: $out"
printf '%s\n' "$out"
