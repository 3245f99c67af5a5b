#!/usr/bin/env bash
# backup.sh: the cluster's pgBackRest jobs on this member. install.sh puts
# it in LibexecDir (with lib.sh, and FACTS naming the node's installed
# facts); the unit pgha-backup@KIND runs it for the timers.
set -euo pipefail

# shellcheck source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

usage() {
	cat <<EOF
usage: backup.sh [options] full|diff|incr|verify|check|status

  full, diff, incr  take a backup of that type, where this member is the
                    Patroni leader; elsewhere do nothing and exit 0
  verify            pgbackrest verify (the repository's files), on the leader
  check             pgbackrest check (WAL reaches the repository), on the leader
  status            the stanza's status and the age of the last good backup;
                    exit 1 when the stanza is not ok or has no good backup

  --facts FILE      the facts to read (default: FACTS beside this script)
  --root DIR        prefix every path with DIR (tests)
EOF
}

FACTS_FILE=$BUNDLE_DIR/FACTS
ACTION=""
while [ $# -gt 0 ]; do
	case $1 in
	--facts)
		FACTS_FILE=${2:?--facts needs a file}
		shift
		;;
	--root)
		ROOT=${2:?--root needs a directory}
		shift
		;;
	-h | --help)
		usage
		exit 0
		;;
	full | diff | incr | verify | check | status)
		if [ -n "$ACTION" ]; then
			usage >&2
			exit 2
		fi
		ACTION=$1
		;;
	*)
		usage >&2
		exit 2
		;;
	esac
	shift
done
if [ -z "$ACTION" ]; then
	usage >&2
	exit 2
fi

[ -r "$FACTS_FILE" ] || die "cannot read the facts $FACTS_FILE (run as root, or give --facts)"
load_facts "$FACTS_FILE"
backup_on || die "$FACTS_FILE names no backup section: this cluster has no backups"

# leads succeeds when this member is the Patroni leader. A member whose
# Patroni does not answer cannot tell, and fails: a backup must never be
# skipped silently on the leader.
leads() {
	# The backup host backs up its repository from whichever member leads
	# (pgBackRest finds it among pg1..pgN).
	backup_host && return 0
	case $(patroni_code /primary) in
	200) return 0 ;;
	503)
		info "$PGHA_NODE is not the leader (GET /primary 503): $ACTION runs on the leader"
		return 1
		;;
	esac
	die "Patroni on $PGHA_NODE does not answer ($PATRONI_URL): cannot tell whether this member leads"
}

# backup_status prints the stanza's status and the last good backup, from
# `pgbackrest info --output=json` (its keys come sorted: each backup's
# "error" before its "label", then "timestamp" and "type").
backup_status() {
	local json code message now summary
	json=$(pgbackrest_run --output=json info) || die "pgbackrest info failed"
	code=$(printf '%s' "$json" | grep -o '"status":{"code":[0-9]*' | tail -n 1 | sed 's/.*://')
	message=$(printf '%s' "$json" | grep -o '"message":"[^"]*"' | tail -n 1 | sed 's/^"message":"//; s/"$//')
	echo "stanza $PGHA_BACKUP_STANZA: ${message:-unknown} (status ${code:-?})"
	echo "repositories: $(backup_repos_text), encrypted: ${PGHA_BACKUP_ENCRYPTED:-no}"
	now=$(date +%s)
	summary=$(printf '%s' "$json" | grep -oE '"error":(true|false)|"label":"[^"]*"|"timestamp":\{"start":[0-9]+,"stop":[0-9]+\},"type":"[a-z]+"' |
		awk -F'"' '
			/^"error"/ { err = ($0 ~ /true/) }
			/^"label"/ { label = $4 }
			/^"timestamp"/ {
				n++
				stop = $0; sub(/.*"stop":/, "", stop); sub(/}.*/, "", stop)
				type = $0; sub(/.*"type":"/, "", type); sub(/".*/, "", type)
				count[type]++
				if (!err && stop + 0 >= best) { best = stop + 0; btype = type; blabel = label }
				err = 0
			}
			END {
				printf "%d %d %s %s %d %d %d\n", best, n, (btype == "" ? "-" : btype), (blabel == "" ? "-" : blabel), count["full"], count["diff"], count["incr"]
			}') || true
	local stop=0 n=0 type=- label=- full=0 diff=0 incr=0
	read -r stop n type label full diff incr <<<"$summary"
	echo "backups: $n ($full full, $diff diff, $incr incr)"
	if [ "$stop" -gt 0 ]; then
		echo "last good backup: $type $label, finished $(date -u -d "@$stop" '+%Y-%m-%d %H:%M:%S UTC'), $((now - stop)) s ago"
	else
		echo "last good backup: none"
	fi
	[ "${code:-1}" = 0 ] && [ "$stop" -gt 0 ]
}

# local_repo prints --repo=N of the repository this machine backs up:
# the backup host's own, or the members' mounted one. A member of a cluster
# whose only repository is the backup host's has none: the backup host
# takes those backups.
local_repo() {
	local e idx type
	for e in ${BACKUP_REPOS[@]+"${BACKUP_REPOS[@]}"}; do
		read -r idx type _ <<<"$e"
		if [ "$type" = posix ]; then
			echo "--repo=$idx"
			return 0
		fi
	done
	die "$ACTION: the repository is on the backup host $(backup_peers_text): run backup.sh $ACTION there"
}

case $ACTION in
full | diff | incr)
	repo=$(local_repo)
	leads || exit 0
	pgbackrest_run backup "$repo" --type="$ACTION"
	;;
verify)
	repo=$(local_repo)
	leads || exit 0
	pgbackrest_run verify "$repo"
	;;
check)
	leads || exit 0
	pgbackrest_run check
	;;
status) backup_status ;;
esac
