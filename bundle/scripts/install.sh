#!/usr/bin/env bash
# install.sh: installs this bundle's cluster member on this host, offline.
# Idempotent: a second run changes nothing and says so.
set -euo pipefail

# shellcheck source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

usage() {
	cat <<EOF
usage: install.sh [options]

Installs this bundle's member of the cluster: preflight, verify the bundle,
packages, accounts, directories, files, host setup, then etcd, Patroni and
HAProxy, each gated on its health, and a receipt of what it did. With
backups: the stanza on the leader, pgbackrest check, the backup timers.

  --no-packages         skip the package step (the image carries the packages)
  --packages-media PATH the cluster's shared packages media, for a bundle built
                        with --packages-media shared: its tarball, or a
                        directory where it is mounted or extracted (default:
                        the device with the media's label, mounted read-only)
$COMMON_USAGE
EOF
}

# own_flag takes this script's flags (parse_args in lib.sh).
own_flag() {
	case $1 in
	--no-packages) NO_PACKAGES=1 ;;
	--packages-media) PACKAGES_MEDIA=${2:?--packages-media needs a tarball or a directory}; return 2 ;;
	*) return 0 ;;
	esac
	return 1
}

# finish_run says what the run changed.
finish_run() {
	if [ "$CHANGES" = 0 ]; then
		step "done: no changes, $PGHA_NODE already matches bundle $PGHA_BUNDLE_ID"
	elif [ "$DRY_RUN" = 1 ]; then
		step "dry run done: $CHANGES change(s) planned"
	else
		step "done: $CHANGES change(s); $PGHA_NODE runs bundle $PGHA_BUNDLE_ID"
	fi
}

parse_args "$@"
# The packages media mounted or extracted for this run goes with it.
trap release_media EXIT

load_bundle
check_root
start_log install
step "install bundle $PGHA_BUNDLE_ID: $PGHA_CLUSTER $(if backup_host; then echo "backup host"; else echo member; fi) $PGHA_NODE ($PGHA_ADDRESS)"
[ "$DRY_RUN" = 1 ] && info "dry run: printing the plan, changing nothing"

check_systemd
check_os
check_address
load_receipt
if backup_host; then
	# The backup host: pgBackRest, its repository and TLS server, the
	# backup timers; the members' leader makes the stanza over TLS.
	if has_receipt; then
		check_receipt_owner
		if [ "$R_BUNDLE_ID" != "$PGHA_BUNDLE_ID" ] && ! same_content_as_receipt; then
			die "this backup host runs bundle $R_BUNDLE_ID; apply this one ($PGHA_BUNDLE_ID) with upgrade.sh"
		fi
	fi
	check_ports
	verify_bundle
	install_packages
	check_binaries
	ensure_accounts
	ensure_host_repo
	install_files
	merge_hosts
	open_firewall
	write_receipt
	start_host_services
	finish_run
	exit 0
fi
if has_receipt; then
	check_receipt_owner
	# A live member moves to another bundle through upgrade.sh only (health
	# check, switchover, rolling restart), never by a re-install.
	installed_id=$R_BUNDLE_ID
	if [ "$installed_id" != "$PGHA_BUNDLE_ID" ]; then
		if ! same_content_as_receipt; then
			die "this node runs bundle $installed_id; apply this one ($PGHA_BUNDLE_ID) with upgrade.sh"
		fi
		info "bundle $PGHA_BUNDLE_ID carries the same files and packages as the installed $installed_id"
		RELABEL_ONLY=1
	fi
fi
check_ports
check_pgdata
check_etcd_data
check_backup_repo
verify_bundle

install_packages
recheck_data
check_binaries
ensure_accounts
ensure_dirs
install_files
merge_hosts
mask_distro_postgresql
open_firewall
selinux_setup
setup_watchdog
setup_vip_sysctl
write_receipt
start_services
backup_gate

finish_run
