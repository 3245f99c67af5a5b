#!/usr/bin/env bash
# restore.sh: restores the whole cluster from its pgBackRest repository to a
# time, a named restore point or the end of the archived WAL, on the member
# the operator chose, once Patroni is stopped on every other member; then,
# run with --rejoin on each other member, rebuilds that member as a replica.
#
# The old PGDATA is never deleted: it is moved aside beside PGDATA and the
# script says where. The backup is restored into a staging directory beside
# PGDATA, and PostgreSQL recovers it there to the target and promotes, alone
# (no TCP listener, no archiving) while the cluster still runs: too little
# room beside PGDATA, a damaged or missing backup, a WAL file pgBackRest
# cannot read, or WAL that does not reach the target (with --latest: the
# end of the archive), fails before anything of the cluster is touched.
# Only then are Patroni stopped, the cluster's state in etcd removed and the
# recovered copy put in PGDATA's place: Patroni finds a promoted PGDATA and no cluster in etcd, takes it as
# the cluster's new first member and leads.
set -euo pipefail

# shellcheck source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

usage() {
	cat <<EOF
usage: restore.sh (--time TIME | --name NAME | --latest) [options] --yes-destroy-current-state
       restore.sh --rejoin

Restores the cluster from the pgBackRest repository on this member. Before
it: stop Patroni on every other member (systemctl stop patroni). Without
--yes-destroy-current-state it only checks and prints what it would do.

  --time TIME           recover up to TIME ('2026-12-04 05:40:00+00'), and
                        stop there (recovery_target_time, inclusive)
  --name NAME           recover up to the restore point NAME, made with
                        SELECT pg_create_restore_point('NAME')
  --latest              recover to the end of the archived WAL (every
                        segment of the followed timeline in the repository)
  --set LABEL           restore this backup set (default: the latest one)
  --timeline TL         the timeline to follow (recovery_target_timeline:
                        a number, current or latest): after a restore to an
                        earlier point, the WAL written before it lies on the
                        previous timeline; see docs/operations.md
  --repo N              read repository N (pgBackRest's repoN: with a backup
                        host, repo2 is its repository when the members
                        also mount one; default: the first that holds a
                        backup for the target)
  --repo-path DIR       read the repository at DIR (a copy of it) instead
                        of the configured repo1-path
  --no-backup           do not take the full backup that follows a restore
  --yes-destroy-current-state
                        confirm: the cluster's current data is replaced (the
                        old PGDATA is kept aside) and its etcd state removed
  --rejoin              on another member, after the restore: move its
                        PGDATA aside and start Patroni, which rebuilds it
                        from the repository or from the leader
  --timeout-recovery S  how long PostgreSQL may take to reach the target
                        (default 3600, PGHA_TIMEOUT_RECOVERY)
$COMMON_USAGE
EOF
}

MODE=""
TYPE=""
TARGET=""
SET=""
TIMELINE=""
REPO_PATH=""
REPO=""
CONFIRM=0
NO_BACKUP=0
TIMEOUT_RECOVERY=${PGHA_TIMEOUT_RECOVERY:-3600}

set_mode() { # mode type target
	[ -z "$MODE" ] || die "choose one of --time, --name, --latest and --rejoin"
	MODE=$1 TYPE=$2 TARGET=$3
}

# own_flag takes this script's flags (parse_args in lib.sh).
own_flag() {
	case $1 in
	--time)
		set_mode restore time "${2:?--time needs a time}"
		return 2
		;;
	--name)
		set_mode restore name "${2:?--name needs a restore point name}"
		return 2
		;;
	--latest) set_mode restore default "" ;;
	--rejoin) set_mode rejoin "" "" ;;
	--set)
		SET=${2:?--set needs a backup label}
		return 2
		;;
	--timeline)
		TIMELINE=${2:?--timeline needs a timeline: a number, current or latest}
		return 2
		;;
	--repo-path)
		REPO_PATH=${2:?--repo-path needs a directory}
		return 2
		;;
	--repo)
		REPO=${2:?--repo needs a repository number}
		case $REPO in [1-9] | [1-9][0-9]) ;; *) die "--repo $REPO: give a repository number (1, 2, ...)" ;; esac
		return 2
		;;
	--no-backup) NO_BACKUP=1 ;;
	--yes-destroy-current-state) CONFIRM=1 ;;
	--timeout-recovery)
		TIMEOUT_RECOVERY=${2:?}
		return 2
		;;
	*) return 0 ;;
	esac
	return 1
}

parse_args "$@"

[ -n "$MODE" ] || {
	usage >&2
	exit 2
}
[ "$DRY_RUN" = 0 ] || die "restore.sh has no --dry-run: without --yes-destroy-current-state it only checks and prints its plan"
[ "$NO_START" = 0 ] || die "restore.sh needs systemd: --no-start does not apply"
case $TIMELINE in '' | current | latest) ;; *[!0-9]*) die "--timeline $TIMELINE: a number, current or latest" ;; esac
if [ "$MODE" = rejoin ] && { [ -n "$SET" ] || [ -n "$TIMELINE" ] || [ -n "$REPO_PATH" ]; }; then
	die "--set, --timeline and --repo-path belong to a restore, not to --rejoin"
fi

# ---------------------------------------------------------------- helpers

STAMP=$(date -u +%Y%m%dT%H%M%SZ)
# The staging copy and the old PGDATA lie beside PGDATA, on the same file
# system (a rename); do_restore and do_rejoin name them.
STAGE=""
ASIDE=""
# The repository's archive of the current database ("15-1"), from
# pgbackrest info (check_space).
ARCHIVE_ID=""

# pgbackrest_cmd runs pgBackRest as postgres with the node's configuration
# and stanza (lib.sh's pgbackrest_run), reading the repository at
# --repo-path when given.
pgbackrest_cmd() {
	local repo=()
	[ -z "$REPO_PATH" ] || repo=(--repo1-path="$REPO_PATH")
	[ -z "$REPO" ] || repo+=(--repo="$REPO")
	(cd / && pgbackrest_run ${repo[@]+"${repo[@]}"} "$@")
}

now_ms() { date +%s%3N; }

# seconds_since MS prints the seconds since the time now_ms gave, with
# tenths.
seconds_since() {
	local d=$(($(now_ms) - $1))
	printf '%d.%d' $((d / 1000)) $((d % 1000 / 100))
}

# mb_per_s MB MS prints MB/s with tenths.
mb_per_s() {
	local ms=$2
	[ "$ms" -gt 0 ] || ms=1
	local r=$(($1 * 10000 / ms))
	printf '%d.%d' $((r / 10)) $((r % 10))
}

pg_running() { as_postgres "$PGHA_PG_BIN_DIR/pg_ctl" status -D "$PGHA_PGDATA" >/dev/null 2>&1; }

# dcs_leader prints the member etcd names the leader (patroni_members).
dcs_leader() {
	local name role
	while read -r name role _; do
		[ "$role" = leader ] && { printf '%s\n' "$name"; return 0; }
	done < <(patroni_members)
}

backup_configured() {
	backup_on || die "this bundle has no backup section: there is no pgBackRest repository to restore from"
	[ -n "${P[pgbackrest_config]:-}" ] || die "FACTS does not give the pgBackRest configuration's path"
	[ -x "$PGHA_PGBACKREST_BIN" ] || die "$PGHA_PGBACKREST_BIN is missing: install.sh installs pgBackRest"
	[ -x "$PGHA_PG_BIN_DIR/pg_ctl" ] || die "$PGHA_PG_BIN_DIR/pg_ctl is missing"
}

# ---------------------------------------------------------------- preflight

# check_repository reads the repository's list of backups: it must hold one
# (and the set asked for).
check_repository() {
	step "preflight: the repository${REPO_PATH:+ at $REPO_PATH} holds a backup of stanza $PGHA_BACKUP_STANZA"
	local out
	out=$(pgbackrest_cmd info 2>&1) || die "pgbackrest info failed: $out"
	printf '%s\n' "$out" | sed 's/^/    /'
	grep -q 'backup: ' <<<"$out" ||
		die "the repository holds no backup of stanza $PGHA_BACKUP_STANZA: nothing to restore; nothing was changed"
	if [ -n "$SET" ] && ! grep -q "backup: $SET\$" <<<"$out"; then
		die "backup set $SET is not in the repository (pgbackrest info above lists the sets); nothing was changed"
	fi
	if [ "$TYPE" = name ] && [ -z "$SET" ]; then
		# pgBackRest takes the latest backup, which may be younger than the
		# restore point: the oldest full backup is the one sure to precede it.
		SET=$(printf '%s\n' "$out" | sed -n 's/^ *full backup: *//p' | head -n 1)
		info "a restore point: starting from the oldest full backup, $SET (--set a later one made before the point replays less WAL)"
	fi
}

# check_others_stopped refuses while another member's Patroni answers on its
# REST API (it would take the leadership or rebuild from the old cluster).
check_others_stopped() {
	step "preflight: Patroni stopped on every other member"
	local m name addr code running=()
	for m in ${MEMBERS[@]+"${MEMBERS[@]}"}; do
		read -r name addr <<<"$m"
		[ "$name" = "$PGHA_NODE" ] && continue
		code=$(http_code "$(api_url "$addr")/liveness")
		if [ "$code" != 000 ]; then
			running+=("$name")
			printf 'error: Patroni runs on %s (%s): stop it there first: systemctl stop patroni\n' "$name" "$addr" >&2
		else
			info "$name ($addr): Patroni does not answer"
		fi
	done
	[ ${#running[@]} -eq 0 ] ||
		die "Patroni still runs on ${running[*]}: on each of them run 'systemctl stop patroni', then run restore.sh again; nothing was changed"
}

# backup_sets prints "label stop size wal_start" for each backup set that
# `pgbackrest info --output=json` ($1) lists, oldest first: its label, the
# end of the backup (epoch), its database size (info.size: what a restore
# of it writes, whatever the type of the set) and its first WAL segment.
# pgBackRest writes each set's keys sorted: archive, info, label, timestamp.
backup_sets() {
	printf '%s' "$1" |
		grep -oE '"archive":\{"start":"[0-9A-F]{24}"|"info":\{"delta":[0-9]+,"repository":\{"delta":[0-9]+,"size":[0-9]+\},"size":[0-9]+\}|"label":"[^"]*"|"timestamp":\{"start":[0-9]+,"stop":[0-9]+\}' |
		awk -F'"' '
			/^"archive"/ { wal = $6 }
			/^"info"/ { size = $0; sub(/.*"size":/, "", size); sub(/}.*/, "", size) }
			/^"label"/ { label = $4 }
			/^"timestamp"/ { stop = $0; sub(/.*"stop":/, "", stop); sub(/}.*/, "", stop); print label, stop, size, wal }'
}

# segno NAME SEGSIZE prints a WAL file name's segment number (its position
# in the WAL, whatever the timeline).
segno() {
	local n=$1
	echo $((16#${n:8:8} * (0x100000000 / $2) + 16#${n:16:8}))
}

# wal_segsize prints the WAL segment size of the cluster in PGDATA (16 MiB
# when PGDATA holds no cluster, as after its loss).
wal_segsize() {
	local s
	s=$("$PGHA_PG_BIN_DIR/pg_controldata" "$PGHA_PGDATA" 2>/dev/null | sed -n 's/^Bytes per WAL segment: *//p')
	echo "${s:-16777216}"
}

mib() { echo $((($1 + 1048575) / 1048576)); }

# check_space refuses to stage a restore that does not fit beside PGDATA:
# the staging copy shares PGDATA's file system (it takes PGDATA's place by
# a rename), and filling it would stop the running cluster too.
#
# The size comes from pgBackRest: the set's database size, as restored,
# and the WAL the recovery may replay, counted in whole segments from the
# set's first one to the newest in the archive (the most a time or restore
# point target can need; the WAL up to a target is not known before it is
# read). Replayed WAL grows the data files by at most about its own volume
# and PostgreSQL keeps the restored segments in pg_wal until a restartpoint
# recycles them, so this bounds both. The margin, 10% and 128 MiB, covers
# what neither counts: the segments PostgreSQL preallocates (min_wal_size,
# 80 MB by default), the end-of-recovery checkpoint, free space maps and
# the file system's own overhead, and the WAL the running cluster keeps
# writing to the same file system meanwhile.
#
# The set is the one pgBackRest restores: the one given (or chosen for a
# restore point by check_repository), the newest for --latest, and for
# --time the newest that ended before the target, else the newest (its
# rule). A time that date cannot read counts the largest set's need.
check_space() {
	local dir=${PGHA_PGDATA%/*}
	step "preflight: room for the restored copy on the file system of ${dir:-/}"
	local json sets segsize max pick="" chosen="" label size wal n="" need=0 s avail t=""
	json=$(pgbackrest_cmd --output=json info 2>&1) ||
		die "pgbackrest info --output=json failed: $json; cannot tell how much room the restore needs; nothing was changed"
	sets=$(backup_sets "$json")
	[ -n "$sets" ] || die "pgbackrest info --output=json lists no backup set with its size: cannot tell how much room the restore needs; nothing was changed"
	ARCHIVE_ID=$(printf '%s' "$json" | grep -oE '"id":"[0-9]+-[0-9]+"' | tail -n 1 | cut -d'"' -f4)
	max=$(printf '%s' "$json" | grep -oE '"max":"[0-9A-F]{24}"' | cut -d'"' -f4 | sort | tail -n 1)
	segsize=$(wal_segsize)
	if [ -n "$SET" ]; then
		pick=$SET
	elif [ "$TYPE" = time ]; then
		if t=$(date -d "$TARGET" +%s 2>/dev/null); then
			pick=$(printf '%s\n' "$sets" | awk -v t="$t" '$2 < t { l = $1 } END { print l }')
		fi
	fi
	if [ -z "$pick" ] && { [ "$TYPE" != time ] || [ -n "$t" ]; }; then
		pick=$(printf '%s\n' "$sets" | tail -n 1 | cut -d' ' -f1)
	fi
	chosen=$pick
	while read -r label _ size wal; do
		[ -z "$pick" ] || [ "$label" = "$pick" ] || continue
		s=$size
		if [ -n "$max" ]; then
			n=$(($(segno "$max" "$segsize") - $(segno "$wal" "$segsize") + 1))
			[ "$n" -gt 0 ] || n=0
			s=$((s + n * segsize))
		fi
		if [ "$s" -gt "$need" ]; then
			need=$s
			chosen=$label
			info "backup set $label: $(mib "$size") MiB restored, up to $(mib $((s - size))) MiB of WAL to replay (${n:-0} segments from $wal to ${max:-its end})"
		fi
	done <<<"$sets"
	[ "$need" -gt 0 ] || die "pgbackrest info --output=json does not list backup set $chosen: cannot tell how much room the restore needs; nothing was changed"
	need=$((need + need / 10 + 128 * 1048576))
	avail=$(df -Pk "${dir:-/}" | awk 'NR == 2 { print $4 }')
	[ -n "$avail" ] || die "df cannot tell the free space of ${dir:-/}; nothing was changed"
	avail=$((avail * 1024))
	if [ "$need" -gt "$avail" ]; then
		local kept="" d
		for d in "$PGHA_PGDATA".before-restore-* "$PGHA_PGDATA".before-rejoin-*; do
			[ ! -d "$d" ] || kept="$kept $d"
		done
		local less="--set a later backup set made before the target"
		[ "$TYPE" != default ] || less="take a full backup first"
		die "not enough room for the restore: the staging copy $STAGE needs about $(mib "$need") MiB (backup set $chosen with its WAL, plus 10% and 128 MiB), and the file system of ${dir:-/} has $(mib "$avail") MiB available. Free space there${kept:+ (the data kept aside by earlier runs:$kept)}, or $less (less WAL to replay); nothing was changed"
	fi
	info "needs about $(mib "$need") MiB (with 10% and 128 MiB of margin), $(mib "$avail") MiB available"
}

print_plan() {
	local what
	case $TYPE in
	time) what="the time $TARGET" ;;
	name) what="the restore point $TARGET" ;;
	*) what="the end of the archived WAL" ;;
	esac
	step "plan: restore cluster $PGHA_CLUSTER on $PGHA_NODE to $what"
	info "1. restore backup ${SET:-(pgBackRest chooses)}${REPO:+ from repo$REPO} into $STAGE; PostgreSQL recovers it there to $what${TIMELINE:+ on timeline $TIMELINE} and promotes (the cluster untouched if this fails)"
	info "2. stop Patroni on $PGHA_NODE and remove the cluster's state from etcd (patronictl remove $PGHA_CLUSTER)"
	info "3. move PGDATA $PGHA_PGDATA aside to $ASIDE (kept, never deleted) and put the recovered copy in its place"
	info "4. start Patroni on $PGHA_NODE: it leads the restored cluster"
	if [ "$NO_BACKUP" = 1 ]; then
		info "5. (--no-backup) no full backup afterwards"
	else
		info "5. a full backup of the restored cluster"
	fi
}

check_confirmed() {
	[ "$CONFIRM" = 1 ] && return 0
	die "refusing to replace the current state of cluster $PGHA_CLUSTER without --yes-destroy-current-state: its etcd state is removed and its data replaced (the old PGDATA is kept aside); nothing was changed"
}

# ---------------------------------------------------------------- restore

# flush_wal pushes the leader's current WAL to the repository (pgbackrest
# check switches to a new segment and waits for it): a restore to the end of
# the archive then misses nothing written so far.
flush_wal() {
	if ! systemctl is-active --quiet patroni || ! is_primary; then
		return 0
	fi
	step "archive the leader's current WAL (pgbackrest check)"
	# Into the configured repository, which archive_command writes, even
	# when the restore reads a copy (--repo-path).
	if pgbackrest_check >/dev/null 2>&1; then
		info "the current WAL is in the repository"
	else
		warn "pgbackrest check failed on the leader: its last WAL may not be in the repository"
	fi
}

# remove_stage stops the PostgreSQL running in the staging copy, if any,
# and deletes the copy; it fails when the copy could not be deleted.
remove_stage() {
	if as_postgres "$PGHA_PG_BIN_DIR/pg_ctl" status -D "$STAGE" >/dev/null 2>&1; then
		as_postgres "$PGHA_PG_BIN_DIR/pg_ctl" stop -w -m immediate -D "$STAGE" >/dev/null 2>&1 || true
	fi
	# Once more after a second: a PostgreSQL that just stopped may still
	# be removing its files.
	rm -rf "$STAGE" 2>/dev/null || { sleep 1 && rm -rf "$STAGE"; }
}

# discard_stage deletes the staging copy this run made and stops with the
# message given: nothing else changed.
discard_stage() {
	local gone="the staging copy was deleted"
	remove_stage || gone="the staging copy $STAGE could not be deleted: it is no good copy, delete it"
	die "$1; nothing was changed: PGDATA $PGHA_PGDATA, Patroni and etcd are as before ($gone)"
}

# drop_stage is the EXIT trap while the staging copy is not yet recovered
# and checked: whatever stops restore.sh then (an error, Ctrl-C), the copy
# is deleted, so that nothing left beside PGDATA looks like a good one.
drop_stage() {
	[ -n "$STAGE" ] && [ -d "$STAGE" ] || return 0
	if remove_stage; then
		warn "deleted the unfinished staging copy $STAGE; PGDATA $PGHA_PGDATA, Patroni and etcd are as before"
	else
		warn "the unfinished staging copy $STAGE could not be deleted: it is no good copy, delete it; PGDATA $PGHA_PGDATA, Patroni and etcd are as before"
	fi
}

# restore_staging restores the backup into STAGE: a damaged or missing
# backup fails here, before anything of the cluster is touched.
restore_staging() {
	step "restore the backup into $STAGE"
	[ ! -e "$STAGE" ] || die "$STAGE exists (left by an earlier run?): move it away first"
	trap drop_stage EXIT
	install -d -m 0700 -o postgres -g postgres "$STAGE"
	# The recovery's restore_command reads the repository read here and
	# writes into the staging copy (pgBackRest resolves PostgreSQL's
	# relative %p against --pg1-path).
	local get="$PGHA_PGBACKREST_BIN --config=$ROOT${P[pgbackrest_config]} --stanza=$PGHA_BACKUP_STANZA --pg1-path=$STAGE"
	[ -z "$REPO_PATH" ] || get="$get --repo1-path=$REPO_PATH"
	[ -z "$REPO" ] || get="$get --repo=$REPO"
	local args=(--pg1-path="$STAGE" --type="$TYPE" --recovery-option="restore_command=$get archive-get %f \"%p\"") t0 rc=0 mb ms
	if [ "$TYPE" != default ]; then args+=(--target="$TARGET" --target-action=promote); fi
	[ -z "$SET" ] || args+=(--set="$SET")
	[ -z "$TIMELINE" ] || args+=(--target-timeline="$TIMELINE")
	t0=$(now_ms)
	pgbackrest_cmd "${args[@]}" restore || rc=$?
	[ "$rc" = 0 ] || discard_stage "pgbackrest restore failed (status $rc, its error above): the backup in the repository is damaged or incomplete"
	ms=$(($(now_ms) - t0))
	mb=$(du -sm "$STAGE" | cut -f1)
	info "restored $mb MB in $(seconds_since "$t0") s ($(mb_per_s "$mb" "$ms") MB/s)"
}

# recover_staging starts PostgreSQL alone on the staging copy (no TCP
# listener, its socket in the copy, no archiving, no hot standby checks),
# waits until it reached the target and promoted, and stops it cleanly.
recover_staging() {
	step "recover the copy to the target: PostgreSQL alone, beside the running cluster"
	local log=$PGHA_PGDATA.recovery-$STAMP.log t0 state deadline started=0 grace
	install -m 0600 -o postgres -g postgres /dev/null "$log"
	t0=$(now_ms)
	as_postgres "$PGHA_PG_BIN_DIR/pg_ctl" start -W -D "$STAGE" -l "$log" \
		-o "-c listen_addresses='' -c unix_socket_directories='$STAGE' -c hba_file='$STAGE/pg_hba.conf' -c ident_file='$STAGE/pg_ident.conf' -c archive_mode=off -c hot_standby=off" >/dev/null ||
		discard_stage "pg_ctl start failed on the staging copy (log: $log)"
	deadline=$((SECONDS + TIMEOUT_RECOVERY))
	grace=$((SECONDS + 30))
	while :; do
		state=$("$PGHA_PG_BIN_DIR/pg_controldata" "$STAGE" 2>/dev/null | sed -n 's/^Database cluster state: *//p')
		if as_postgres "$PGHA_PG_BIN_DIR/pg_ctl" status -D "$STAGE" >/dev/null 2>&1; then
			started=1
			# The backup's pg_control says "in production" before recovery
			# starts; recovery.signal goes once it ended.
			[ "$state" != "in production" ] || [ -e "$STAGE/recovery.signal" ] || break
		elif [ "$started" = 1 ] || grep -q 'database system is shut down' "$log" || [ "$SECONDS" -ge "$grace" ]; then
			# (PostgreSQL may fail and stop before a poll sees it run.)
			wal_unreadable "$log"
			tail -n 20 "$log" >&2 || true
			if grep -q 'recovery ended before configured recovery target was reached' "$log"; then
				discard_stage "the WAL from backup ${SET:-(the latest)} on does not reach the target (PostgreSQL's log above, $log): the target is before that backup (--set an older one; pgbackrest info lists them) or after the end of the archive"
			fi
			discard_stage "PostgreSQL stopped before reaching the target (its log above, $log)"
		fi
		[ "$SECONDS" -lt "$deadline" ] || discard_stage "PostgreSQL did not reach the target within ${TIMEOUT_RECOVERY}s (log: $log)"
		sleep 1
	done
	info "recovered and promoted in $(seconds_since "$t0") s:"
	grep -E 'recovery stopping|redo done|selected new timeline' "$log" | sed 's/^.*LOG: */      /' || true
	if [ "$TYPE" = default ]; then
		wal_unreadable "$log"
		end_of_archive_reached "$log"
	elif grep -q '^ERROR: \[' "$log"; then
		# The target was reached (PostgreSQL refuses to promote before it):
		# what failed lies beyond it, but the repository needs a look.
		warn "pgBackRest failed to read a WAL file after the target (its error in $log): run pgbackrest verify"
	fi
	as_postgres "$PGHA_PG_BIN_DIR/pg_ctl" stop -w -m fast -D "$STAGE" >/dev/null
	strip_recovery_settings
	info "stopped cleanly; PostgreSQL's log of the recovery: $log"
	push_history
	# Recovered and checked: from here on an error leaves it for the
	# operator (the messages say where it is).
	trap - EXIT
}

# wal_unreadable stops the restore when restore_command (pgBackRest's
# archive-get) failed on a WAL file in the recovery's log: PostgreSQL takes
# any failure as the end of the archive, ends the recovery there and, with
# no target, promotes, dropping every write after that file.
wal_unreadable() {
	local err
	err=$(grep -A 1 '^ERROR: \[' "$1" | head -n 2 | sed 's/^ *//' | tr '\n' ' ') || true
	[ -n "$err" ] || return 0
	tail -n 20 "$1" >&2 || true
	discard_stage "pgBackRest could not read a WAL file the recovery needs from the repository (${err% }): the file is damaged, or the repository was unreachable, and the recovery stopped before it (PostgreSQL's log above, $1); run pgbackrest verify, and restore from a copy of the repository that holds the file (--repo-path) or to a target before it"
}

# end_of_archive_reached checks a recovery to the end of the archive
# (--latest): PostgreSQL ends it at the first WAL segment restore_command
# does not deliver and promotes, so a segment missing in the middle of the
# archive would silently drop every write after it. The new timeline's
# history file says where the recovery left the timeline it followed; the
# repository must hold no WAL of that timeline past that point. (What
# --latest restores is thus the end of the followed timeline's WAL in the
# repository: WAL that never reached the repository is not there.)
end_of_archive_reached() {
	local tl parent lsn segsize per end seg first newer
	tl=$("$PGHA_PG_BIN_DIR/pg_controldata" "$STAGE" | sed -n "s/^Latest checkpoint's TimeLineID: *//p")
	read -r parent lsn _ < <(tail -n 1 "$STAGE/pg_wal/$(printf '%08X.history' "$tl")") ||
		discard_stage "the recovered copy has no history file for its timeline $tl"
	segsize=$("$PGHA_PG_BIN_DIR/pg_controldata" "$STAGE" | sed -n 's/^Bytes per WAL segment: *//p')
	per=$((0x100000000 / segsize))
	end=$(((16#${lsn%/*} << 32) | 16#${lsn#*/}))
	# The first segment the recovery did not replay to its end.
	seg=$(((end + segsize - 1) / segsize))
	first=$(printf '%08X%08X%08X' "$parent" $((seg / per)) $((seg % per)))
	[ -n "$ARCHIVE_ID" ] || discard_stage "pgbackrest info names no archive: cannot tell whether the recovery reached the end of the archive"
	# The oldest such segment (names compared as strings: awk would take
	# these hex names for decimal numbers).
	newer=$(pgbackrest_cmd repo-ls "archive/$PGHA_BACKUP_STANZA/$ARCHIVE_ID" --recurse |
		sed -n "s|^[0-9A-F]\{16\}/\($(printf '%08X' "$parent")[0-9A-F]\{16\}\)-.*|\1|p" |
		awk -v f="$first" '$1 "" >= f "" && (m == "" || $1 "" < m) { m = $1 } END { print m }') ||
		discard_stage "pgbackrest repo-ls failed: cannot tell whether the recovery reached the end of the archive"
	[ -z "$newer" ] ||
		discard_stage "the recovery ended at $lsn on timeline $parent, but the repository holds WAL of that timeline after it ($newer): a WAL file before it is missing or damaged, and promoting here would lose every write after $lsn (PostgreSQL's log: $1); run pgbackrest verify"
	info "the recovery replayed timeline $parent's WAL to the end of the archive ($lsn)"
}

# push_history archives the new timeline's history file (the copy ran
# without archiving): the timeline's number is then taken in the repository,
# and a later restore to another point picks a number of its own instead
# of one whose history the archive holds for another branch.
push_history() {
	local tl hist
	tl=$("$PGHA_PG_BIN_DIR/pg_controldata" "$STAGE" | sed -n "s/^Latest checkpoint's TimeLineID: *//p")
	hist=$(printf '%08X.history' "$tl")
	[ -f "$STAGE/pg_wal/$hist" ] || discard_stage "the recovered copy has no history file $hist for its timeline $tl"
	(cd / && pgbackrest_run --pg1-path="$STAGE" archive-push "$STAGE/pg_wal/$hist") ||
		discard_stage "pgbackrest archive-push of the new timeline's history $hist failed (its error above)"
	info "timeline $tl's history is in the repository ($hist)"
}

stop_local_patroni() {
	step "stop Patroni on $PGHA_NODE"
	if systemctl is-active --quiet patroni; then
		systemctl stop patroni
		info "stopped Patroni"
	else
		info "Patroni is not running"
	fi
	! pg_running || die "PostgreSQL still runs in $PGHA_PGDATA after Patroni stopped: stop it, then run restore.sh again (the recovered copy is in $STAGE)"
}

# remove_dcs_state deletes the cluster's keys in etcd (initialize, config,
# leader, members, history): Patroni then takes the restored PGDATA as a new
# cluster's. patronictl asks for the cluster's name, a sentence, and the
# leader's name when a leader key is left.
remove_dcs_state() {
	step "remove cluster $PGHA_CLUSTER's state from etcd (patronictl remove)"
	wait_for "etcd member $PGHA_NODE healthy" "$TIMEOUT_ETCD" etcd_healthy
	local leader out
	leader=$(dcs_leader || true)
	if ! out=$(printf '%s\nYes I am aware\n%s\n' "$PGHA_CLUSTER" "$leader" |
		"$PGHA_PATRONICTL_BIN" -c "$PATRONI_CONF" remove "$PGHA_CLUSTER" 2>&1); then
		printf '%s\n' "$out" >&2
		die "patronictl remove $PGHA_CLUSTER failed: the recovered copy is in $STAGE, PGDATA $PGHA_PGDATA is unchanged; start Patroni again to go back (systemctl start patroni)"
	fi
	local left
	left=$(patroni_members) || die "patronictl list failed after patronictl remove: cannot tell whether etcd still holds $PGHA_CLUSTER"
	[ -z "$left" ] || die "etcd still lists members of $PGHA_CLUSTER after patronictl remove"
	info "etcd holds no state of $PGHA_CLUSTER"
}

move_aside() {
	step "move PGDATA aside"
	if dir_empty "$PGHA_PGDATA"; then
		[ ! -d "$PGHA_PGDATA" ] || rmdir "$PGHA_PGDATA"
		ASIDE="(nowhere: PGDATA was empty)"
		info "PGDATA was empty"
	else
		mv "$PGHA_PGDATA" "$ASIDE"
		info "the previous data is kept in $ASIDE: delete it yourself once the restored cluster is confirmed"
	fi
	mv "$STAGE" "$PGHA_PGDATA"
	info "the recovered copy is PGDATA now"
}

# strip_recovery_settings removes the recovery settings pgBackRest wrote to
# postgresql.auto.conf: once promoted they would only make Patroni's later
# standby start look for the target again.
strip_recovery_settings() {
	local f=$STAGE/postgresql.auto.conf
	[ -f "$f" ] || return 0
	as_postgres sed -i -E \
		-e '/^# Recovery settings generated by pgBackRest/d' \
		-e '/^[[:space:]]*(restore_command|recovery_target[a-z_]*|recovery_end_command)[[:space:]]*=/d' "$f"
}

# pgbackrest_check runs pgbackrest check on the configured repository (the
# one archive_command writes, whichever the restore read).
pgbackrest_check() { (cd / && pgbackrest_run check); }

leader_here() { patroni_healthy && is_primary; }

start_as_leader() {
	step "start Patroni on $PGHA_NODE: it leads the restored cluster"
	systemctl start patroni
	wait_for "Patroni on $PGHA_NODE leads cluster $PGHA_CLUSTER" "$TIMEOUT_PATRONI" leader_here
	wait_for "pgbackrest check: the restored leader archives to the repository" 120 pgbackrest_check
}

full_backup() {
	step "a full backup of the restored cluster"
	if [ "$NO_BACKUP" = 1 ]; then
		warn "--no-backup: take a full backup before building replicas from the repository: ${P[libexec_dir]}/backup.sh full"
		return 0
	fi
	local t0 e
	if ! backup_repo_path >/dev/null; then
		for e in ${PGBR_PEERS[@]+"${PGBR_PEERS[@]}"}; do
			warn "the repository is on the backup host ${e% *}: take a full backup there now (${P[libexec_dir]}/backup.sh full), before building replicas from it"
		done
		return 0
	fi
	t0=$(now_ms)
	"$ROOT${P[libexec_dir]}/backup.sh" full
	info "full backup taken in $(seconds_since "$t0") s"
}

do_restore() {
	STAGE=$PGHA_PGDATA.restore-$STAMP
	ASIDE=$PGHA_PGDATA.before-restore-$STAMP
	check_repository
	check_others_stopped
	check_space
	print_plan
	check_confirmed
	flush_wal
	restore_staging
	recover_staging
	stop_local_patroni
	remove_dcs_state
	move_aside
	start_as_leader
	full_backup
	step "restored: $PGHA_NODE leads cluster $PGHA_CLUSTER"
	info "next, on each other member, one at a time: bash restore.sh --rejoin (from its own bundle):"
	info "  it moves that member's PGDATA aside and starts Patroni, which rebuilds it from the repository (pgbackrest) or the leader"
	[ ! -d "$ASIDE" ] || info "the data before the restore is kept in $ASIDE on $PGHA_NODE"
}

# ---------------------------------------------------------------- rejoin

replica_here() { replica_streaming; }

do_rejoin() {
	ASIDE=$PGHA_PGDATA.before-rejoin-$STAMP
	step "preflight: cluster $PGHA_CLUSTER has a running leader other than $PGHA_NODE"
	wait_for "etcd member $PGHA_NODE healthy" "$TIMEOUT_ETCD" etcd_healthy
	local leader since
	leader=$(dcs_leader || true)
	[ -n "$leader" ] || die "no leader in etcd: run restore.sh on the member to restore first"
	[ "$leader" != "$PGHA_NODE" ] || die "$PGHA_NODE leads the cluster: --rejoin is for the other members"
	info "leader: $leader"
	step "stop Patroni on $PGHA_NODE"
	if systemctl is-active --quiet patroni; then
		systemctl stop patroni
		info "stopped Patroni"
	else
		info "Patroni is not running"
	fi
	! pg_running || die "PostgreSQL still runs in $PGHA_PGDATA after Patroni stopped: stop it first"
	step "move PGDATA aside"
	if dir_empty "$PGHA_PGDATA"; then
		info "PGDATA is empty"
	else
		mv "$PGHA_PGDATA" "$ASIDE"
		info "the previous data is kept in $ASIDE: delete it yourself once this member streams"
	fi
	install -d -m 0700 -o postgres -g postgres "$PGHA_PGDATA"
	step "start Patroni: it rebuilds $PGHA_NODE as a replica"
	since=$(date '+%Y-%m-%d %H:%M:%S')
	systemctl start patroni
	wait_for "$PGHA_NODE streams from the leader" "$TIMEOUT_PATRONI" replica_here
	local how
	how=$(journalctl -u patroni --since "$since" --no-pager 2>/dev/null | sed -n 's/.*\(replica has been created using [a-z_]*\).*/\1/p' | tail -n 1 || true)
	step "rejoined: $PGHA_NODE is a replica of $leader${how:+ ($how)}"
}

# ---------------------------------------------------------------- main

load_bundle
check_root
backup_configured
start_log "restore"
case $MODE in
restore) do_restore ;;
rejoin) do_rejoin ;;
esac
