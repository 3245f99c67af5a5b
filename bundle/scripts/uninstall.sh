#!/usr/bin/env bash
# uninstall.sh: stops and disables the cluster's units, removes what the
# receipt lists (files, backups restored, /etc/hosts block, firewalld ports,
# masks) and the packages the bundle installed. PGDATA and etcd's data stay
# unless --purge --yes.
set -euo pipefail

# shellcheck source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

PURGE=0
YES=0
KEEP_PACKAGES=0
KEEP_MEMBERSHIP=0

usage() {
	cat <<EOF
usage: uninstall.sh [options]

  --purge --yes         also delete PGDATA and etcd's data directory
  --keep-packages       leave the packages the bundle installed
  --keep-membership     stop etcd without removing this member from etcd
                        (by default a member that leaves a running cluster
                        is removed, unless that would cost etcd its quorum)
$COMMON_USAGE
EOF
}

# own_flag takes this script's flags (parse_args in lib.sh).
own_flag() {
	case $1 in
	--purge) PURGE=1 ;;
	--yes) YES=1 ;;
	--keep-packages) KEEP_PACKAGES=1 ;;
	--keep-membership) KEEP_MEMBERSHIP=1 ;;
	*) return 0 ;;
	esac
	return 1
}

parse_args "$@"

stop_units() {
	step "stop and disable units"
	if [ "$NO_START" = 1 ]; then
		info "--no-start: not touching systemd"
		return 0
	fi
	local u units=(keepalived haproxy patroni etcd)
	# The backup jobs first: none may start while the services stop.
	stop_backup_timers
	# The backup host runs pgBackRest's TLS server alone.
	if backup_host; then units=(); fi
	# Reverse of the start order: pgBackRest's TLS server, clients of etcd;
	# this member leaves etcd once Patroni is stopped, before its etcd stops.
	for u in ${PGBR_TLS_UNIT:+"$PGBR_TLS_UNIT"} ${units[@]+"${units[@]}"}; do
		[ "$u" != etcd ] || leave_etcd
		if systemctl is-active --quiet "$u"; then
			run systemctl stop "$u"
			changed "stopped $u"
		fi
		if [ "$(systemctl is-enabled "$u" 2>/dev/null || true)" = enabled ]; then
			run systemctl disable "$u"
			changed "disabled $u"
		fi
	done
}

remove_files() {
	step "remove installed files"
	local e path sum cur b orig
	for e in ${R_FILES[@]+"${R_FILES[@]}"}; do
		path=${e%% *}
		sum=${e#* }
		sum=${sum%% *}
		[ -e "$ROOT$path" ] || continue
		cur=$(file_sha256 "$ROOT$path")
		if [ "$cur" != "$sum" ]; then
			run mv -f "$ROOT$path" "$ROOT$path.pgha-modified"
			warn "$path was modified on this host: kept as $path.pgha-modified"
		else
			run rm -f "$ROOT$path"
		fi
		changed "removed $path"
	done
	for b in ${R_BACKUPS[@]+"${R_BACKUPS[@]}"}; do
		path=${b%% *}
		orig=${b#* }
		if [ -e "$ROOT$orig" ]; then
			run mv -f "$ROOT$orig" "$ROOT$path"
			changed "restored $path from $orig"
		fi
	done
	# backup.sh and its lib.sh; the backup repository is never touched.
	remove_backup_scripts
}

remove_hosts_block() {
	step "remove the ${P[etc_hosts]} block"
	local f=$ROOT${P[etc_hosts]} block=$BUNDLE_DIR/files${P[hosts_block]} new
	if [ ! -r "$f" ] || [ ! -r "$block" ] || ! grep -qxF "$(head -n 1 "$block")" "$f"; then
		info "no block for $PGHA_CLUSTER"
		return 0
	fi
	new=$(hosts_without_block "$f" "$block")
	write_in_place "$f" "$new"
	changed "${P[etc_hosts]} block for $PGHA_CLUSTER removed"
}

unmask_units() {
	step "unmask units"
	[ ${#R_MASKED[@]} -gt 0 ] || { info "nothing masked by us"; return 0; }
	if [ "$NO_START" = 1 ]; then
		info "--no-start: not touching systemd"
		return 0
	fi
	local u
	for u in "${R_MASKED[@]}"; do
		run systemctl unmask "$u"
		changed "unmasked $u"
	done
}

close_firewall() {
	step "firewalld"
	if [ ${#R_PORTS[@]} -eq 0 ] && [ ${#R_RULES[@]} -eq 0 ]; then
		info "no ports opened by us"
		return 0
	fi
	if ! command -v firewall-cmd >/dev/null || ! firewall-cmd --state >/dev/null 2>&1; then
		info "firewalld is not running: what we opened stays in its permanent config"
		return 0
	fi
	local p e rules=()
	fw_apply perm remove-port ${R_PORTS[@]+"${R_PORTS[@]}"}
	fw_apply rt remove-port ${R_PORTS[@]+"${R_PORTS[@]}"}
	for p in ${R_PORTS[@]+"${R_PORTS[@]}"}; do changed "firewalld: closed $p"; done
	for e in ${R_RULES[@]+"${R_RULES[@]}"}; do rules+=("$(rich_rule "${e%% *}" "${e#* }")"); done
	fw_apply perm remove-rich-rule ${rules[@]+"${rules[@]}"}
	fw_apply rt remove-rich-rule ${rules[@]+"${rules[@]}"}
	for e in ${R_RULES[@]+"${R_RULES[@]}"}; do changed "firewalld: closed $(rule_what "$e")"; done
}

remove_packages() {
	step "remove packages installed by the bundle"
	if [ "$KEEP_PACKAGES" = 1 ]; then
		info "--keep-packages: leaving them"
		return 0
	fi
	local e names=()
	for e in ${R_PACKAGES[@]+"${R_PACKAGES[@]}"}; do
		if [ -n "$(installed_nvra "${e%% *}")" ]; then names+=("${e%% *}"); fi
	done
	[ ${#names[@]} -gt 0 ] || { info "none installed"; return 0; }
	run rpm -e ${ROOT:+--root "$ROOT"} "${names[@]}"
	changed "removed packages ${names[*]}"
}

purge_data() {
	step "data"
	local d
	if backup_host; then
		info "kept the repository $(backup_repo_path): the cluster's backups are never deleted here"
		return 0
	fi
	if [ -n "$LEAVE_ETCD_ID" ] && [ -d "$ROOT$PGHA_ETCD_DATA_DIR/member" ]; then
		# A member removed from etcd can never start on its data again: a
		# later install joins afresh.
		run rm -rf "$ROOT$PGHA_ETCD_DATA_DIR/member"
		changed "deleted etcd's data of the removed member ($PGHA_ETCD_DATA_DIR/member)"
	fi
	if [ "$PURGE" = 0 ]; then
		# A later install of this member may reuse what is kept here.
		if [ "$DRY_RUN" = 0 ]; then
			mkdir -p "${KEPT_DATA%/*}"
			for d in "$PGHA_PGDATA" "$PGHA_ETCD_DATA_DIR"; do
				if [ -e "$ROOT$d" ] && ! kept_by_uninstall "$d"; then
					echo "$PGHA_CLUSTER $PGHA_NODE $d" >>"$KEPT_DATA"
				fi
			done
		fi
		info "kept PGDATA $PGHA_PGDATA and etcd data $PGHA_ETCD_DATA_DIR (--purge --yes deletes them)"
		return 0
	fi
	run rm -f "$KEPT_DATA"
	for d in "$PGHA_PGDATA" "$PGHA_ETCD_DATA_DIR"; do
		[ -n "$d" ] || die "refusing to purge an empty path"
		if has "$d" ${SYSTEM_DIRS[@]+"${SYSTEM_DIRS[@]}"}; then die "refusing to purge $d, a system directory"; fi
		if [ -e "$ROOT$d" ]; then
			# ROOT is empty on a real node: no ":?" check on it.
			run rm -rf "$ROOT$d"
			changed "deleted $d"
		fi
	done
}

# remove_seed deletes what the cloud-init seed left (cloudinit/seed.go): the
# unpacked bundle, which holds patroni.yml and its passwords, its staging
# directory and the seed's install script. This script may run from there:
# bash has it open already, and lib.sh is sourced.
remove_seed() {
	step "remove the seed's copy of the bundle"
	local p found=0
	for p in "${P[seed_bundle_dir]}" "${P[seed_bundle_dir]}.new" "${P[seed_script]}"; do
		if [ -e "$ROOT$p" ] || [ -L "$ROOT$p" ]; then
			found=1
			run rm -rf "$ROOT$p"
			changed "removed $p"
		fi
	done
	[ "$found" = 1 ] || info "no seed copy here"
}

load_bundle
# The data directories the installed facts name win over the bundle's: they
# say what is there. A member installed by a format 1 bundle has node.env.
installed_data_dirs() {
	local f=$ROOT${P[node_facts]} key v _
	if [ -r "$f" ]; then
		while read -r key v _; do
			case $key in
			pgdata) PGHA_PGDATA=$v ;;
			etcd_data_dir) PGHA_ETCD_DATA_DIR=$v ;;
			esac
		done <"$f"
	elif [ -r "$ROOT${P[node_env]}" ]; then
		# shellcheck source=/dev/null
		read -r PGHA_PGDATA PGHA_ETCD_DATA_DIR < <(. "$ROOT${P[node_env]}" && echo "$PGHA_PGDATA $PGHA_ETCD_DATA_DIR")
	fi
}
installed_data_dirs
if backup_host && [ "$PURGE" = 1 ]; then
	die "--purge: uninstall.sh never deletes the backup host's repository $(backup_repo_path) (the cluster's backups); uninstall without --purge, then delete it yourself once no backup in it is needed"
fi
if [ "$PURGE" = 1 ] && [ "$YES" = 0 ]; then
	die "--purge deletes PGDATA ($PGHA_PGDATA) and etcd's data ($PGHA_ETCD_DATA_DIR): add --yes to confirm"
fi
check_root
start_log uninstall
step "uninstall $PGHA_CLUSTER $(if backup_host; then echo "backup host"; else echo member; fi) $PGHA_NODE"
[ "$DRY_RUN" = 1 ] && info "dry run: printing the plan, changing nothing"
if ! has_receipt; then
	# Already uninstalled (a second run changes nothing), or never
	# installed. --purge --yes still deletes the data an earlier uninstall
	# of this member kept, and only that.
	info "no receipt at $RECEIPT: nothing installed by pgha-bundle here"
	if [ "$PURGE" = 1 ]; then
		step "data kept by an earlier uninstall"
		for d in "$PGHA_PGDATA" "$PGHA_ETCD_DATA_DIR"; do
			kept_by_uninstall "$d" || continue
			[ -n "$d" ] || die "refusing to purge an empty path"
			if has "$d" ${SYSTEM_DIRS[@]+"${SYSTEM_DIRS[@]}"}; then die "refusing to purge $d, a system directory"; fi
			if [ -e "$ROOT$d" ]; then
				run rm -rf "$ROOT$d"
				changed "deleted $d"
			fi
		done
		if [ "$DRY_RUN" = 0 ] && [ -e "$KEPT_DATA" ]; then
			grep -vxF -e "$PGHA_CLUSTER $PGHA_NODE $PGHA_PGDATA" -e "$PGHA_CLUSTER $PGHA_NODE $PGHA_ETCD_DATA_DIR" "$KEPT_DATA" >"$KEPT_DATA.new" || true
			if [ -s "$KEPT_DATA.new" ]; then
				mv -f "$KEPT_DATA.new" "$KEPT_DATA"
			else
				rm -f "$KEPT_DATA" "$KEPT_DATA.new"
			fi
		fi
	fi
	step "done: $CHANGES change(s); nothing else to uninstall on $PGHA_NODE"
	exit 0
fi
load_receipt
check_receipt_owner

check_leave_etcd
stop_units
remove_files
if vip_on; then reset_nonlocal_bind; fi
remove_hosts_block
unmask_units
if [ "$NO_START" = 0 ]; then run systemctl daemon-reload; fi
close_firewall
remove_fcontexts
remove_packages
purge_data
step "remove the receipt"
RECEIPT_SHOWN=$(receipt_name)
run rm -f "$RECEIPT" "$RECEIPT_JSON"
changed "removed $RECEIPT_SHOWN"
remove_seed
info "accounts, SELinux booleans and port labels are left in place"

if [ "$DRY_RUN" = 1 ]; then
	step "dry run done: $CHANGES change(s) planned"
else
	step "done: $PGHA_NODE uninstalled"
fi
