#!/usr/bin/env bash
# upgrade.sh: applies this (newer) bundle of the same cluster to a member
# installed by install.sh. Config-only changes are applied and reloaded;
# package changes roll: a replica stops Patroni, upgrades, restarts and waits
# until it streams again; the leader first switches over to a healthy
# replica. Refuses to start on an unhealthy cluster, and stops at the first
# failure saying in which state it left the node.
set -euo pipefail

# shellcheck source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

usage() {
	cat <<EOF
usage: upgrade.sh [options]

  --no-packages         ignore the bundle's packages
  --packages-media PATH the cluster's shared packages media, for a bundle built
                        with --packages-media shared: its tarball, or a
                        directory where it is mounted or extracted (default:
                        the device with the media's label, mounted read-only)
  --restart-pending     when the applied cluster configuration leaves this
                        member's PostgreSQL pending a restart, restart it
                        (patronictl restart) and wait for its health; without
                        this flag the final message says a restart is pending
  --timeout-pending S   how long to watch for a pending restart after
                        patronictl edit-config (Patroni applies it on its next
                        loop; default 30, PGHA_TIMEOUT_PENDING)
$COMMON_USAGE
EOF
}

RESTART_PENDING=0
TIMEOUT_PENDING=${PGHA_TIMEOUT_PENDING:-30}
PENDING_RESTART=0

# own_flag takes this script's flags (parse_args in lib.sh).
own_flag() {
	case $1 in
	--no-packages) NO_PACKAGES=1 ;;
	--packages-media) PACKAGES_MEDIA=${2:?--packages-media needs a tarball or a directory}; return 2 ;;
	--restart-pending) RESTART_PENDING=1 ;;
	--timeout-pending)
		TIMEOUT_PENDING=${2:?}
		return 2
		;;
	*) return 0 ;;
	esac
	return 1
}

parse_args "$@"

STATE=""
STATE_FILE=""

# set_state records where the upgrade is, and how to recover from there.
set_state() {
	STATE=$1
	info "state: $STATE"
	[ "$DRY_RUN" = 1 ] || printf '%s\n' "$STATE" >"$STATE_FILE"
}

on_exit() {
	local rc=$?
	release_media
	if [ "$rc" != 0 ] && [ -n "$STATE" ]; then
		printf 'error: upgrade stopped; node %s is in this state: %s\n' "$PGHA_NODE" "$STATE" >&2
	fi
}

# receipt_lists_file succeeds when the receipt names a node path.
receipt_lists_file() {
	local e
	for e in ${R_FILES[@]+"${R_FILES[@]}"}; do
		[ "${e%% *}" = "$1" ] && return 0
	done
	return 1
}

# in_files succeeds when the bundle carries a node path.
in_files() {
	local e
	for e in ${FILES[@]+"${FILES[@]}"}; do
		[ "${e##* }" = "$1" ] && return 0
	done
	return 1
}

# plan_files lists payload files that differ from the receipt, and stale
# files the receipt lists that the new bundle no longer carries.
plan_files() {
	local mode owner group sum path e
	for e in ${FILES[@]+"${FILES[@]}"}; do
		read -r mode owner group sum path <<<"$e"
		has "$path $sum $mode $owner $group" ${R_FILES[@]+"${R_FILES[@]}"} || echo "update $path"
	done
	for e in ${R_FILES[@]+"${R_FILES[@]}"}; do
		in_files "${e%% *}" || echo "remove ${e%% *}"
	done
}

remove_stale_files() {
	local e path sum cur out=()
	for e in ${R_FILES[@]+"${R_FILES[@]}"}; do
		path=${e%% *}
		if in_files "$path"; then
			out+=("$e")
			continue
		fi
		sum=${e#* }
		sum=${sum%% *}
		if [ -e "$ROOT$path" ]; then
			cur=$(file_sha256 "$ROOT$path")
			[ "$cur" = "$sum" ] || run cp -p "$ROOT$path" "$ROOT$path.pgha-modified"
			run rm -f "$ROOT$path"
		fi
		mark_service "$path"
		case $path in "${P[unit_dir]}"/*) DAEMON_RELOAD=1 ;; esac
		changed "removed $path (no longer in the bundle)"
	done
	R_FILES=(${out[@]+"${out[@]}"})
}

# switchover_candidate prints a healthy replica to hand the leadership to.
# In synchronous mode Patroni accepts only the sync standby (412 "candidate
# name does not match with sync_standby"): when there is one, it is the only
# candidate. Members tagged nofailover never are.
switchover_candidate() {
	local members name role state sync="" cs="" c=""
	members=$(patroni_members) || return 0
	while read -r name role state _; do
		[ "$name" != "$PGHA_NODE" ] || continue
		[ "$role" != sync_standby ] || sync=1
		case $state in streaming | running) ;; *) continue ;; esac
		case $role in sync_standby | replica) ;; *) continue ;; esac
		promotable "$name" || continue
		if [ "$role" = sync_standby ]; then
			[ -n "$cs" ] || cs=$name
		else
			[ -n "$c" ] || c=$name
		fi
	done <<<"$members"
	if [ -n "$sync" ]; then printf '%s\n' "$cs"; else printf '%s\n' "$c"; fi
}

# promotable NAME: the member is in the facts and its Patroni, asked on its
# own REST API, is not tagged nofailover: GET /health?tag_nofailover=true
# is 200 only when PostgreSQL runs there and the tag is true (Patroni drops
# false tags). A member that cannot be asked, or a Patroni that ignores the
# tag filter, is never a candidate: the upgrade stops before any change.
promotable() {
	local m name addr
	for m in ${MEMBERS[@]+"${MEMBERS[@]}"}; do
		read -r name addr _ <<<"$m"
		[ "$name" = "$1" ] || continue
		[ "$(http_code "$(api_url "$addr")/health?tag_nofailover=true")" = 503 ]
		return
	done
	return 1
}

# switched_over: this member no longer leads and the cluster is healthy.
# When the bundle rotates database passwords, this member, demoted with the
# old ones the leader no longer takes, cannot stream until its new files
# are in: another member leading is enough then.
switched_over() {
	not_leader || return 1
	if [ -n "$ROTATED_ROLES" ]; then
		local leader
		read -r leader _ < <(leader_member) && [ "$leader" != "$PGHA_NODE" ]
	else
		cluster_healthy
	fi
}

switch_over_if_leader() {
	step "leadership"
	local code cand
	code=$(patroni_code /leader)
	case $code in
	200) ;;
	503)
		info "$PGHA_NODE does not hold the leader key (GET /leader 503): no switchover needed"
		return 0
		;;
	*) die "Patroni on $PGHA_NODE does not answer GET /leader ($code): cannot tell whether it leads; nothing was changed" ;;
	esac
	cand=$(switchover_candidate)
	[ -n "$cand" ] || die "$PGHA_NODE is the leader and no healthy replica can take over; nothing was changed"
	set_state "switching the leadership from $PGHA_NODE to $cand; packages not yet upgraded (check with patronictl list)"
	# --master before Patroni 3.0, --leader from 3.0 (the facts, from the package's version)
	run "$PGHA_PATRONICTL_BIN" -c "$PATRONI_CONF" switchover "${PGHA_PATRONICTL_LEADER_FLAG:---leader}" "$PGHA_NODE" \
		--candidate "$cand" --force "$PGHA_CLUSTER"
	wait_for "$cand leads, $PGHA_NODE is a healthy replica" "$TIMEOUT_SWITCHOVER" switched_over
}

apply_dcs() {
	[ "$DCS_CHANGED" = 1 ] || return 0
	step "apply bootstrap.dcs changes with patronictl edit-config"
	if [ "$NO_START" = 1 ]; then
		info "--no-start: not changing the cluster configuration"
		return 0
	fi
	# --replace, not --apply: --apply merges into what the cluster has, so a
	# parameter removed from the spec would stay set. dcs.yml is the whole
	# dynamic configuration the bundle wants.
	run "$PGHA_PATRONICTL_BIN" -c "$PATRONI_CONF" edit-config --replace "$ROOT${P[dcs_config]}" --force "$PGHA_CLUSTER"
	changed "cluster configuration (dcs.yml) applied"
}

# pg_listen prints the postgresql.listen line of a patroni.yml: the
# addresses and port PostgreSQL binds, which it reads only at start.
pg_listen() {
	[ -r "$1" ] || return 0
	awk '/^[^ #]/ { in_pg = ($0 ~ /^postgresql:/) } in_pg && /^  listen:/ { print; exit }' "$1"
}

# pending_restart: Patroni reports this member's PostgreSQL waiting for a
# restart to apply parameters (patronictl list's Pending restart column).
pending_restart() {
	local pending
	read -r _ _ pending < <(member_row) || return 1
	[ "$pending" = 1 ]
}

no_pending_restart() { patroni_healthy && ! pending_restart; }

# check_pending_restart watches, for up to TIMEOUT_PENDING seconds (Patroni
# applies a new configuration on its next loop), whether the parameters just
# applied need a restart of this member. It restarts only with
# --restart-pending; otherwise the final message says so.
check_pending_restart() {
	step "parameters pending a restart"
	if [ "$DRY_RUN" = 1 ]; then
		info "would watch patronictl list for a pending restart for up to ${TIMEOUT_PENDING}s"
		return 0
	fi
	local deadline=$((SECONDS + TIMEOUT_PENDING))
	until pending_restart; do
		if [ "$SECONDS" -ge "$deadline" ]; then
			info "no restart pending on $PGHA_NODE"
			return 0
		fi
		sleep "$POLL_INTERVAL"
	done
	if [ "$RESTART_PENDING" = 0 ]; then
		PENDING_RESTART=1
		warn "PostgreSQL on $PGHA_NODE has parameters pending a restart (--restart-pending restarts it)"
		return 0
	fi
	restart_for_pending
}

# restart_for_pending restarts this member's PostgreSQL through Patroni and
# waits until it is healthy with no restart pending.
restart_for_pending() {
	set_state "PostgreSQL restarting on $PGHA_NODE for pending parameters (recover: patronictl -c ${P[patroni_config]} restart $PGHA_CLUSTER $PGHA_NODE)"
	local out tries=1
	# Patroni opens its REST API's listener anew when it takes a new
	# certificate, and a request meeting that moment is reset before it is
	# read: only then is the restart asked again.
	until out=$(run "$PGHA_PATRONICTL_BIN" -c "$PATRONI_CONF" restart --force "$PGHA_CLUSTER" "$PGHA_NODE" 2>&1); do
		if [ "$tries" -ge 5 ] || ! grep -qE 'Connection (reset by peer|refused|aborted)' <<<"$out"; then
			printf '%s\n' "$out" >&2
			die "patronictl restart of $PGHA_NODE failed (output above)"
		fi
		info "Patroni's REST API on $PGHA_NODE reset the request (a new listener?): asking again ($tries)"
		tries=$((tries + 1))
		sleep "$POLL_INTERVAL"
	done
	printf '%s\n' "$out"
	changed "restarted PostgreSQL on $PGHA_NODE for pending parameters"
	wait_for "Patroni on $PGHA_NODE healthy, no restart pending" "$TIMEOUT_PATRONI" no_pending_restart
}

# restart_etcd_if_changed [STATE]: STATE is the state to record meanwhile
# (default: etcd restarting, Patroni running).
restart_etcd_if_changed() {
	[ -n "${SERVICE_CHANGED[etcd]:-}" ] || return 0
	step "restart etcd"
	set_state "${1:-restarting etcd on $PGHA_NODE (recover: systemctl start etcd)}"
	# Type=notify: a blocking restart waits for a quorum; the health gate
	# below bounds the wait instead.
	run systemctl restart --no-block etcd
	changed "restarted etcd"
	wait_for "etcd member $PGHA_NODE healthy" "$TIMEOUT_ETCD" etcd_healthy
}

reload_haproxy_if_changed() {
	[ -n "${SERVICE_CHANGED[haproxy]:-}" ] || return 0
	step "reload HAProxy"
	haproxy_config_ok
	set_state "reloading HAProxy on $PGHA_NODE (recover: systemctl restart haproxy)"
	if systemctl is-active --quiet haproxy; then
		run systemctl reload haproxy
		changed "reloaded haproxy"
	else
		run systemctl start haproxy
		changed "started haproxy"
	fi
	wait_for "HAProxy checked every server" "$TIMEOUT_HAPROXY" haproxy_checked
}

# ---------------------------------------------------------------- rotated passwords

# installed_facts KEY prints the fields of each KEY line of the installed
# facts (the bundle this member runs), nothing when it has none.
installed_facts() {
	local f=$ROOT${P[node_facts]} key rest
	[ -r "$f" ] || return 0
	while read -r key rest; do
		if [ "$key" = "$1" ]; then printf '%s\n' "$rest"; fi
	done <"$f"
}

# rotated_roles prints "kind user hash" for each role of the bundle whose
# password hash the installed facts do not have (every role on a member
# installed before the facts carried them: giving the leader a hash it has
# changes nothing).
rotated_roles() {
	local old e
	old=$(installed_facts db_role)
	for e in ${DB_ROLES[@]+"${DB_ROLES[@]}"}; do
		grep -qxF -e "$e" <<<"$old" || printf '%s\n' "$e"
	done
}

# leader_member prints "name address" of the member holding the leader key.
leader_member() {
	local name role m n addr
	while read -r name role _; do
		is_leader_role "$role" || continue
		for m in ${MEMBERS[@]+"${MEMBERS[@]}"}; do
			read -r n addr _ <<<"$m"
			if [ "$n" = "$name" ]; then
				printf '%s %s\n' "$name" "$addr"
				return 0
			fi
		done
	done < <(patroni_members)
	return 1
}

# rotation_sql prints, for the roles on stdin ("kind user hash"), the
# transaction that gives each role whose stored hash differs its new one
# and prints the names of those roles. synchronous_commit = local: the
# commit never waits for a synchronous standby, which may be the very member
# that cannot authenticate (an earlier run stopped half-way). The hashes are
# stored as they are: no password reaches the server or its log.
rotation_sql() {
	local values="" kind user hash
	while read -r kind user hash; do
		values+="${values:+, }('$user', '$hash')"
	done
	local differ="SELECT v.u, v.h FROM (VALUES $values) AS v(u, h) JOIN pg_authid a ON a.rolname = v.u WHERE a.rolpassword IS DISTINCT FROM v.h"
	cat <<EOF
BEGIN;
SET LOCAL synchronous_commit = local;
SELECT d.u FROM ($differ) AS d ORDER BY 1;
DO \$pgha\$
DECLARE role record;
BEGIN
	FOR role IN $differ LOOP
		EXECUTE format('ALTER ROLE %I PASSWORD %L', role.u, role.h);
	END LOOP;
END
\$pgha\$;
COMMIT;
EOF
}

# leader_psql NAME ADDRESS runs the SQL on stdin on the leader, stopping at
# the first error, and prints what it selects. On the leader itself it goes
# through the local socket with peer authentication; from another member
# over TCP (TLS verified against the cluster's CA when PostgreSQL serves
# the node certificates) as the superuser, with the bundle's password first,
# then the installed one (the leader learns a new superuser password from
# the first member upgraded). The password reaches psql in its environment,
# never on a command line.
leader_psql() {
	local leader=$1 addr=$2 sql psql=$PGHA_PG_BIN_DIR/psql rc=2 pw user="" e kind u err=""
	local opts=(-X -q -A -t -v ON_ERROR_STOP=1)
	sql=$(cat)
	if [ "$leader" = "$PGHA_NODE" ]; then
		printf '%s\n' "$sql" | as_postgres "$psql" "${opts[@]}" -p "$PGHA_PORT_POSTGRESQL" -d postgres
		return
	fi
	for e in ${DB_ROLES[@]+"${DB_ROLES[@]}"}; do
		read -r kind u _ <<<"$e"
		if [ "$kind" = superuser ]; then user=$u; fi
	done
	[ -n "$user" ] || die "the facts name no superuser role: cannot reach the leader $leader"
	local conn="host=$addr port=$PGHA_PORT_POSTGRESQL user=$user dbname=postgres connect_timeout=10"
	conn+=" sslmode=${PGHA_PG_SSLMODE:-prefer} sslrootcert=$ROOT${P[ca]} application_name=pgha-upgrade"
	for pw in "${DB_SUPERUSER_PASSWORD:-}" "$(installed_facts db_superuser_password)"; do
		[ -n "$pw" ] || continue
		# psql exits 2 when it cannot connect (a password the leader does
		# not know yet), 3 when the script fails.
		# Its errors name the user, never the password: they are shown
		# unless another password gets in.
		rc=0
		{ err=$(printf '%s\n' "$sql" | PGPASSWORD=$pw "$psql" "${opts[@]}" -d "$conn" 2>&1 >&3) || rc=$?; } 3>&1
		[ "$rc" = 2 ] && continue
		[ -z "$err" ] || printf '%s\n' "$err" >&2
		return "$rc"
	done
	[ -z "$err" ] || printf '%s\n' "$err" >&2
	return "$rc"
}

# rotate_passwords (before any file changes): when the bundle changes the
# password of a role Patroni uses, the leader gets its new hash first. Only
# then may Patroni on this member load the new password (a reload writes it
# to primary_conninfo and the passfile, and the WAL receiver reconnects with
# it): a member connecting with a password the leader does not know stops
# streaming, and in synchronous mode the leader's commits then wait for it.
# Members not upgraded yet keep streaming on their open connections. The
# first member upgraded changes the leader; the others find it done.
rotate_passwords() {
	local roles=$ROTATED_ROLES names leader addr out
	[ -n "$roles" ] || return 0
	names=$(printf '%s\n' "$roles" | awk '{ printf "%s%s", sep, $2; sep = ", " }')
	step "new database passwords: the leader first ($names)"
	if [ "$NO_START" = 1 ]; then
		warn "--no-start: the leader is not given the new passwords of $names; run upgrade.sh again without --no-start before Patroni starts here"
		return 0
	fi
	if [ "$DRY_RUN" = 1 ]; then
		info "would give the leader the new password hashes of $names (ALTER ROLE, synchronous_commit = local)"
		return 0
	fi
	read -r leader addr < <(leader_member) ||
		die "no member holds the leader key (patronictl list): cannot give it the new passwords of $names; nothing was changed"
	set_state "giving the leader $leader the new passwords of $names; files not yet replaced (recover: re-run upgrade.sh)"
	out=$(rotation_sql <<<"$roles" | leader_psql "$leader" "$addr") ||
		die "could not give the leader $leader the new passwords of $names (psql's error above); nothing was changed on $PGHA_NODE"
	if [ -n "$out" ]; then
		changed "the leader $leader has the new passwords of $(printf '%s\n' "$out" | paste -sd, - | sed 's/,/, /g')"
	else
		info "the leader $leader already has the new passwords of $names"
	fi
}

# restapi_rotated: the bundle's REST API credentials differ from the
# installed ones.
restapi_rotated() { [ -n "${RESTAPI_AUTH:-}" ] && [ "$(installed_facts restapi_auth)" != "$RESTAPI_AUTH" ]; }

# What this bundle rotates, read from the installed facts before any file
# is replaced.
ROTATED_ROLES=""
RESTAPI_ROTATED=0

# restapi_accepts: this member's Patroni takes the bundle's REST API
# credentials for unsafe requests (POST /reload: 202; 401 while it still
# holds the old ones). Patroni applies a reload on its next loop: until
# then patronictl restart and switchover would be refused. The credentials
# go to curl on stdin.
restapi_accepts() {
	local code
	code=$(printf 'user = "%s"\n' "$RESTAPI_AUTH" |
		curl -s -o /dev/null -w '%{http_code}' --max-time 5 --cacert "$ROOT${P[ca]}" -X POST -K - "$PATRONI_URL/reload" 2>/dev/null) || true
	case $code in 200 | 202) return 0 ;; esac
	return 1
}

# RESUME is 1 when an earlier run of upgrade.sh stopped Patroni on this
# member and ended before starting it again: its state file says so and
# Patroni is not running. The re-run its state asks for then goes on from
# there, when the other members are healthy with a leader among them.
RESUME=0

# stopped_by_upgrade: the state file left by an earlier run says it had
# stopped Patroni on this member, and Patroni is still not running.
stopped_by_upgrade() {
	local prev
	[ -r "$STATE_FILE" ] || return 1
	read -r prev <"$STATE_FILE" || true
	case $prev in "Patroni stopped on $PGHA_NODE,"*) ;; *) return 1 ;; esac
	! systemctl is-active --quiet patroni
}

# mark_resumed_services marks, on a resumed upgrade, the service of every
# package of the bundle that the receipt does not record at the bundle's
# version: the earlier run may have upgraded it before it stopped (the
# receipt takes the new versions only once the package tool succeeded),
# and then its daemon still runs the replaced files.
mark_resumed_services() {
	local e r name nevra rec
	for e in ${PACKAGES[@]+"${PACKAGES[@]}"}; do
		read -r name nevra _ <<<"$e"
		rec=""
		for r in ${R_PACKAGES[@]+"${R_PACKAGES[@]}"}; do
			if [ "${r%% *}" = "$name" ]; then rec=${r#* }; fi
		done
		[ "$rec" = "$nevra" ] || SERVICE_CHANGED[$(package_service "$name")]=1
	done
}

# rolling_restart stops Patroni (and with it PostgreSQL) on this replica,
# upgrades the packages and files, starts it again and waits until it streams.
rolling_restart() {
	if [ "$RESUME" = 1 ]; then
		step "Patroni on $PGHA_NODE"
		info "stopped by the earlier run: no switchover, not stopped again"
		mark_resumed_services
	else
		switch_over_if_leader
		step "stop Patroni on $PGHA_NODE"
		set_state "Patroni stopped on $PGHA_NODE, packages not yet upgraded (recover: re-run upgrade.sh, or systemctl start patroni)"
		run systemctl stop patroni
		changed "stopped patroni"
	fi
	set_state "Patroni stopped on $PGHA_NODE, packages being upgraded (recover: re-run upgrade.sh)"
	install_packages
	check_binaries
	install_files
	remove_stale_files
	merge_hosts
	write_receipt
	step "reload systemd"
	daemon_reload
	restart_etcd_if_changed "Patroni stopped on $PGHA_NODE, etcd restarting (recover: re-run upgrade.sh)"
	step "start Patroni on $PGHA_NODE"
	set_state "packages upgraded, Patroni starting on $PGHA_NODE (recover: systemctl start patroni)"
	run systemctl start patroni
	changed "started patroni"
	wait_for "Patroni on $PGHA_NODE healthy (GET /health 200)" "$TIMEOUT_PATRONI" patroni_healthy
	wait_for "$PGHA_NODE streams from the leader again" "$TIMEOUT_PATRONI" replica_streaming
	apply_dcs
	[ "$DCS_CHANGED" = 0 ] || check_pending_restart
	reload_haproxy_if_changed
	reload_keepalived_if_changed
}

# configs_only applies changed files and reloads what uses them.
configs_only() {
	# A new listen line (the VIP's address joining it when vip.mode becomes
	# leader) takes a restart that Patroni's reload only reports.
	local listen_changed=0
	if [ "$(pg_listen "$ROOT${P[patroni_config]}")" != "$(pg_listen "$BUNDLE_DIR/files${P[patroni_config]}")" ]; then
		listen_changed=1
	fi
	set_state "configuration files being replaced on $PGHA_NODE (recover: re-run upgrade.sh)"
	install_files
	remove_stale_files
	merge_hosts
	write_receipt
	if [ "$NO_START" = 1 ]; then
		step "reload services"
		info "--no-start: not reloading units"
		apply_dcs
		return 0
	fi
	step "reload systemd"
	daemon_reload
	restart_etcd_if_changed
	if [ -n "${SERVICE_CHANGED[patroni]:-}" ]; then
		step "reload Patroni"
		set_state "patroni.yml replaced, Patroni reloading on $PGHA_NODE (recover: systemctl reload patroni)"
		run systemctl reload patroni
		changed "reloaded patroni"
		wait_for "Patroni on $PGHA_NODE healthy (GET /health 200)" "$TIMEOUT_PATRONI" patroni_healthy
		if [ "$RESTAPI_ROTATED" = 1 ]; then
			wait_for "Patroni on $PGHA_NODE takes the new REST API credentials" "$TIMEOUT_PATRONI" restapi_accepts
		fi
		if [ -n "$ROTATED_ROLES" ] && not_leader; then
			wait_for "$PGHA_NODE streams from the leader" "$TIMEOUT_PATRONI" replica_streaming
		fi
	fi
	apply_dcs
	if [ "$DCS_CHANGED" = 1 ] || [ "$listen_changed" = 1 ]; then
		check_pending_restart
	fi
	reload_haproxy_if_changed
	reload_keepalived_if_changed
}

load_bundle
STATE_FILE=$ROOT${P[upgrade_state]}
check_root
start_log upgrade
trap on_exit EXIT
step "upgrade to bundle $PGHA_BUNDLE_ID: $PGHA_CLUSTER $(if backup_host; then echo "backup host"; else echo member; fi) $PGHA_NODE ($PGHA_ADDRESS)"
[ "$DRY_RUN" = 1 ] && info "dry run: printing the plan, changing nothing"

check_systemd
check_os
has_receipt || die "no receipt at $RECEIPT: this host was not installed by install.sh (run that instead)"
load_receipt
check_receipt_owner
OLD_ID=$R_BUNDLE_ID
# The receipt names the new bundle only once write_receipt ran; what it
# records (packages, files) is saved as each step makes it.
RECEIPT_ID=$OLD_ID
verify_bundle

step "plan: bundle $OLD_ID -> $PGHA_BUNDLE_ID"
FILE_PLAN=$(plan_files)
PKG_PLAN=""
[ "$NO_PACKAGES" = 1 ] || PKG_PLAN=$(packages_pending)
[ -z "$FILE_PLAN" ] || printf '%s\n' "$FILE_PLAN" | sed 's/^/    file: /'
[ -z "$PKG_PLAN" ] || printf '%s\n' "$PKG_PLAN" | sed 's/^/    package: /'
if [ "$NO_START" = 0 ] && stopped_by_upgrade; then
	RESUME=1
	info "an earlier run stopped Patroni on $PGHA_NODE and ended in this state: $(head -n 1 "$STATE_FILE")"
fi
if [ -z "$FILE_PLAN" ] && [ -z "$PKG_PLAN" ] && [ "$RESUME" = 0 ]; then
	info "files and packages already match the bundle"
	# A leader upgraded in place, then switched over: its restart, now as
	# a replica (docs/operations.md).
	if [ "$RESTART_PENDING" = 1 ] && [ "$NO_START" = 0 ] && [ "$DRY_RUN" = 0 ] && pending_restart; then
		step "parameters pending a restart"
		restart_for_pending
	fi
	# backup.sh is the bundle's, not a payload file: it may change alone.
	install_backup_scripts
	write_receipt
	if [ "$CHANGES" = 0 ]; then
		step "done: no changes, $PGHA_NODE already matches bundle $PGHA_BUNDLE_ID"
	else
		step "done: receipt now names bundle $PGHA_BUNDLE_ID"
	fi
	exit 0
fi

# A new PostgreSQL major version needs pg_upgrade of every member's data
# directory, which package upgrades and a rolling restart cannot do.
# The installed facts say which major runs (a format 1 member: its node.env).
if backup_host; then
	# The backup host: pgBackRest, its files and timers; no cluster state
	# to check, no switchover. Its TLS server restarts for a new
	# configuration, certificate or package.
	[ "$NO_START" = 1 ] || disable_stale_backup_timers
	open_firewall
	if [ -n "$PKG_PLAN" ]; then
		install_packages
		check_binaries
	fi
	ensure_host_repo
	install_files
	remove_stale_files
	merge_hosts
	write_receipt
	start_host_services
	step "done: $CHANGES change(s); $PGHA_NODE runs bundle $PGHA_BUNDLE_ID"
	exit 0
fi

INSTALLED_MAJOR=""
if [ -r "$ROOT${P[node_facts]}" ]; then
	while read -r fact_key fact_value _; do
		if [ "$fact_key" = pg_major ]; then INSTALLED_MAJOR=$fact_value; fi
	done <"$ROOT${P[node_facts]}"
elif [ -r "$ROOT${P[node_env]}" ]; then
	# shellcheck disable=SC1090 # a format 1 member's installed settings
	INSTALLED_MAJOR=$(. "$ROOT${P[node_env]}" && echo "${PGHA_PG_MAJOR:-}")
fi
if [ -n "$INSTALLED_MAJOR" ] && [ "$INSTALLED_MAJOR" != "${PGHA_PG_MAJOR:-}" ]; then
	die "this bundle moves PostgreSQL from $INSTALLED_MAJOR to ${PGHA_PG_MAJOR:-?}: upgrade.sh cannot change the major version (follow 'Major version upgrade' in docs/operations.md); nothing was changed"
fi

# A member that runs without TLS cannot move to TLS on its own: etcd keeps
# the http:// peer URLs the cluster was created with, and members not yet
# upgraded would refuse (or be refused by) this one.
if in_files "${P[ca]}" && ! receipt_lists_file "${P[ca]}"; then
	die "this bundle turns on TLS between the members and $PGHA_NODE runs without it: a running cluster cannot switch one node at a time (see 'Moving a cluster to TLS' in docs/layout.md); nothing was changed"
fi

check_backup_repo
step "cluster health"
if [ "$NO_START" = 1 ]; then
	info "--no-start: not checking the running cluster"
elif [ "$RESUME" = 1 ] && cluster_healthy "$PGHA_NODE"; then
	info "every other member is running and there is one leader: resuming the upgrade of $PGHA_NODE"
elif cluster_healthy; then
	info "every member is running and there is one leader"
else
	die "the cluster is not healthy (see patronictl list): refusing to upgrade; nothing was changed"
fi

[ "$DRY_RUN" = 1 ] || mkdir -p "$(dirname "$STATE_FILE")"
ROTATED_ROLES=$(rotated_roles)
if restapi_rotated; then RESTAPI_ROTATED=1; fi
rotate_passwords
[ "$NO_START" = 1 ] || disable_stale_backup_timers
# The members' ports follow the members: a joining member must reach this
# one's etcd and Patroni before its install.sh runs, a member that left no
# longer may.
open_firewall
if [ "$RESUME" = 1 ] || [ -n "$PKG_PLAN" ] || grep -qxF -e "update ${P[patroni_unit]}" -e "remove ${P[patroni_unit]}" <<<"$FILE_PLAN"; then
	if [ "$NO_START" = 1 ]; then
		install_packages
		configs_only
	else
		rolling_restart
	fi
else
	configs_only
fi

backup_gate

STATE=""
[ "$DRY_RUN" = 1 ] || rm -f "$STATE_FILE"
if [ "$DRY_RUN" = 1 ]; then
	step "dry run done: $CHANGES change(s) planned"
elif [ "$PENDING_RESTART" = 1 ]; then
	step "done: $CHANGES change(s); $PGHA_NODE runs bundle $PGHA_BUNDLE_ID, but PostgreSQL on $PGHA_NODE has parameters PENDING A RESTART: run 'patronictl -c ${P[patroni_config]} restart $PGHA_CLUSTER $PGHA_NODE' when convenient, or re-run upgrade.sh with --restart-pending"
else
	step "done: $CHANGES change(s); $PGHA_NODE runs bundle $PGHA_BUNDLE_ID"
fi
