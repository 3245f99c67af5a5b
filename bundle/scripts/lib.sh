# shellcheck shell=bash
# Variables set here are read by the scripts that source this file.
# shellcheck disable=SC2034
# lib.sh: shared by install.sh, upgrade.sh and uninstall.sh (sourced, never
# run). Bash 4.2 (EL7) compatible. Every path written on the node goes
# through $ROOT (PGHA_ROOT or --root), empty on a real node.
#
# Environment (each also a flag of the scripts):
#   PGHA_ROOT                prefix of every path read or written (tests)
#   PGHA_PKG_TOOL            yum | dnf | rpm (default: yum on el7, dnf on el8/9,
#                            rpm when neither exists)
#   PGHA_TIMEOUT_ETCD        seconds to wait for the local etcd member (900)
#   PGHA_TIMEOUT_PATRONI     seconds to wait for Patroni/PostgreSQL (1800)
#   PGHA_TIMEOUT_HAPROXY     seconds to wait for HAProxy's checks (120)
#   PGHA_TIMEOUT_SWITCHOVER  seconds to wait for a switchover (300)
#   PGHA_POLL_INTERVAL       seconds between two health probes (2)

# Directories we create must let the service accounts through whatever umask
# we were started with (cloud-init's runcmd runs under 077); files get their
# mode explicitly.
umask 0022

ROOT=${PGHA_ROOT:-}
DRY_RUN=0
FORCE=0
NO_START=0
NO_PACKAGES=0
# --packages-media PATH (install.sh, upgrade.sh): the shared packages media
# as a tarball or a directory; without it the media is found by its label.
PACKAGES_MEDIA=''
SKIP_OS_CHECK=0
PKG_TOOL=${PGHA_PKG_TOOL:-}
TIMEOUT_ETCD=${PGHA_TIMEOUT_ETCD:-900}
TIMEOUT_PATRONI=${PGHA_TIMEOUT_PATRONI:-1800}
TIMEOUT_HAPROXY=${PGHA_TIMEOUT_HAPROXY:-120}
TIMEOUT_SWITCHOVER=${PGHA_TIMEOUT_SWITCHOVER:-300}
POLL_INTERVAL=${PGHA_POLL_INTERVAL:-2}
CHANGES=0
DAEMON_RELOAD=0
DCS_CHANGED=0
# Services whose unit, config or package changed in this run.
declare -A SERVICE_CHANGED=()
BUNDLE_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# Where the packages and keys are: the bundle's, or the shared media's once
# verified (use_packages_media).
PKG_DIR=$BUNDLE_DIR/packages
PKG_WHERE="the bundle"
MEDIA_LABEL=''  # the shared packages media the facts name, if any
MEDIA_SHA256='' # the sha256 of its SHA256SUMS
MEDIA_MOUNT=''  # where we mounted it
MEDIA_TMP=''    # where we extracted its tarball

# What the receipt records, one entry per element (space-separated fields).
R_FILES=()    # path sha256 mode owner group
R_PACKAGES=() # name nevra (installed by us)
R_BACKUPS=()  # path backup
R_PORTS=()    # port/tcp opened by us in firewalld
R_MASKED=()   # units masked by us
R_USERS=()    # accounts created by us
R_RULES=()    # address port/tcp: firewalld rich rules added by us
R_FCONTEXTS=() # dir type: SELinux file context rules "dir(/.*)?" added by us

# ---------------------------------------------------------------- logging

step() { printf '==> %s\n' "$*"; }
info() { printf '    %s\n' "$*"; }
warn() { printf 'warning: %s\n' "$*" >&2; }
die() {
	printf 'error: %s\n' "$*" >&2
	exit 1
}

# changed counts one change to the node and says what it was.
changed() {
	CHANGES=$((CHANGES + 1))
	if [ "$DRY_RUN" = 1 ]; then info "would change: $*"; else info "changed: $*"; fi
}

# run runs a command that changes the node; under --dry-run it only prints it.
# Never pass a secret as an argument: it would be printed here.
run() {
	if [ "$DRY_RUN" = 1 ]; then
		info "would run: $*"
		return 0
	fi
	"$@"
}

# start_log tees stdout and stderr to LOG_DIR/<name>-<time>.log.
start_log() {
	[ "$DRY_RUN" = 1 ] && return 0
	local dir=$ROOT${P[log_dir]}
	mkdir -p "$dir"
	chmod 0750 "$dir"
	LOG_FILE=$dir/$1-$(date -u +%Y%m%dT%H%M%SZ)-$$.log
	exec > >(tee -a "$LOG_FILE") 2>&1
	info "log: $LOG_FILE"
}

# common_flag parses one flag shared by every script; returns the number of
# arguments it consumed (0 when the flag is not a common one).
common_flag() {
	case $1 in
	--dry-run) DRY_RUN=1 ;;
	--force) FORCE=1 ;;
	--no-start) NO_START=1 ;;
	--skip-os-check) SKIP_OS_CHECK=1 ;;
	--root) ROOT=${2:?--root needs a directory}; return 2 ;;
	--root=*) ROOT=${1#--root=} ;;
	--pkg-tool) PKG_TOOL=${2:?--pkg-tool needs yum, dnf or rpm}; return 2 ;;
	--timeout-etcd) TIMEOUT_ETCD=${2:?}; return 2 ;;
	--timeout-patroni) TIMEOUT_PATRONI=${2:?}; return 2 ;;
	--timeout-haproxy) TIMEOUT_HAPROXY=${2:?}; return 2 ;;
	--timeout-switchover) TIMEOUT_SWITCHOVER=${2:?}; return 2 ;;
	*) return 0 ;;
	esac
	return 1
}

# parse_args reads a script's command line: the common flags (common_flag),
# the script's own through own_flag, which each script defines with
# common_flag's convention (it returns how many words it took, 0 for a word
# it does not know), and --help. Anything else prints the script's usage and
# exits 2.
parse_args() {
	local n
	while [ $# -gt 0 ]; do
		n=0
		common_flag "$@" || n=$?
		[ "$n" -gt 0 ] || own_flag "$@" || n=$?
		if [ "$n" -gt 0 ]; then
			shift "$n"
			continue
		fi
		case $1 in
		-h | --help)
			usage
			exit 0
			;;
		*)
			usage >&2
			exit 2
			;;
		esac
	done
}

COMMON_USAGE='  --dry-run             print the plan, change nothing
  --force               accept a host whose addresses do not include the node'"'"'s, or busy ports
  --no-start            do not touch systemd (no mask, enable, start, stop, reload)
  --skip-os-check       do not compare os-release with the bundle'"'"'s OS (tests only:
                        the product targets EL7/8/9)
  --root DIR            prefix every path with DIR (tests)
  --pkg-tool TOOL       yum, dnf or rpm
  --timeout-etcd S, --timeout-patroni S, --timeout-haproxy S, --timeout-switchover S'

# ---------------------------------------------------------------- directories

# The directories of the operating system that are never handed to a service
# account (SYSTEM_DIRS), and the trees that hold no data directory at any
# depth (SYSTEM_TREES): the facts carry cluster.SystemDirs and
# cluster.SystemTrees. validate refuses such a spec first; this is the last
# line on the node.
SYSTEM_DIRS=()
SYSTEM_TREES=()

# check_own_dir WHAT DIR refuses a directory that install.sh would give to a
# service account (chown, mode 0700) unless it can be that account's own: an
# absolute, clean path that is no system directory and lies in no system tree.
check_own_dir() {
	local what=$1 d=$2 s
	case $d in
	/*) ;;
	*) die "$what '$d' is not an absolute path: fix the spec and rebuild the bundle" ;;
	esac
	if [ "$d" != / ]; then
		case $d in
		*//* | */./* | */../* | */. | */.. | */) die "$what '$d' is not a clean path: fix the spec and rebuild the bundle" ;;
		esac
	fi
	for s in ${SYSTEM_DIRS[@]+"${SYSTEM_DIRS[@]}"}; do
		if [ "$d" = "$s" ]; then
			die "$what $d is a system directory: refusing to hand it to a service account; give it a directory of its own in the spec and rebuild the bundle"
		fi
	done
	for s in ${SYSTEM_TREES[@]+"${SYSTEM_TREES[@]}"}; do
		case $d in
		"$s" | "$s"/*) die "$what $d is inside $s, which holds no data: refusing to hand it to a service account; give it a directory of its own in the spec and rebuild the bundle" ;;
		esac
	done
}

# inside A B succeeds when directory A is B or below it.
inside() { [ "$1" = "$2" ] || [ "${1#"$2"/}" != "$1" ]; }

# check_dirs refuses, before anything changes, data directories that are not
# their service's own: PGDATA and its parent (Patroni's password file goes
# there, and install.sh makes a missing one postgres's), the etcd data
# directory and the WAL archive; none inside another, no archive in PGDATA.
check_dirs() {
	local parent=${PGHA_PGDATA%/*}
	check_own_dir PGDATA "$PGHA_PGDATA"
	check_own_dir "the parent of PGDATA" "${parent:-/}"
	check_own_dir "the etcd data directory" "$PGHA_ETCD_DATA_DIR"
	if inside "$PGHA_ETCD_DATA_DIR" "$parent" || inside "$PGHA_PGDATA" "$PGHA_ETCD_DATA_DIR"; then
		die "the etcd data directory $PGHA_ETCD_DATA_DIR and PGDATA $PGHA_PGDATA overlap: each needs a directory of its own"
	fi
	if [ -n "${PGHA_ARCHIVE_DIR:-}" ]; then
		check_own_dir "the WAL archive" "$PGHA_ARCHIVE_DIR"
		if inside "$PGHA_ARCHIVE_DIR" "$PGHA_PGDATA" || inside "$PGHA_PGDATA" "$PGHA_ARCHIVE_DIR" ||
			inside "$PGHA_ARCHIVE_DIR" "$PGHA_ETCD_DATA_DIR" || inside "$PGHA_ETCD_DATA_DIR" "$PGHA_ARCHIVE_DIR"; then
			die "the WAL archive $PGHA_ARCHIVE_DIR overlaps PGDATA or the etcd data directory: it needs a directory of its own"
		fi
	fi
}

# ---------------------------------------------------------------- bundle

# What the facts give besides the PGHA_* values (lists, one entry a line).
declare -A P=()           # on-node paths by key (layout.PathKeys)
declare -A SERVICES_OF=() # payload path -> the units it concerns
FILES=()        # mode owner group sha256 path: the payload
PACKAGES=()     # name nevra file service
ZONE_PORTS=()   # opened to the firewalld zone
MEMBER_PORTS=() # opened to the members' addresses only
MEMBERS=()      # name address
declare -A JOINING=() # name -> 1: members marked joins (nodes[].joins)
ETCD_INITIAL_MEMBERS=() # the etcd members this node starts with (itself too)
MASK_UNITS=()   # the distribution's units masked by install.sh
FCONTEXTS=()    # default fallback-type dir: data directories moved off EL's defaults
BACKUP_REPOS=() # index type path [host port]: pgBackRest's repositories (a cluster with backups)
PGBR_PEERS=()   # name address: who reaches this machine's pgBackRest TLS server
BACKUP_TIMERS=() # kind unit: the scheduled backup jobs' timers
DB_ROLES=()      # kind user hash: the roles Patroni uses and their password hashes

# load_facts reads the bundle's FACTS, written by pgha-bundle: one fact a
# line, "KEY FIELD...", fields without spaces or quotes.
load_facts() {
	local f=$1 key a b c d e
	while read -r key a b c d e; do
		case $key in
		'#'*) ;;
		bundle_format) PGHA_BUNDLE_FORMAT=$a ;;
		bundle_id) PGHA_BUNDLE_ID=$a ;;
		bundle_cluster) PGHA_BUNDLE_CLUSTER=$a ;;
		bundle_node) PGHA_BUNDLE_NODE=$a ;;
		facts_format) [ "$a" -le 2 ] || die "$f has facts format $a, newer than these scripts read" ;;
		cluster) PGHA_CLUSTER=$a ;;
		node) PGHA_NODE=$a ;;
		address) PGHA_ADDRESS=$a ;;
		os) PGHA_OS=$a ;;
		pgdata) PGHA_PGDATA=$a ;;
		pg_bin_dir) PGHA_PG_BIN_DIR=$a ;;
		pg_major) PGHA_PG_MAJOR=$a ;;
		patroni_bin) PGHA_PATRONI_BIN=$a ;;
		patronictl_bin) PGHA_PATRONICTL_BIN=$a ;;
		patronictl_leader_flag) PGHA_PATRONICTL_LEADER_FLAG=$a ;;
		etcd_bin) PGHA_ETCD_BIN=$a ;;
		etcdctl_bin) PGHA_ETCDCTL_BIN=$a ;;
		haproxy_bin) PGHA_HAPROXY_BIN=$a ;;
		etcd_data_dir) PGHA_ETCD_DATA_DIR=$a ;;
		etcd_endpoints) PGHA_ETCD_ENDPOINTS=$a ;;
		etcd_endpoint) PGHA_ETCD_ENDPOINT=$a ;;
		patroni_url) PATRONI_URL=$a ;;
		haproxy_stats_url) HAPROXY_STATS_URL=$a ;;
		haproxy_stats_auth) HAPROXY_STATS_AUTH=$a ;;
		haproxy_rw_proxy) HAPROXY_RW_PROXY=$a ;;
		restapi_auth) RESTAPI_AUTH=$a ;;
		db_superuser_password) DB_SUPERUSER_PASSWORD=$a ;;
		db_role) DB_ROLES+=("$a $b $c") ;;
		pg_sslmode) PGHA_PG_SSLMODE=$a ;;
		watchdog) PGHA_WATCHDOG=$a ;;
		archive_dir) PGHA_ARCHIVE_DIR=$a ;;
		vip)
			PGHA_VIP=$a
			PGHA_VIP_MODE=$b
			;;
		backup_stanza) PGHA_BACKUP_STANZA=$a ;;
		pgbackrest_bin) PGHA_PGBACKREST_BIN=$a ;;
		backup_repo) BACKUP_REPOS+=("$a $b $c${d:+ $d $e}") ;;
		backup_timer) BACKUP_TIMERS+=("$a $b") ;;
		backup_encrypted) PGHA_BACKUP_ENCRYPTED=$a ;;
		role) PGHA_ROLE=$a ;;
		pgbackrest_tls)
			PGBR_TLS_ADDRESS=$a
			PGBR_TLS_PORT=$b
			PGBR_TLS_UNIT=$c
			;;
		pgbackrest_peer) PGBR_PEERS+=("$a $b") ;;
		bootstrap_node) PGHA_BOOTSTRAP_NODE=$a ;;
		bootstrap_from) BOOTSTRAP_FROM="$a $b $c $d" ;;
		port)
			printf -v "PGHA_PORT_${a^^}" '%s' "$b"
			if [ "$c" = zone ]; then ZONE_PORTS+=("$b"); else MEMBER_PORTS+=("$b"); fi
			;;
		member)
			MEMBERS+=("$a $b")
			if [ "$c" = joins ]; then JOINING[$a]=1; fi
			;;
		etcd_initial_cluster_state) PGHA_ETCD_INITIAL_CLUSTER_STATE=$a ;;
		etcd_peer_url) PGHA_ETCD_PEER_URL=$a ;;
		etcd_initial_member) ETCD_INITIAL_MEMBERS+=("$a") ;;
		mask_unit) MASK_UNITS+=("$a") ;;
		fcontext) FCONTEXTS+=("$a $b $c") ;;
		system_dir) SYSTEM_DIRS+=("$a") ;;
		system_tree) SYSTEM_TREES+=("$a") ;;
		path) P[$a]=$b ;;
		file) FILES+=("$a $b $c $d $e") ;;
		service) SERVICES_OF[$a]="$b${c:+ $c}${d:+ $d}" ;;
		package) PACKAGES+=("$a $b $c $d") ;;
		packages_media)
			MEDIA_LABEL=$a
			MEDIA_SHA256=$b
			;;
		*) die "$f: unknown fact '$key': a bundle newer than these scripts?" ;;
		esac
	done <"$f"
}

# load_bundle reads the bundle's FACTS.
load_bundle() {
	[ -r "$BUNDLE_DIR/FACTS" ] || die "$BUNDLE_DIR/FACTS missing: run the script from an extracted bundle"
	load_facts "$BUNDLE_DIR/FACTS"
	local v required=(PGHA_BUNDLE_ID PGHA_CLUSTER PGHA_NODE PGHA_ADDRESS PGHA_OS)
	if backup_host; then
		required+=(PGHA_BACKUP_STANZA PGHA_PGBACKREST_BIN PGBR_TLS_ADDRESS PGBR_TLS_PORT PGBR_TLS_UNIT)
	else
		required+=(PGHA_PGDATA PGHA_ETCD_DATA_DIR PGHA_ETCDCTL_BIN PGHA_HAPROXY_BIN PGHA_PATRONICTL_BIN
			PGHA_ETCD_ENDPOINT PATRONI_URL HAPROXY_STATS_URL HAPROXY_STATS_AUTH HAPROXY_RW_PROXY
			PGHA_PORT_POSTGRESQL PGHA_PORT_PATRONI_API PGHA_PORT_ETCD_CLIENT PGHA_PORT_ETCD_PEER
			PGHA_PORT_HAPROXY_RW PGHA_PORT_HAPROXY_RO PGHA_PORT_HAPROXY_STATS)
	fi
	for v in "${required[@]}"; do
		[ -n "${!v:-}" ] || die "FACTS does not give $v"
	done
	PGHA_WATCHDOG=${PGHA_WATCHDOG:-off}
	if backup_host; then
		check_own_dir "the backup repository" "$(backup_repo_path)"
	else
		check_dirs
	fi
	if [ "$PGHA_CLUSTER" != "$PGHA_BUNDLE_CLUSTER" ] || [ "$PGHA_NODE" != "$PGHA_BUNDLE_NODE" ]; then
		die "FACTS names the member $PGHA_CLUSTER/$PGHA_NODE and the bundle $PGHA_BUNDLE_CLUSTER/$PGHA_BUNDLE_NODE"
	fi
	RECEIPT=$ROOT${P[receipt]}
	# The JSON receipt bundles of format 1 wrote: read, then replaced.
	RECEIPT_JSON=$ROOT${P[receipt_json]}
	# KEPT_DATA lists "cluster node path" for each data directory an
	# uninstall without --purge left in place: a later install may reuse it.
	KEPT_DATA=$ROOT${P[kept_data]}
	# Whether an earlier install of ours left a receipt before this run.
	HAD_RECEIPT=0
	if has_receipt; then HAD_RECEIPT=1; fi
	PATRONI_CONF=$ROOT${P[patroni_config]}
}

cluster_ports() { printf '%s\n' ${ZONE_PORTS[@]+"${ZONE_PORTS[@]}"} ${MEMBER_PORTS[@]+"${MEMBER_PORTS[@]}"} ${PGBR_TLS_PORT:+"$PGBR_TLS_PORT"}; }

# backup_host: this bundle is the cluster's backup host (facts "role
# backup-host"), not a member: pgBackRest alone, its repository and its
# TLS server.
backup_host() { [ "${PGHA_ROLE:-member}" = backup-host ]; }

# mark_service records that the services a payload path concerns changed
# (the facts say which).
mark_service() {
	local u
	for u in ${SERVICES_OF[$1]:-}; do SERVICE_CHANGED[$u]=1; done
}

# file_sha256 prints the SHA-256 of a file.
file_sha256() {
	local s
	read -r s _ < <(sha256sum <"$1")
	echo "$s"
}

# ---------------------------------------------------------------- receipt

# The receipt (layout.Receipt) records what this member's installs did, one
# entry a line, "KEY FIELD...":
#   format 2 | bundle_id ID | cluster NAME | node NAME
#   file PATH SHA256 MODE OWNER GROUP | package NAME NEVRA | backup PATH BACKUP
#   firewall_port PORT/tcp | masked_unit UNIT | user NAME
#   firewall_rule ADDRESS PORT/tcp | selinux_fcontext DIR TYPE
# Bundles of format 1 wrote receipt.json instead: load_receipt reads it
# when no line-based receipt exists, and save_receipt replaces it.
RECEIPT_FORMAT=2
R_FORMAT=""
R_BUNDLE_ID=""
R_CLUSTER=""
R_NODE=""

has_receipt() { [ -r "$RECEIPT" ] || [ -r "$RECEIPT_JSON" ]; }

# receipt_name prints the receipt an earlier run left, for messages.
receipt_name() { if [ -r "$RECEIPT" ] || [ ! -r "$RECEIPT_JSON" ]; then echo "$RECEIPT"; else echo "$RECEIPT_JSON"; fi; }

# json_receipt_section prints the entries of one array of a format 1
# receipt.json, one per line, fields separated by spaces. That receipt was
# written by format 1's write_receipt with one entry per line and values
# without spaces or quotes.
json_receipt_section() {
	awk -v s="$1" '
		$0 == "  \"" s "\": [" { on = 1; next }
		on && /^  \]/ { on = 0 }
		on {
			gsub(/[{}",]/, "")
			out = ""
			if ($0 ~ /:/) { for (i = 2; i <= NF; i += 2) out = out (out == "" ? "" : " ") $i }
			else { out = $1 }
			print out
		}' "$RECEIPT_JSON"
}

# json_receipt_value prints a top-level value of a format 1 receipt.json.
json_receipt_value() {
	sed -n 's/^  "'"$1"'": "\{0,1\}\([^",]*\)"\{0,1\},\{0,1\}$/\1/p' "$RECEIPT_JSON"
}

# load_receipt reads the receipt of an earlier run into the R_* values.
load_receipt() {
	local key a b c d e line
	if [ -r "$RECEIPT" ]; then
		while read -r key a b c d e; do
			case $key in
			format) R_FORMAT=$a ;;
			bundle_id) R_BUNDLE_ID=$a ;;
			cluster) R_CLUSTER=$a ;;
			node) R_NODE=$a ;;
			file) R_FILES+=("$a $b $c $d $e") ;;
			package) R_PACKAGES+=("$a $b") ;;
			backup) R_BACKUPS+=("$a $b") ;;
			firewall_port) R_PORTS+=("$a") ;;
			masked_unit) R_MASKED+=("$a") ;;
			user) R_USERS+=("$a") ;;
			firewall_rule) R_RULES+=("$a $b") ;;
			selinux_fcontext) R_FCONTEXTS+=("$a $b") ;;
			*) die "$RECEIPT: unknown entry '$key': written by a newer bundle? use a newer bundle" ;;
			esac
		done <"$RECEIPT"
	elif [ -r "$RECEIPT_JSON" ]; then
		R_FORMAT=$(json_receipt_value format)
		R_BUNDLE_ID=$(json_receipt_value bundle_id)
		R_CLUSTER=$(json_receipt_value cluster)
		R_NODE=$(json_receipt_value node)
		while IFS= read -r line; do R_FILES+=("$line"); done < <(json_receipt_section files)
		while IFS= read -r line; do R_PACKAGES+=("$line"); done < <(json_receipt_section packages)
		while IFS= read -r line; do R_BACKUPS+=("$line"); done < <(json_receipt_section backups)
		while IFS= read -r line; do R_PORTS+=("$line"); done < <(json_receipt_section firewall_ports)
		while IFS= read -r line; do R_MASKED+=("$line"); done < <(json_receipt_section masked_units)
		while IFS= read -r line; do R_USERS+=("$line"); done < <(json_receipt_section users)
		while IFS= read -r line; do R_RULES+=("$line"); done < <(json_receipt_section firewall_rules)
		while IFS= read -r line; do R_FCONTEXTS+=("$line"); done < <(json_receipt_section selinux_fcontexts)
	else
		return 0
	fi
	[ "${R_FORMAT:-0}" -le "$RECEIPT_FORMAT" ] || die "$(receipt_name) has format $R_FORMAT, newer than this bundle's: use a newer bundle"
}

# receipt_sha256 prints the digest the receipt records for a node path.
receipt_sha256() {
	local e
	for e in ${R_FILES[@]+"${R_FILES[@]}"}; do
		if [ "${e%% *}" = "$1" ]; then
			e=${e#* }
			echo "${e%% *}"
			return 0
		fi
	done
	return 0
}

# same_content_as_receipt succeeds when this bundle would install exactly what
# the receipt records: the same files with the same digests, and every package
# either recorded by us at the same NEVRA or, when we did not install it,
# already present at that NEVRA (or skipped with --no-packages). A rebuild that
# changes nothing a node receives (e.g. a new seed generation) then re-runs
# install.sh as a no-op instead of asking for upgrade.sh.
same_content_as_receipt() {
	local mode owner group sha path n=0 name nevra e pe found
	for e in ${FILES[@]+"${FILES[@]}"}; do
		read -r mode owner group sha path <<<"$e"
		[ "$(receipt_sha256 "$path")" = "$sha" ] || return 1
		n=$((n + 1))
	done
	[ "$n" = "${#R_FILES[@]}" ] || return 1
	for pe in ${PACKAGES[@]+"${PACKAGES[@]}"}; do
		read -r name nevra _ <<<"$pe"
		found=
		for e in ${R_PACKAGES[@]+"${R_PACKAGES[@]}"}; do
			if [ "${e%% *}" = "$name" ]; then found=${e#* }; fi
		done
		if [ -n "$found" ]; then
			[ "$found" = "$nevra" ] || return 1
		elif [ "$NO_PACKAGES" != 1 ]; then
			rpm --root "${ROOT:-/}" -q "$nevra" >/dev/null 2>&1 || return 1
		fi
	done
	return 0
}

# has ELEMENT ARRAY... succeeds when ELEMENT is one of the others.
has() {
	local x=$1 e
	shift
	for e in "$@"; do [ "$e" = "$x" ] && return 0; done
	return 1
}

# RECEIPT_ID is the bundle id the receipt names: this bundle's, except
# during an upgrade until the new bundle is in place (upgrade.sh).
RECEIPT_ID=""

# render_receipt prints the receipt for the R_* arrays.
render_receipt() {
	local e
	printf 'format %s\nbundle_id %s\ncluster %s\nnode %s\n' \
		"$RECEIPT_FORMAT" "${RECEIPT_ID:-$PGHA_BUNDLE_ID}" "$PGHA_CLUSTER" "$PGHA_NODE"
	for e in ${R_FILES[@]+"${R_FILES[@]}"}; do echo "file $e"; done
	for e in ${R_PACKAGES[@]+"${R_PACKAGES[@]}"}; do echo "package $e"; done
	for e in ${R_BACKUPS[@]+"${R_BACKUPS[@]}"}; do echo "backup $e"; done
	for e in ${R_PORTS[@]+"${R_PORTS[@]}"}; do echo "firewall_port $e"; done
	for e in ${R_MASKED[@]+"${R_MASKED[@]}"}; do echo "masked_unit $e"; done
	for e in ${R_USERS[@]+"${R_USERS[@]}"}; do echo "user $e"; done
	for e in ${R_RULES[@]+"${R_RULES[@]}"}; do echo "firewall_rule $e"; done
	for e in ${R_FCONTEXTS[@]+"${R_FCONTEXTS[@]}"}; do echo "selinux_fcontext $e"; done
}

# save_receipt writes the receipt when its content changes, atomically and
# quietly: called after each step that changes the node, so that a failure
# half-way still leaves uninstall.sh the packages, backups and files we made.
# Returns 1 when the receipt was already up to date.
save_receipt() {
	[ "$DRY_RUN" = 1 ] && return 0
	local new
	new=$(render_receipt)
	if [ -r "$RECEIPT" ] && [ "$(cat "$RECEIPT")" = "$new" ]; then return 1; fi
	mkdir -p "$(dirname "$RECEIPT")"
	chmod 0700 "$(dirname "$RECEIPT")"
	printf '%s\n' "$new" >"$RECEIPT.tmp.$$"
	chmod 0600 "$RECEIPT.tmp.$$"
	mv -f "$RECEIPT.tmp.$$" "$RECEIPT"
	# The line-based receipt now holds all a format 1 receipt.json held.
	rm -f "$RECEIPT_JSON"
}

# write_receipt writes the receipt naming this bundle.
write_receipt() {
	step "write the receipt"
	RECEIPT_ID=$PGHA_BUNDLE_ID
	if [ "$DRY_RUN" = 1 ]; then
		if [ -r "$RECEIPT" ] && [ "$(cat "$RECEIPT")" = "$(render_receipt)" ]; then
			info "receipt unchanged"
		else
			changed "receipt $RECEIPT"
		fi
		return 0
	fi
	if [ "${RELABEL_ONLY:-0}" = 1 ] && [ "$CHANGES" = 0 ]; then
		save_receipt || true
		info "receipt now names bundle $PGHA_BUNDLE_ID (same files and packages as before)"
	elif save_receipt; then
		changed "receipt $RECEIPT"
	else
		info "receipt up to date"
	fi
}

# check_receipt_owner refuses a receipt written for another member.
check_receipt_owner() {
	if [ "$R_CLUSTER" != "$PGHA_CLUSTER" ] || [ "$R_NODE" != "$PGHA_NODE" ]; then
		die "$(receipt_name) belongs to $R_CLUSTER/$R_NODE, not $PGHA_CLUSTER/$PGHA_NODE: uninstall that first"
	fi
}

# ---------------------------------------------------------------- preflight

check_root() {
	step "preflight: root"
	[ "$(id -u)" = 0 ] || die "run as root"
	info "running as root"
}

check_systemd() {
	step "preflight: systemd"
	if [ "$NO_START" = 1 ]; then
		info "--no-start: systemd not required"
		return 0
	fi
	[ -d "$ROOT${P[systemd_run_dir]}" ] || die "systemd is not running here (use --no-start to install without units)"
	info "systemd is running"
}

check_os() {
	step "preflight: operating system is $PGHA_OS"
	if [ "$SKIP_OS_CHECK" = 1 ]; then
		warn "--skip-os-check: not comparing ${P[os_release]} with $PGHA_OS (test use only)"
		return 0
	fi
	local f=$ROOT${P[os_release]} id like version
	[ -r "$f" ] || die "$f missing: cannot tell the OS (the bundle is for $PGHA_OS)"
	# shellcheck source=/dev/null
	id=$(. "$f" && echo "${ID:-}")
	# shellcheck source=/dev/null
	like=$(. "$f" && echo "${ID_LIKE:-}")
	# shellcheck source=/dev/null
	version=$(. "$f" && echo "${VERSION_ID:-}")
	case " $id $like " in
	*" rhel "* | *" centos "* | *" fedora "* | *" rocky "* | *" almalinux "* | *" ol "*) ;;
	*) die "this host runs $id $version, not an Enterprise Linux ($PGHA_OS)" ;;
	esac
	[ "el${version%%.*}" = "$PGHA_OS" ] || die "this host runs $id $version (el${version%%.*}); the bundle is for $PGHA_OS"
	info "$id $version"
}

check_address() {
	step "preflight: this host is $PGHA_NODE ($PGHA_ADDRESS)"
	if ip -o addr show | awk -v a="$PGHA_ADDRESS" '{ split($4, p, "/"); if (p[1] == a) f = 1 } END { exit !f }'; then
		info "$PGHA_ADDRESS is configured here"
	elif [ "$FORCE" = 1 ]; then
		warn "$PGHA_ADDRESS is not configured on this host; going on because of --force"
	else
		die "$PGHA_ADDRESS is not configured on this host: this bundle is for $PGHA_NODE (--force overrides)"
	fi
}

check_ports() {
	step "preflight: ports free"
	local listening p busy=()
	listening=$(ss -ltn | awk 'NR > 1 { n = split($4, a, ":"); print a[n] }')
	for p in $(cluster_ports); do
		if grep -qx "$p" <<<"$listening"; then busy+=("$p"); fi
	done
	if [ ${#busy[@]} -eq 0 ]; then
		info "all cluster ports are free"
	elif has_receipt; then
		info "ports ${busy[*]} in use by the cluster installed earlier"
	elif [ "$FORCE" = 1 ]; then
		warn "ports ${busy[*]} are in use; going on because of --force"
	else
		die "ports ${busy[*]} are already in use by another program (--force overrides)"
	fi
}

dir_empty() { [ ! -d "$1" ] || [ -z "$(ls -A "$1")" ]; }

# can_write DIR USER succeeds when USER may create files in DIR by its mode
# bits (owner, primary group or others).
can_write() {
	local uid gid cu cg cm m
	uid=$(uid_of "$2")
	gid=$(primary_gid_of "$2")
	read -r cu cg cm < <(stat -c '%u %g %a' "$1")
	m=$((8#$cm))
	if [ -n "$uid" ] && [ "$cu" = "$uid" ] && [ $((m & 8#300)) = $((8#300)) ]; then return 0; fi
	if [ -n "$gid" ] && [ "$cg" = "$gid" ] && [ $((m & 8#030)) = $((8#030)) ]; then return 0; fi
	[ $((m & 8#003)) = $((8#003)) ]
}

# check_pgdata_parent: Patroni (as postgres) writes its pgpass file beside
# PGDATA. A parent we create is postgres's (ensure_dirs); one that exists
# already must be writable by postgres: we never chown a directory we did
# not create. Judged once the postgres account exists.
check_pgdata_parent() {
	local p=${PGHA_PGDATA%/*}
	[ -n "$p" ] || p=/
	if [ ! -d "$ROOT$p" ]; then
		info "$p will be created for postgres (0700)"
	elif ! user_exists postgres; then
		info "$p exists; checked once the postgres account exists"
	elif can_write "$ROOT$p" postgres; then
		info "postgres can write $p (Patroni's pgpass goes there)"
	else
		die "$p (the parent of PGDATA) exists and postgres cannot write it: Patroni writes its pgpass file there. Make it postgres's (e.g. install -d -o postgres -g postgres -m 0700 $p) or choose another PGDATA"
	fi
}

PGDATA_WAS_EMPTY=0
ETCD_DATA_WAS_NEW=0

check_pgdata() {
	step "preflight: PGDATA $PGHA_PGDATA empty or Patroni's"
	local d=$ROOT$PGHA_PGDATA
	if dir_empty "$d"; then
		PGDATA_WAS_EMPTY=1
		info "PGDATA is empty"
	elif [ -f "$d/patroni.dynamic.json" ]; then
		info "PGDATA belongs to Patroni"
	elif [ "$HAD_RECEIPT" = 1 ]; then
		info "PGDATA was created by an earlier install"
	else
		die "PGDATA $PGHA_PGDATA holds a cluster Patroni did not create (one initialised by a package?): move it away first"
	fi
	check_pgdata_parent
}

# kept_by_uninstall succeeds when an uninstall of this member kept the
# data directory DIR.
kept_by_uninstall() {
	[ -r "$KEPT_DATA" ] && grep -qxF "$PGHA_CLUSTER $PGHA_NODE $1" "$KEPT_DATA"
}

# check_etcd_data refuses an etcd data directory holding a member/ that no
# install of ours created: etcd would join with another cluster's state.
check_etcd_data() {
	step "preflight: etcd data $PGHA_ETCD_DATA_DIR new or ours"
	local d=$ROOT$PGHA_ETCD_DATA_DIR
	if [ ! -e "$d/member" ]; then
		ETCD_DATA_WAS_NEW=1
		info "no etcd member data yet"
	elif [ "$HAD_RECEIPT" = 1 ]; then
		info "etcd member data from an earlier install"
	elif kept_by_uninstall "$PGHA_ETCD_DATA_DIR"; then
		info "etcd member data kept by an earlier uninstall of $PGHA_NODE"
	else
		die "etcd data directory $PGHA_ETCD_DATA_DIR already holds member/ data this bundle did not create (a package's etcd or another cluster's?): move it away first"
	fi
}

# recheck_data runs after the package step: a package whose scriptlet runs
# initdb or starts etcd leaves data no unit of ours may adopt.
recheck_data() {
	step "data directories after the packages"
	if [ "$DRY_RUN" = 1 ]; then
		info "dry run: PGDATA and etcd data are checked again after the packages"
		return 0
	fi
	if [ "$PGDATA_WAS_EMPTY" = 1 ] && ! dir_empty "$ROOT$PGHA_PGDATA" && [ ! -f "$ROOT$PGHA_PGDATA/patroni.dynamic.json" ]; then
		die "PGDATA $PGHA_PGDATA was empty before the package step and now holds a cluster (a package ran initdb?): move it away and re-run; no service was started"
	fi
	if [ "$ETCD_DATA_WAS_NEW" = 1 ] && [ -e "$ROOT$PGHA_ETCD_DATA_DIR/member" ]; then
		die "etcd data directory $PGHA_ETCD_DATA_DIR got member/ data during the package step (a package started etcd?): move it away and re-run; no service was started"
	fi
	info "PGDATA and etcd data are as before the packages"
}

# ---------------------------------------------------------------- verify

verify_bundle() {
	step "verify bundle checksums"
	(cd "$BUNDLE_DIR" && sha256sum --quiet --strict -c SHA256SUMS) ||
		die "SHA256SUMS does not match: the bundle is damaged or was altered; nothing was changed"
	info "every file matches SHA256SUMS"
	# Nothing is taken from a media that no package step needs: a
	# configuration-only upgrade runs without it (unless it is given).
	if [ -n "$MEDIA_SHA256" ] && [ -z "$PACKAGES_MEDIA" ]; then
		if [ "$NO_PACKAGES" = 1 ]; then
			info "--no-packages: the packages media $MEDIA_LABEL is not needed"
			return 0
		fi
		if [ -z "$(packages_pending 2>/dev/null)" ]; then
			info "every package is installed at the bundle's version or newer: the packages media $MEDIA_LABEL is not needed"
			return 0
		fi
	fi
	if [ -z "$MEDIA_SHA256" ] && [ -n "$PACKAGES_MEDIA" ]; then
		die "--packages-media: this bundle carries its own packages (it was not built with --packages-media shared)"
	fi
	use_packages_media
	local name nevra file e
	for e in ${PACKAGES[@]+"${PACKAGES[@]}"}; do
		read -r name nevra file _ <<<"$e"
		[ -f "$PKG_DIR/$file" ] || die "packages/$file ($nevra) missing from $PKG_WHERE"
	done
	verify_signatures
}

# ---------------------------------------------------------------- packages media

# use_packages_media takes the packages from the shared media the bundle
# names (build --packages-media shared): the --packages-media path (the
# tarball, or a directory where the media is mounted or extracted), else the
# device labelled MEDIA_LABEL, mounted read-only until the script exits
# (release_media). The media's SHA256SUMS must have the sha256 the bundle
# pins, every file on it must match SHA256SUMS, and SHA256SUMS must list
# every package of the bundle; then PKG_DIR is its packages/.
use_packages_media() {
	[ -n "$MEDIA_SHA256" ] || return 0
	local src=$PACKAGES_MEDIA dev dir sum e name nevra file top=$PGHA_CLUSTER-packages
	step "packages media $MEDIA_LABEL"
	if [ -z "$src" ]; then
		dev=$(blkid -t LABEL="$MEDIA_LABEL" -o device 2>/dev/null | head -n 1) || true
		[ -n "$dev" ] || die "this bundle's packages are on the media labelled $MEDIA_LABEL and no device has that label: attach the cluster's packages ISO, or pass --packages-media PATH (its tarball, or where it is mounted); nothing was changed"
		MEDIA_MOUNT=$(mktemp -d -t pgha-media.XXXXXX)
		if ! mount -o ro "$dev" "$MEDIA_MOUNT"; then
			rmdir "$MEDIA_MOUNT"
			MEDIA_MOUNT=''
			die "cannot mount $dev (labelled $MEDIA_LABEL) read-only; nothing was changed"
		fi
		info "$dev mounted read-only on $MEDIA_MOUNT"
		src=$MEDIA_MOUNT
	fi
	if [ -f "$src" ]; then
		# A tarball: its SHA256SUMS is checked before anything else is
		# extracted.
		MEDIA_TMP=$(mktemp -d -t pgha-media.XXXXXX)
		tar -xOf "$src" "$top/SHA256SUMS" >"$MEDIA_TMP/SHA256SUMS.pinned" 2>/dev/null ||
			check_media_sum "$src" ""
		check_media_sum "$src" "$(sha256sum "$MEDIA_TMP/SHA256SUMS.pinned" | cut -d ' ' -f 1)"
		# Only what the pinned SHA256SUMS lists is extracted: no other member
		# of the tarball (a link out of the tree, a name elsewhere) reaches
		# the disk.
		local members=("$top/SHA256SUMS") listed
		while read -r _ listed; do
			members+=("$top/$listed")
		done <"$MEDIA_TMP/SHA256SUMS.pinned"
		info "extracting $src into $MEDIA_TMP"
		tar -xf "$src" -C "$MEDIA_TMP" --no-same-owner --no-same-permissions -- "${members[@]}" ||
			die "cannot extract $src; nothing was changed"
		dir=$MEDIA_TMP/$top
	elif [ -d "$src" ]; then
		dir=$src
		# Where the tarball was extracted by hand: its top directory.
		[ -f "$dir/SHA256SUMS" ] || [ ! -f "$src/$top/SHA256SUMS" ] || dir=$src/$top
		[ -f "$dir/SHA256SUMS" ] || die "$src holds no SHA256SUMS: not a packages media; nothing was changed"
	else
		die "--packages-media $src: no such file or directory"
	fi
	check_media_sum "$src" "$(sha256sum "$dir/SHA256SUMS" | cut -d ' ' -f 1)"
	(cd "$dir" && sha256sum --quiet --strict -c SHA256SUMS) ||
		die "the packages media at $src does not match its SHA256SUMS: it is damaged or was altered; nothing was changed"
	for e in ${PACKAGES[@]+"${PACKAGES[@]}"}; do
		read -r name nevra file _ <<<"$e"
		awk -v f="packages/$file" '$2 == f { found = 1 } END { exit !found }' "$dir/SHA256SUMS" ||
			die "the packages media at $src does not list packages/$file ($nevra); nothing was changed"
	done
	info "SHA256SUMS has the sha256 the bundle pins, and every file on the media matches it"
	PKG_DIR=$dir/packages
	PKG_WHERE="the packages media at $src"
}

# check_media_sum SRC SUM refuses a media whose SHA256SUMS is not the one
# the bundle pins.
check_media_sum() {
	[ "$2" = "$MEDIA_SHA256" ] ||
		die "the packages media at $1 is not the one this bundle was built for: its SHA256SUMS has sha256 ${2:-(none: no $PGHA_CLUSTER-packages/SHA256SUMS)}, the bundle pins $MEDIA_SHA256 (another build's media, or altered); nothing was changed"
}

# release_media unmounts the media we mounted and removes what we extracted;
# the scripts run it on exit.
release_media() {
	if [ -n "$MEDIA_MOUNT" ]; then
		umount "$MEDIA_MOUNT" || warn "cannot unmount $MEDIA_MOUNT"
		rmdir "$MEDIA_MOUNT" 2>/dev/null || true
		MEDIA_MOUNT=''
	fi
	if [ -n "$MEDIA_TMP" ]; then
		rm -rf "$MEDIA_TMP"
		MEDIA_TMP=''
	fi
}

# verify_signatures runs rpm -K on every package against the bundled keys,
# imported into a throwaway rpm database: the host keyring is not touched.
verify_signatures() {
	step "verify package signatures"
	if [ ${#PACKAGES[@]} -eq 0 ]; then
		info "the bundle carries no packages"
		return 0
	fi
	local db keys=() k out name nevra file e
	db=$(mktemp -d)
	for k in "$PKG_DIR"/keys/*; do
		[ -f "$k" ] || continue
		keys+=("$k")
		rpm --dbpath "$db" --import "$k" || { rm -rf "$db"; die "cannot import key $(basename "$k")"; }
	done
	[ ${#keys[@]} -gt 0 ] || warn "$PKG_WHERE carries no signing key: checking digests only"
	for e in ${PACKAGES[@]+"${PACKAGES[@]}"}; do
		read -r name nevra file _ <<<"$e"
		if ! out=$(rpm --dbpath "$db" -K "$PKG_DIR/$file" 2>&1); then
			rm -rf "$db"
			die "rpm -K $file: $out; nothing was changed"
		fi
		case $out in *"NOT OK"* | *"not OK"* | *"MISSING KEYS"*)
			rm -rf "$db"
			die "rpm -K $file: $out; nothing was changed"
			;;
		esac
		if [ ${#keys[@]} -gt 0 ] && ! rpm_k_signed "$out"; then
			rm -rf "$db"
			die "rpm -K $file: $out: not signed by a bundled key; nothing was changed"
		fi
		info "$file: ${out##*: }"
	done
	rm -rf "$db"
}

# rpm_k_signed succeeds when the last line of rpm -K's output reports a
# verified signature, as each rpm prints it (lib/rpmchecksig.c):
#   4.14.2+, 4.16+:  "FILE: digests signatures OK"
#   4.11, 4.14.0/1:  "FILE: rsa sha1 (md5) pgp md5 OK", "(sha1) dsa sha1 md5 gpg OK"
#                    (verified signatures lowercase; bad or unknown-key ones
#                    uppercase, and the line then ends NOT OK (MISSING KEYS: ...))
# Digests alone ("digests OK", "sha1 md5 OK") are not a signature.
rpm_k_signed() {
	local line w
	line=$(printf '%s\n' "$1" | tail -n 1)
	line=${line#*: }
	case $line in *"NOT OK"* | *"MISSING KEYS"*) return 1 ;; *" OK") ;; *) return 1 ;; esac
	for w in $line; do
		w=${w//[()]/}
		case $w in signatures | rsa | dsa | pgp | gpg) return 0 ;; esac
	done
	return 1
}

# ---------------------------------------------------------------- packages

pkg_tool() {
	if [ -n "$PKG_TOOL" ]; then
		echo "$PKG_TOOL"
	elif [ "$PGHA_OS" = el7 ] && command -v yum >/dev/null; then
		echo yum
	elif command -v dnf >/dev/null; then
		echo dnf
	elif command -v yum >/dev/null; then
		echo yum
	else
		echo rpm
	fi
}

# installed_nvra prints the installed name-version-release.arch of a package.
installed_nvra() {
	rpm ${ROOT:+--root "$ROOT"} -q --qf '%{NAME}-%{VERSION}-%{RELEASE}.%{ARCH}\n' "$1" 2>/dev/null | grep -v 'not installed' || true
}

# nvra drops the epoch from a NEVRA (name-epoch:version-release.arch).
nvra() { printf '%s\n' "$1" | sed 's/-[0-9][0-9]*:/-/'; }

# installed_evr prints the installed epoch:version-release of a package.
installed_evr() {
	rpm ${ROOT:+--root "$ROOT"} -q --qf '%|EPOCH?{%{EPOCH}}:{0}|:%{VERSION}-%{RELEASE}\n' "$1" 2>/dev/null |
		grep -v 'not installed' | head -n 1 || true
}

# nevra_evr NAME NEVRA prints epoch:version-release (epoch 0 when absent).
nevra_evr() {
	local evr=${2#"$1"-}
	evr=${evr%.*}
	case $evr in *:*) ;; *) evr=0:$evr ;; esac
	echo "$evr"
}

# rpmvercmp A B prints -1, 0 or 1 as rpm's rpmvercmp() orders two version
# (or release) strings: alternating digit and letter segments, ~ sorts
# before anything, ^ after the end but before any other segment.
rpmvercmp() {
	awk -v a="$1" -v b="$2" '
	function isal(c) { return c ~ /^[A-Za-z0-9]$/ }
	function cmp(one, two,    i, j, c1, c2, s1, s2, num) {
		if (one == two) return 0
		i = 1; j = 1
		while (i <= length(one) || j <= length(two)) {
			while (i <= length(one) && !isal(substr(one, i, 1)) && substr(one, i, 1) != "~" && substr(one, i, 1) != "^") i++
			while (j <= length(two) && !isal(substr(two, j, 1)) && substr(two, j, 1) != "~" && substr(two, j, 1) != "^") j++
			c1 = substr(one, i, 1); c2 = substr(two, j, 1)
			if (c1 == "~" || c2 == "~") {
				if (c1 != "~") return 1
				if (c2 != "~") return -1
				i++; j++; continue
			}
			if (c1 == "^" || c2 == "^") {
				if (c1 == "") return -1
				if (c2 == "") return 1
				if (c1 != "^") return 1
				if (c2 != "^") return -1
				i++; j++; continue
			}
			if (c1 == "" || c2 == "") break
			if (c1 ~ /[0-9]/) {
				num = 1
				match(substr(one, i), /^[0-9]+/); s1 = substr(one, i, RLENGTH); i += RLENGTH
				if (match(substr(two, j), /^[0-9]+/)) { s2 = substr(two, j, RLENGTH); j += RLENGTH } else s2 = ""
			} else {
				num = 0
				match(substr(one, i), /^[A-Za-z]+/); s1 = substr(one, i, RLENGTH); i += RLENGTH
				if (match(substr(two, j), /^[A-Za-z]+/)) { s2 = substr(two, j, RLENGTH); j += RLENGTH } else s2 = ""
			}
			if (s2 == "") return num ? 1 : -1
			if (num) {
				sub(/^0+/, "", s1); sub(/^0+/, "", s2)
				if (length(s1) != length(s2)) return length(s1) > length(s2) ? 1 : -1
			}
			if (s1 != s2) return s1 > s2 ? 1 : -1
		}
		if (i > length(one) && j > length(two)) return 0
		return i > length(one) ? -1 : 1
	}
	BEGIN { print cmp(a, b) }'
}

# evr_cmp A B prints -1, 0 or 1 comparing two epoch:version-release.
evr_cmp() {
	local e1=${1%%:*} e2=${2%%:*} vr1=${1#*:} vr2=${2#*:} c
	if [ "$e1" != "$e2" ]; then
		if [ "$e1" -gt "$e2" ]; then echo 1; else echo -1; fi
		return 0
	fi
	c=$(rpmvercmp "${vr1%-*}" "${vr2%-*}")
	if [ "$c" != 0 ]; then
		echo "$c"
		return 0
	fi
	rpmvercmp "${vr1##*-}" "${vr2##*-}"
}

# packages_to_install prints "name new|upgrade|newer file" for each package
# of the bundle not installed at its exact version; "newer" when the
# installed one is newer than the bundle's (kept: it satisfies the bundle).
packages_to_install() {
	local name nevra file have e
	for e in ${PACKAGES[@]+"${PACKAGES[@]}"}; do
		read -r name nevra file _ <<<"$e"
		have=$(installed_nvra "$name")
		if [ -z "$have" ]; then
			echo "$name new $file"
		elif ! grep -qxF "$(nvra "$nevra")" <<<"$have"; then
			if [ "$(evr_cmp "$(installed_evr "$name")" "$(nevra_evr "$name" "$nevra")")" -ge 0 ]; then
				echo "$name newer $file"
			else
				echo "$name upgrade $file"
			fi
		fi
	done
}

# packages_pending prints the lines of packages_to_install that need the
# package tool (new or upgrade), and says which installed ones are newer.
packages_pending() {
	local name kind file
	while read -r name kind file; do
		[ -n "$name" ] || continue
		if [ "$kind" = newer ]; then
			info "$name: $(installed_nvra "$name" | head -n 1) is installed, newer than the bundle's ${file%.rpm}: kept" >&2
		else
			echo "$name $kind $file"
		fi
	done <<<"$(packages_to_install)"
}

install_packages() {
	step "install packages offline"
	if [ "$NO_PACKAGES" = 1 ]; then
		info "--no-packages: using the packages already on this host"
		return 0
	fi
	local todo name kind file files=() new=() tool
	todo=$(packages_pending)
	if [ -z "$todo" ]; then
		info "every package is installed at the bundle's version or newer"
		# An earlier run's package tool may have installed them and failed
		# afterwards, before the receipt took their versions.
		record_installed_packages
		save_receipt || true
		return 0
	fi
	while read -r name kind file; do
		files+=("$PKG_DIR/$file")
		[ "$kind" = new ] && new+=("$name")
		info "$kind: $file"
		SERVICE_CHANGED[$(package_service "$name")]=1
	done <<<"$todo"
	# Recorded before the tool runs: a half-done transaction is still undone
	# by uninstall.sh (which removes only what is installed).
	local n
	for n in ${new[@]+"${new[@]}"}; do
		record_package "$n" "$(package_fact "$n" 2)"
	done
	save_receipt || true
	tool=$(pkg_tool)
	# Offline: every repository off, only the bundle's files (dnf and yum take
	# them as a command-line repository). --nogpgcheck because verify_signatures
	# has already checked each file with rpm -K against the bundle's own keys,
	# which the host's rpm database need not hold; it is never run without that.
	case $tool in
	yum) run yum -y --disablerepo='*' --nogpgcheck ${ROOT:+--installroot="$ROOT"} localinstall "${files[@]}" ;;
	dnf) run dnf -y --disablerepo='*' --nogpgcheck ${ROOT:+--installroot="$ROOT"} install "${files[@]}" ;;
	rpm) run rpm -Uvh ${ROOT:+--root "$ROOT"} "${files[@]}" ;;
	*) die "unknown package tool $tool (want yum, dnf or rpm)" ;;
	esac
	changed "installed ${#files[@]} package(s) with $tool"
	# Packages we installed earlier and upgraded now: record the new NEVRA.
	local e nevra
	for e in ${PACKAGES[@]+"${PACKAGES[@]}"}; do
		read -r name nevra _ <<<"$e"
		if receipt_has_package "$name"; then record_package "$name" "$nevra"; fi
	done
	save_receipt || true
}

# record_installed_packages: the receipt takes the bundle's NEVRA of each
# package it records that is installed at exactly that version.
record_installed_packages() {
	local e name nevra
	for e in ${PACKAGES[@]+"${PACKAGES[@]}"}; do
		read -r name nevra _ <<<"$e"
		if receipt_has_package "$name" && grep -qxF "$(nvra "$nevra")" <<<"$(installed_nvra "$name")"; then
			record_package "$name" "$nevra"
		fi
	done
}

# package_fact NAME N prints field N (1 name, 2 NEVRA, 3 file, 4 service)
# of the bundle's package NAME.
package_fact() {
	local e fld
	for e in ${PACKAGES[@]+"${PACKAGES[@]}"}; do
		read -r -a fld <<<"$e"
		if [ "${fld[0]}" = "$1" ]; then
			echo "${fld[$2 - 1]}"
			return 0
		fi
	done
}

# package_service prints the unit a package of the bundle belongs to.
package_service() { package_fact "$1" 4; }

receipt_has_package() {
	local e
	for e in ${R_PACKAGES[@]+"${R_PACKAGES[@]}"}; do
		[ "${e%% *}" = "$1" ] && return 0
	done
	return 1
}

record_package() {
	local e out=()
	for e in ${R_PACKAGES[@]+"${R_PACKAGES[@]}"}; do
		[ "${e%% *}" = "$1" ] || out+=("$e")
	done
	out+=("$1 $2")
	R_PACKAGES=("${out[@]}")
}

# check_binaries runs after the package step: a binary missing (with
# --no-packages, or a wrong image) stops here with the list, rather than as
# a health-gate timeout later.
check_binaries() {
	step "binaries"
	if [ "$DRY_RUN" = 1 ]; then
		info "dry run: the binaries are checked after the package step"
		return 0
	fi
	local v b missing=()
	if backup_host; then
		binary_present "$PGHA_PGBACKREST_BIN" || die "missing or not executable: $PGHA_PGBACKREST_BIN (the pgBackRest package not installed? --no-packages on an image without it?)"
		info "pgBackRest is in place"
		return 0
	fi
	for v in PGHA_ETCD_BIN PGHA_ETCDCTL_BIN PGHA_PATRONI_BIN PGHA_PATRONICTL_BIN PGHA_HAPROXY_BIN ${PGHA_BACKUP_STANZA:+PGHA_PGBACKREST_BIN}; do
		b=${!v:-}
		if [ -z "$b" ]; then
			missing+=("$v(unset)")
		elif ! binary_present "$b"; then
			missing+=("$b")
		fi
	done
	if [ -z "${PGHA_PG_BIN_DIR:-}" ]; then
		missing+=("PGHA_PG_BIN_DIR(unset)")
	else
		for b in postgres pg_ctl initdb pg_controldata; do
			binary_present "$PGHA_PG_BIN_DIR/$b" || missing+=("$PGHA_PG_BIN_DIR/$b")
		done
	fi
	if [ ${#missing[@]} -gt 0 ]; then
		die "missing or not executable: ${missing[*]} (packages not installed? --no-packages on an image without them?)"
	fi
	info "etcd, Patroni, HAProxy and PostgreSQL binaries are in place"
}

# binary_present: an absolute path is executable (under the root), a bare
# name is on PATH.
binary_present() {
	case $1 in
	*/*) [ -f "$ROOT$1" ] && [ -x "$ROOT$1" ] ;;
	*) command -v "$1" >/dev/null ;;
	esac
}

# ---------------------------------------------------------------- accounts

user_exists() {
	if [ -n "$ROOT" ]; then grep -q "^$1:" "$ROOT${P[passwd]}" 2>/dev/null; else getent passwd "$1" >/dev/null; fi
}
group_exists() {
	if [ -n "$ROOT" ]; then grep -q "^$1:" "$ROOT${P[group]}" 2>/dev/null; else getent group "$1" >/dev/null; fi
}
uid_of() {
	if [ -n "$ROOT" ]; then awk -F: -v n="$1" '$1 == n { print $3; exit }' "$ROOT${P[passwd]}"; else getent passwd "$1" | cut -d: -f3; fi
}
primary_gid_of() {
	if [ -n "$ROOT" ]; then awk -F: -v n="$1" '$1 == n { print $4; exit }' "$ROOT${P[passwd]}"; else getent passwd "$1" | cut -d: -f4; fi
}
gid_of() {
	if [ -n "$ROOT" ]; then awk -F: -v n="$1" '$1 == n { print $3; exit }' "$ROOT${P[group]}"; else getent group "$1" | cut -d: -f3; fi
}

# ids OWNER GROUP sets IDS_UID and IDS_GID, looked up once per name.
declare -A UID_OF=() GID_OF=()
ids() {
	[ -n "${UID_OF[$1]:-}" ] || UID_OF[$1]=$(uid_of "$1")
	[ -n "${GID_OF[$2]:-}" ] || GID_OF[$2]=$(gid_of "$2")
	IDS_UID=${UID_OF[$1]}
	IDS_GID=${GID_OF[$2]}
	if [ -z "$IDS_UID" ] || [ -z "$IDS_GID" ]; then die "account $1:$2 does not exist"; fi
}

home_of() {
	case $1 in
	postgres | etcd | haproxy) echo "${P[${1}_home]}" ;;
	*) echo / ;;
	esac
}

# ensure_accounts creates the service accounts the payload's files belong to
# when the packages did not.
ensure_accounts() {
	step "service accounts"
	local names u e fld
	names=$(
		for e in ${FILES[@]+"${FILES[@]}"}; do
			read -r -a fld <<<"$e"
			printf '%s\n' "${fld[1]}" "${fld[2]}"
		done
		echo postgres
	)
	names=$(sort -u <<<"$names")
	for u in $names; do
		[ "$u" = root ] && continue
		if user_exists "$u"; then
			continue
		fi
		if group_exists "$u"; then
			run useradd ${ROOT:+--root "$ROOT"} --system --no-create-home --home-dir "$(home_of "$u")" \
				--shell "${P[nologin]}" --gid "$u" "$u"
		else
			run useradd ${ROOT:+--root "$ROOT"} --system --no-create-home --home-dir "$(home_of "$u")" \
				--shell "${P[nologin]}" --user-group "$u"
		fi
		has "$u" ${R_USERS[@]+"${R_USERS[@]}"} || R_USERS+=("$u")
		save_receipt || true
		changed "created account $u"
	done
	info "accounts present: $(echo "$names" | tr '\n' ' ')"
}

# ---------------------------------------------------------------- files

# ensure_owner_mode fixes the mode and ownership of an existing path.
ensure_owner_mode() { # path mode owner group
	local p=$1 mode=$2 uid gid cur
	if [ "$DRY_RUN" = 1 ] && ! user_exists "$3"; then return 0; fi
	ids "$3" "$4"
	uid=$IDS_UID
	gid=$IDS_GID
	local cmode cuid cgid
	read -r cmode cuid cgid < <(stat -c '%a %u %g' "$p")
	if [ $((8#$cmode)) -ne $((8#$mode)) ] || [ "$cuid" != "$uid" ] || [ "$cgid" != "$gid" ]; then
		run chmod "$mode" "$p"
		run chown "$uid:$gid" "$p"
		changed "mode/owner of ${p#"$ROOT"}"
	fi
}

# make_dirs creates a missing directory and its missing parents with mode
# 0755 whatever the caller's umask (the seed runs install.sh under umask
# 077): the service accounts must reach the files and data directories
# below them. ensure_owner_mode then sets the last one's own mode.
make_dirs() { # path
	[ -d "$1" ] || (umask 022 && run mkdir -p "$1")
}

ensure_dir() { # path mode owner group
	local d=$ROOT$1
	check_own_dir "the directory for $3" "$1"
	if [ ! -d "$d" ]; then
		make_dirs "$d"
		changed "created directory $1"
		[ "$DRY_RUN" = 1 ] && return 0
	fi
	ensure_owner_mode "$d" "$2" "$3" "$4"
}

ensure_dirs() {
	step "directories"
	local parent=${PGHA_PGDATA%/*}
	if [ -n "$parent" ] && [ ! -d "$ROOT$parent" ]; then
		ensure_dir "$parent" 0700 postgres postgres
	elif [ "$DRY_RUN" = 0 ]; then
		check_pgdata_parent
	fi
	ensure_dir "$PGHA_PGDATA" 0700 postgres postgres
	ensure_dir "$PGHA_ETCD_DATA_DIR" 0700 "$(etcd_user)" "$(etcd_user)"
	if [ -n "${PGHA_ARCHIVE_DIR:-}" ]; then ensure_dir "$PGHA_ARCHIVE_DIR" 0700 postgres postgres; fi
	info "PGDATA, etcd data and archive directories in place"
}

etcd_user() { if user_exists etcd; then echo etcd; else echo root; fi; }

# install_file puts one payload file in place atomically (temp file + mv).
# A file we did not create is never overwritten unless it equals ours: it is
# kept as PATH.pgha-orig and recorded as a backup.
install_file() { # mode owner group sha256 path
	local mode=$1 owner=$2 group=$3 want=$4 path=$5
	local src=$BUNDLE_DIR/files$path dst=$ROOT$path cur ours
	ours=$(receipt_sha256 "$path")
	if [ -e "$dst" ] || [ -L "$dst" ]; then
		cur=$(file_sha256 "$dst")
		if [ "$cur" = "$want" ]; then
			ensure_owner_mode "$dst" "$mode" "$owner" "$group"
			record_file "$path $want $mode $owner $group"
			return 0
		fi
		if [ -z "$ours" ]; then
			if [ -e "$dst.pgha-orig" ]; then
				die "$path exists, is not ours and $path.pgha-orig is taken: move one of them away"
			fi
			run cp -p "$dst" "$dst.pgha-orig"
			R_BACKUPS+=("$path $path.pgha-orig")
			save_receipt || true
			info "kept the existing $path as $path.pgha-orig"
		elif [ "$cur" != "$ours" ]; then
			run cp -p "$dst" "$dst.pgha-modified"
			warn "$path was modified on this host since it was installed: kept as $path.pgha-modified"
		fi
	fi
	local dir tmp
	dir=${dst%/*}
	make_dirs "$dir"
	tmp=$dir/.${dst##*/}.pgha-tmp.$$
	if [ "$DRY_RUN" = 1 ]; then
		info "would install $path ($mode $owner:$group)"
	else
		local uid gid
		ids "$owner" "$group"
		uid=$IDS_UID
		gid=$IDS_GID
		(umask 077 && cp "$src" "$tmp")
		chmod "$mode" "$tmp"
		chown "$uid:$gid" "$tmp"
		mv -f "$tmp" "$dst"
	fi
	changed "installed $path"
	case $path in "${P[unit_dir]}"/*) DAEMON_RELOAD=1 ;; esac
	mark_service "$path"
	[ "$path" = "${P[dcs_config]}" ] && DCS_CHANGED=1
	record_file "$path $want $mode $owner $group"
	save_receipt || true
}

record_file() {
	local e out=() p=${1%% *}
	for e in ${R_FILES[@]+"${R_FILES[@]}"}; do
		[ "${e%% *}" = "$p" ] || out+=("$e")
	done
	out+=("$1")
	R_FILES=("${out[@]}")
}

install_files() {
	step "install configuration files"
	local e mode owner group sum path n=$CHANGES
	for e in ${FILES[@]+"${FILES[@]}"}; do
		read -r mode owner group sum path <<<"$e"
		install_file "$mode" "$owner" "$group" "$sum" "$path"
	done
	[ "$n" = "$CHANGES" ] && info "every file is up to date"
	return 0
}

# merge_hosts puts the bundle's block of /etc/hosts (rendered once by
# pgha-bundle, its marker lines included: the seed script writes the same
# bytes) in place of the cluster's block, keeping every other line.
merge_hosts() {
	step "merge ${P[etc_hosts]}"
	local src=$BUNDLE_DIR/files${P[hosts_block]} dst=$ROOT${P[etc_hosts]} new
	[ -r "$src" ] || {
		info "no hosts block in the bundle"
		return 0
	}
	new=$(hosts_without_block "$dst" "$src"
		cat "$src")
	if [ -r "$dst" ] && [ "$(cat "$dst")" = "$new" ]; then
		info "${P[etc_hosts]} already holds the members"
		return 0
	fi
	write_in_place "$dst" "$new"
	changed "${P[etc_hosts]} block for $PGHA_CLUSTER"
}

# hosts_without_block HOSTS BLOCK prints HOSTS without the lines from
# BLOCK's first line (its begin marker) to its last (its end marker).
hosts_without_block() {
	[ -r "$1" ] || return 0
	local begin end
	begin=$(head -n 1 "$2")
	end=$(tail -n 1 "$2")
	awk -v b="$begin" -v e="$end" '
		$0 == b { skip = 1; next }
		$0 == e { skip = 0; next }
		!skip' "$1"
}

# write_in_place rewrites a file keeping its inode, hence its SELinux label
# (net_conf_t for /etc/hosts), owner and mode: the content is written to a
# temporary file first, then copied over the file. A file that did not exist
# gets the default label with restorecon when SELinux is on.
write_in_place() { # path content
	[ "$DRY_RUN" = 1 ] && return 0
	local tmp
	mkdir -p "${1%/*}"
	tmp=$(mktemp "${1%/*}/.${1##*/}.pgha-tmp.XXXXXX")
	printf '%s\n' "$2" >"$tmp"
	if [ -e "$1" ]; then
		cat "$tmp" >"$1"
		rm -f "$tmp"
		return 0
	fi
	chmod 0644 "$tmp"
	mv -f "$tmp" "$1"
	if command -v selinuxenabled >/dev/null && selinuxenabled && command -v restorecon >/dev/null; then
		restorecon "$1"
	fi
}

# ---------------------------------------------------------------- host setup

mask_distro_postgresql() {
	step "mask the distribution's postgresql unit"
	if [ "$NO_START" = 1 ]; then
		info "--no-start: not touching systemd"
		return 0
	fi
	local u
	for u in ${MASK_UNITS[@]+"${MASK_UNITS[@]}"}; do
		if [ "$(systemctl is-enabled "$u" 2>/dev/null || true)" = masked ]; then
			info "$u is masked"
			continue
		fi
		has "$u" ${R_MASKED[@]+"${R_MASKED[@]}"} || R_MASKED+=("$u")
		save_receipt || true
		run systemctl mask "$u"
		changed "masked $u"
	done
}

# zone_ports are opened to the whole zone (clients reach PostgreSQL and
# HAProxy from anywhere the zone allows), member_ports (etcd client and
# peer, Patroni's REST API) to the members' addresses only: the facts say
# which is which.
zone_ports() { printf '%s\n' ${ZONE_PORTS[@]+"${ZONE_PORTS[@]}"}; }
member_ports() { printf '%s\n' ${MEMBER_PORTS[@]+"${MEMBER_PORTS[@]}"}; }

member_addresses() {
	local m
	for m in ${MEMBERS[@]+"${MEMBERS[@]}"}; do echo "${m#* }"; done
}

# rich_rule ADDRESS PORT/tcp prints the firewalld rich rule accepting it;
# rich_rule ADDRESS vrrp the one accepting VRRP from it.
rich_rule() {
	local family=ipv4 len=32
	case $1 in *:*) family=ipv6 len=128 ;; esac
	if [ "$2" = vrrp ]; then
		printf 'rule family="%s" source address="%s/%s" protocol value="vrrp" accept' "$family" "$1" "$len"
		return 0
	fi
	printf 'rule family="%s" source address="%s/%s" port port="%s" protocol="tcp" accept' \
		"$family" "$1" "$len" "${2%/tcp}"
}

# member_rules prints the receipt entries of the rich rules the members
# need: "ADDRESS PORT/tcp" for every member and member port, and with a VIP
# "ADDRESS vrrp" for every other member (VRRP, IP protocol 112, from no one
# else).
member_rules() {
	local p a e
	for p in $(member_ports); do
		for a in $(member_addresses); do echo "$a $p/tcp"; done
	done
	# pgBackRest's TLS server: the backup host on a member, the members on
	# the backup host.
	for e in ${PGBR_PEERS[@]+"${PGBR_PEERS[@]}"}; do echo "${e#* } $PGBR_TLS_PORT/tcp"; done
	vip_on || return 0
	for a in $(member_addresses); do
		[ "$a" = "$PGHA_ADDRESS" ] || echo "$a vrrp"
	done
}

# rule_what ENTRY says what a receipt rule entry lets in, for the log.
rule_what() {
	case $1 in
	*" vrrp") echo "VRRP from ${1%% *}" ;;
	*) echo "${1#* } to ${1%% *}" ;;
	esac
}

# fw_list reads firewalld's open ports and rich rules, permanent and at
# runtime, once: each firewall-cmd starts Python (about a second on a busy
# host), and a member has a rule for every member and member port.
FW_PORTS_PERM=""
FW_PORTS_RT=""
FW_RULES_PERM=""
FW_RULES_RT=""
fw_list() {
	FW_PORTS_PERM=$(firewall-cmd --permanent --list-ports 2>/dev/null) || FW_PORTS_PERM=""
	FW_PORTS_RT=$(firewall-cmd --list-ports 2>/dev/null) || FW_PORTS_RT=""
	FW_RULES_PERM=$(firewall-cmd --permanent --list-rich-rules 2>/dev/null) || FW_RULES_PERM=""
	FW_RULES_RT=$(firewall-cmd --list-rich-rules 2>/dev/null) || FW_RULES_RT=""
}

# fw_has_port perm|rt PORT/tcp tells whether fw_list found the port open
# to the zone, alone or in a range ("5000-5010/tcp"), as firewall-cmd
# --query-port answers.
fw_has_port() {
	local list=$FW_PORTS_RT e lo hi n=${2%/*}
	[ "$1" = perm ] && list=$FW_PORTS_PERM
	for e in $list; do
		[ "${e#*/}" = "${2#*/}" ] || continue
		e=${e%/*}
		lo=${e%-*} hi=${e#*-}
		case $lo$hi in *[!0-9]*) continue ;; esac
		[ "$n" -ge "$lo" ] && [ "$n" -le "$hi" ] && return 0
	done
	return 1
}

# fw_has_rule perm|rt RULE tells whether fw_list found RULE (firewalld
# lists a rule in the form rich_rule writes it).
fw_has_rule() {
	local list=$FW_RULES_RT
	[ "$1" = perm ] && list=$FW_RULES_PERM
	# Never "printf | grep -q" under pipefail: grep stops at the first match,
	# printf may then die of SIGPIPE, and the pipeline fails although found.
	grep -qxF -- "$2" <<<"$list"
}

# fw_apply perm|rt OPTION ITEM... gives firewalld every item in one call,
# firewall-cmd [--permanent] --OPTION=ITEM1 --OPTION=ITEM2 ..., nothing
# without items. OPTION is add-port, remove-port, add-rich-rule or
# remove-rich-rule, one kind per call: firewall-cmd acts on one kind and
# ignores the others. With several items it exits 0 when one was done and
# only warns about the others, so any warning but ALREADY_ENABLED or
# NOT_ENABLED (done already) stops us, as the item's own call would have.
fw_apply() {
	local where=runtime opt=$2 it err line status=0 refused=0 args=()
	[ "$1" = perm ] && where=permanent args+=(--permanent)
	shift 2
	[ $# -gt 0 ] || return 0
	for it in "$@"; do args+=("--$opt=$it"); done
	if [ "$DRY_RUN" = 1 ]; then
		run firewall-cmd "${args[@]}"
		return 0
	fi
	err=$(firewall-cmd "${args[@]}" 2>&1 >/dev/null) || status=$?
	[ -z "$err" ] || printf '%s\n' "$err" >&2
	while IFS= read -r line; do
		case $line in
		"Warning: ALREADY_ENABLED:"* | "Warning: NOT_ENABLED:"*) ;;
		Warning:*) refused=1 ;;
		esac
	done <<<"$err"
	if [ "$status" != 0 ] || [ "$refused" = 1 ]; then
		die "firewalld refused some of $# --$opt items ($where, firewall-cmd exit $status)"
	fi
}

# open_firewall opens the zone ports to the zone and the member ports (and
# VRRP) to the members, adding only what firewalld lacks and recording in
# the receipt only what it lacked permanently (an operator's own rule stays
# theirs), with one firewall-cmd per option, runtime and permanent.
open_firewall() {
	step "firewalld"
	if ! command -v firewall-cmd >/dev/null || ! firewall-cmd --state >/dev/null 2>&1; then
		info "firewalld is not running: nothing to open"
		return 0
	fi
	fw_list
	local p e rule keep=() narrow=() perm=() rt=() perm_rules=() rt_rules=()
	for p in $(zone_ports); do
		if ! fw_has_port perm "$p/tcp"; then
			has "$p/tcp" ${R_PORTS[@]+"${R_PORTS[@]}"} || R_PORTS+=("$p/tcp")
			perm+=("$p/tcp")
		fi
		fw_has_port rt "$p/tcp" || rt+=("$p/tcp")
	done
	# Recorded before they are added: an install that stops now still
	# closes them on uninstall.
	save_receipt || true
	fw_apply perm add-port ${perm[@]+"${perm[@]}"}
	for p in ${perm[@]+"${perm[@]}"}; do changed "firewalld: opened $p (permanent)"; done
	fw_apply rt add-port ${rt[@]+"${rt[@]}"}
	for p in ${rt[@]+"${rt[@]}"}; do changed "firewalld: opened $p (runtime)"; done

	# An earlier install opened the member ports to the whole zone: close them.
	for p in ${R_PORTS[@]+"${R_PORTS[@]}"}; do
		if grep -qx "${p%/tcp}" <<<"$(member_ports)"; then narrow+=("$p"); else keep+=("$p"); fi
	done
	fw_apply perm remove-port ${narrow[@]+"${narrow[@]}"}
	fw_apply rt remove-port ${narrow[@]+"${narrow[@]}"}
	for p in ${narrow[@]+"${narrow[@]}"}; do changed "firewalld: closed $p to the zone (members only now)"; done
	R_PORTS=(${keep[@]+"${keep[@]}"})

	perm=() rt=()
	while IFS= read -r e; do
		rule=$(rich_rule "${e%% *}" "${e#* }")
		if ! fw_has_rule perm "$rule"; then
			has "$e" ${R_RULES[@]+"${R_RULES[@]}"} || R_RULES+=("$e")
			perm+=("$e")
			perm_rules+=("$rule")
		fi
		if ! fw_has_rule rt "$rule"; then
			rt+=("$e")
			rt_rules+=("$rule")
		fi
	done < <(member_rules)
	save_receipt || true
	fw_apply perm add-rich-rule ${perm_rules[@]+"${perm_rules[@]}"}
	for e in ${perm[@]+"${perm[@]}"}; do changed "firewalld: opened $(rule_what "$e") (permanent)"; done
	fw_apply rt add-rich-rule ${rt_rules[@]+"${rt_rules[@]}"}
	for e in ${rt[@]+"${rt[@]}"}; do changed "firewalld: opened $(rule_what "$e") (runtime)"; done
	info "client ports open to the zone, etcd and Patroni ports to the members only"
	if vip_on; then info "VRRP open to the members only"; fi
	close_stale_rules
}

# close_stale_rules removes the rich rules we added that the members no
# longer need: an address that left the cluster (upgrade.sh of a build
# without it), a member port that moved, VRRP once the cluster has no VIP.
# The receipt forgets them.
close_stale_rules() {
	local e wanted keep=() stale=() rules=()
	wanted=$(member_rules)
	for e in ${R_RULES[@]+"${R_RULES[@]}"}; do
		if grep -qxF -- "$e" <<<"$wanted"; then
			keep+=("$e")
		else
			stale+=("$e")
			rules+=("$(rich_rule "${e%% *}" "${e#* }")")
		fi
	done
	fw_apply perm remove-rich-rule ${rules[@]+"${rules[@]}"}
	fw_apply rt remove-rich-rule ${rules[@]+"${rules[@]}"}
	for e in ${stale[@]+"${stale[@]}"}; do changed "firewalld: closed $(rule_what "$e") (no member needs it)"; done
	R_RULES=(${keep[@]+"${keep[@]}"})
	save_receipt || true
}

selinux_setup() {
	step "SELinux"
	local mode
	if ! command -v getenforce >/dev/null; then
		info "SELinux tools absent: nothing to do"
		return 0
	fi
	mode=$(getenforce)
	if [ "$mode" != Enforcing ]; then
		info "SELinux is $mode: nothing to do"
		return 0
	fi
	# HAProxy connects to PostgreSQL and Patroni ports and binds its own.
	if ! grep -q 'on$' <<<"$(getsebool haproxy_connect_any 2>/dev/null)"; then
		run setsebool -P haproxy_connect_any 1
		changed "SELinux boolean haproxy_connect_any on"
	fi
	local labels
	labels=$(semanage port -l 2>/dev/null | awk '$1 == "postgresql_port_t" && $2 == "tcp"')
	if ! grep -qx "$PGHA_PORT_POSTGRESQL" <<<"$(tr -s ', ' '\n' <<<"$labels")"; then
		run semanage port -a -t postgresql_port_t -p tcp "$PGHA_PORT_POSTGRESQL" ||
			run semanage port -m -t postgresql_port_t -p tcp "$PGHA_PORT_POSTGRESQL"
		changed "SELinux port $PGHA_PORT_POSTGRESQL/tcp labelled postgresql_port_t"
	fi
	selinux_fcontexts
	info "SELinux booleans, port labels and file contexts in place"
}

# selinux_type_of prints the SELinux type the policy's file contexts (with
# local rules) give a path, or nothing when it cannot tell.
selinux_type_of() {
	command -v matchpathcon >/dev/null || return 0
	matchpathcon -n "$1" 2>/dev/null | awk -F: 'NF >= 3 { print $3 }'
}

# selinux_fcontexts gives each data directory the spec moved away from EL's
# default (the facts list them: PGDATA and the WAL archive away from
# /var/lib/pgsql, etcd's data away from /var/lib/etcd) the type the policy
# gives the default (postgresql_db_t for /var/lib/pgsql; for /var/lib/etcd
# whatever the host's policy says: container_var_lib_t with
# container-selinux, else var_lib_t), as EL's documentation does for a
# non-default PGDATA: a rule semanage fcontext -a -t TYPE 'DIR(/.*)?', then
# restorecon -R DIR. Each rule added is recorded in the receipt;
# uninstall.sh deletes exactly those.
selinux_fcontexts() {
	local e def fallback dir want have
	for e in ${FCONTEXTS[@]+"${FCONTEXTS[@]}"}; do
		read -r def fallback dir <<<"$e"
		want=$(selinux_type_of "$def")
		[ -n "$want" ] || want=$fallback
		has "$dir $want" ${R_FCONTEXTS[@]+"${R_FCONTEXTS[@]}"} && continue
		have=$(selinux_type_of "$dir")
		[ "$have" = "$want" ] && continue
		run semanage fcontext -a -t "$want" "$dir(/.*)?" ||
			die "semanage fcontext -a -t $want '$dir(/.*)?' failed (a local rule labels $dir ${have:-otherwise}?): label $dir $want yourself or move it under $def"
		has "$dir $want" ${R_FCONTEXTS[@]+"${R_FCONTEXTS[@]}"} || R_FCONTEXTS+=("$dir $want")
		save_receipt || true
		run restorecon -R "$ROOT$dir" || die "restorecon -R $dir failed: its files keep their old labels"
		changed "SELinux file context $want for $dir (was ${have:-unknown})"
	done
}

# remove_fcontexts deletes the SELinux file context rules the receipt
# records and relabels what is left of those directories by the policy.
remove_fcontexts() {
	step "SELinux file contexts"
	if [ ${#R_FCONTEXTS[@]} -eq 0 ]; then
		info "no file context rules added by us"
		return 0
	fi
	if ! command -v semanage >/dev/null; then
		warn "semanage absent: the file context rules we added stay: ${R_FCONTEXTS[*]}"
		return 0
	fi
	local e dir
	for e in "${R_FCONTEXTS[@]}"; do
		dir=${e%% *}
		run semanage fcontext -d -t "${e#* }" "$dir(/.*)?" ||
			warn "semanage fcontext -d '$dir(/.*)?' failed (already removed?)"
		if [ -d "$ROOT$dir" ] && command -v restorecon >/dev/null; then
			run restorecon -R "$ROOT$dir"
		fi
		changed "SELinux file context rule for $dir removed"
	done
}

setup_watchdog() {
	step "watchdog ($PGHA_WATCHDOG)"
	if [ "$PGHA_WATCHDOG" = off ]; then
		info "watchdog off"
		return 0
	fi
	if [ ! -e "$ROOT${P[watchdog]}" ]; then
		run modprobe softdog
		changed "loaded softdog"
	fi
	if [ "$DRY_RUN" = 1 ] && [ ! -e "$ROOT${P[watchdog]}" ]; then return 0; fi
	[ -e "$ROOT${P[watchdog]}" ] || die "no ${P[watchdog]} after loading softdog"
	local uid
	uid=$(uid_of postgres)
	if [ "$(stat -c %u "$ROOT${P[watchdog]}")" != "$uid" ]; then
		run chown "$uid" "$ROOT${P[watchdog]}"
		changed "${P[watchdog]} owned by postgres"
	fi
	info "${P[watchdog]} belongs to postgres"
}

# ---------------------------------------------------------------- services

# wait_for DESCRIPTION TIMEOUT COMMAND...: polls COMMAND until it succeeds or
# the deadline passes.
wait_for() {
	local what=$1 timeout=$2
	shift 2
	if [ "$DRY_RUN" = 1 ]; then
		info "would wait up to ${timeout}s for $what"
		return 0
	fi
	local deadline=$((SECONDS + timeout))
	until "$@"; do
		[ "$SECONDS" -lt "$deadline" ] || die "timed out after ${timeout}s waiting for $what"
		sleep "$POLL_INTERVAL"
	done
	info "$what"
}

etcd_healthy() {
	local tls=()
	case $PGHA_ETCD_ENDPOINT in
	https:*) tls=(--cacert "$ROOT${P[ca]}" --cert "$ROOT${P[cert]}" --key "$ROOT${P[etcd_key]}") ;;
	esac
	ETCDCTL_API=3 "$PGHA_ETCDCTL_BIN" --endpoints="$PGHA_ETCD_ENDPOINT" ${tls[@]+"${tls[@]}"} \
		endpoint health >/dev/null 2>&1
}

# http_code URL prints the status code of a GET (000: no answer). Its stdin
# is /dev/null: callers loop over members on theirs.
http_code() {
	curl -s -o /dev/null -w '%{http_code}' --max-time 5 --cacert "$ROOT${P[ca]}" "$1" </dev/null 2>/dev/null || true
}

patroni_healthy() { [ "$(http_code "$PATRONI_URL/health")" = 200 ]; }

# api_url ADDRESS prints the Patroni REST API URL of a member.
api_url() {
	local a=$1
	case $a in *:*) a="[$a]" ;; esac
	printf '%s://%s:%s' "${PATRONI_URL%%://*}" "$a" "$PGHA_PORT_PATRONI_API"
}

# haproxy_stats_csv prints HAProxy's stats CSV. The stats credentials go to
# curl on stdin, never on a command line or in the log.
haproxy_stats_csv() {
	printf 'user = "%s"\n' "$HAPROXY_STATS_AUTH" | curl -s -f --max-time 5 -K - "$HAPROXY_STATS_URL" 2>/dev/null
}

# haproxy_checked succeeds once every server has completed a health check,
# at least one is UP and exactly one is UP behind the read-write port (before
# 3.1 HAProxy starts servers as UP before their first check).
haproxy_checked() {
	local csv rw=$HAPROXY_RW_PROXY
	csv=$(haproxy_stats_csv) || return 1
	printf '%s\n' "$csv" | awk -F, -v rw="$rw" '
		NR == 1 { sub(/^# */, ""); for (i = 1; i <= NF; i++) col[$i] = i; next }
		$2 == "FRONTEND" || $2 == "BACKEND" || $1 == "" { next }
		{
			n++
			cs = $col["check_status"]
			if (cs == "" || cs ~ /INI/) bad++
			if ($col["status"] ~ /^UP/) { up++; if ($1 == rw) rwup++ }
		}
		END { exit !(n > 0 && bad == 0 && up > 0 && (rw == "" || rwup == 1)) }'
}

haproxy_config_ok() {
	local out
	# A dry run installed nothing: the config and the certificates it names
	# may not be there yet.
	if [ "$DRY_RUN" = 1 ]; then
		info "would run: $PGHA_HAPROXY_BIN -c -f ${P[haproxy_config]}"
		return 0
	fi
	if out=$("$PGHA_HAPROXY_BIN" -c -f "$ROOT${P[haproxy_config]}" 2>&1); then
		info "haproxy -c: configuration is valid"
	else
		# Error lines may quote the offending line: never its credentials.
		printf '%s\n' "$out" | sed 's/\(auth\|password\|insecure-password\).*/\1 <redacted>/' >&2
		die "haproxy -c rejects ${P[haproxy_config]}"
	fi
}

enable_unit() {
	if [ "$(systemctl is-enabled "$1" 2>/dev/null || true)" != enabled ]; then
		run systemctl enable "$1"
		changed "enabled $1"
	fi
}

# apply_service enables and starts a unit (--no-block for etcd: a notify unit
# of a new cluster blocks until a quorum is up), restarts or reloads it when
# its config, unit or package changed, then waits on its health.
apply_service() { # unit how(restart|reload)
	local u=$1 how=$2
	enable_unit "$u"
	if ! systemctl is-active --quiet "$u"; then
		run systemctl start --no-block "$u"
		changed "started $u"
	elif [ -n "${SERVICE_CHANGED[$u]:-}" ]; then
		if [ "$u" = etcd ]; then
			# Type=notify: a restart blocks until the member rejoins a quorum.
			run systemctl "$how" --no-block "$u"
		else
			run systemctl "$how" "$u"
		fi
		changed "${how}ed $u"
	fi
}

daemon_reload() {
	if [ "$DAEMON_RELOAD" = 1 ]; then
		run systemctl daemon-reload
		DAEMON_RELOAD=0
	fi
}

start_etcd() {
	join_etcd
	step "start etcd"
	apply_service etcd restart
	wait_for "etcd member $PGHA_NODE healthy" "$TIMEOUT_ETCD" etcd_healthy
}

start_patroni() {
	step "start Patroni"
	apply_service patroni reload
	wait_for "Patroni on $PGHA_NODE healthy (GET /health 200)" "$TIMEOUT_PATRONI" patroni_healthy
}

start_haproxy() {
	step "start HAProxy"
	haproxy_config_ok
	apply_service haproxy reload
	wait_for "HAProxy checked every server" "$TIMEOUT_HAPROXY" haproxy_checked
}

start_services() {
	if [ "$NO_START" = 1 ]; then
		step "start services"
		info "--no-start: not enabling or starting units"
		return 0
	fi
	step "reload systemd"
	if [ "$DAEMON_RELOAD" = 1 ]; then daemon_reload; else info "units unchanged"; fi
	start_etcd
	bootstrap_source_gate
	start_patroni
	start_haproxy
	start_keepalived
}

# ---------------------------------------------------------------- Patroni state

# patroni_members prints "name role state pending" for each member of the
# cluster as etcd holds it, from `patronictl list -f tsv`: role in Patroni's
# own spelling (leader, replica, sync_standby, standby_leader...), state with
# "_" for spaces ("start_failed", "in_archive_recovery"; "-" when empty),
# pending 1 when PostgreSQL waits for a restart. Columns are found by their
# header: they differ between versions, and Pending restart and Tags show
# only when a member has them. awk -F'\t' keeps empty fields (a leader's
# Lag), which bash's read would merge (a tab in IFS is whitespace).
patroni_members() {
	local out
	out=$("$PGHA_PATRONICTL_BIN" -c "$ROOT${P[patroni_config]}" list -f tsv "$PGHA_CLUSTER" 2>/dev/null) || return 1
	printf '%s\n' "$out" | awk -F'\t' '
		NR == 1 { for (i = 1; i <= NF; i++) col[$i] = i; if (!col["Member"] || !col["Role"] || !col["State"]) exit 1; next }
		$col["Member"] != "" {
			r = tolower($col["Role"]); gsub(/ /, "_", r)
			s = $col["State"]; gsub(/ /, "_", s); if (s == "") s = "-"
			print $col["Member"], r, s, (col["Pending restart"] && $col["Pending restart"] != "" ? 1 : 0)
		}'
}

# member_row prints this member's "role state pending" (patroni_members).
member_row() {
	local name rest
	while read -r name rest; do
		[ "$name" = "$PGHA_NODE" ] && { printf '%s\n' "$rest"; return 0; }
	done < <(patroni_members)
	return 1
}

# patroni_code PATH prints the status code of this member's REST API for
# PATH (000 when Patroni does not answer): GET /primary is 200 on the
# leader of a primary cluster, /leader on the holder of the leader key
# (standby leaders too), 503 elsewhere.
patroni_code() { http_code "$PATRONI_URL$1"; }

is_leader_role() { case $1 in master | primary | leader | standby_leader) return 0 ;; esac; return 1; }

# cluster_healthy [EXCEPT]: every member of the facts is running or
# streaming and there is exactly one leader. Members marked joins may be
# missing (not installed yet: the running members get the new build
# first). Member EXCEPT may be missing or in any state but leading (an
# upgrade resumed on a member whose Patroni an earlier run stopped).
cluster_healthy() {
	local except=${1:-} members want=0 leaders=0 n=0 name role state m
	members=$(patroni_members) || return 1
	for m in ${MEMBERS[@]+"${MEMBERS[@]}"}; do
		[ -n "${JOINING[${m%% *}]:-}" ] || [ "${m%% *}" = "$except" ] || want=$((want + 1))
	done
	while read -r name role state _; do
		[ -n "$name" ] || continue
		if [ "$name" = "$except" ]; then
			if is_leader_role "$role"; then return 1; fi
			continue
		fi
		n=$((n + 1))
		case $state in running | streaming) ;; *) return 1 ;; esac
		is_leader_role "$role" && leaders=$((leaders + 1))
	done <<<"$members"
	[ "$leaders" = 1 ] && { [ "$want" = 0 ] || [ "$n" -ge "$want" ]; }
}

# replica_streaming: this member's PostgreSQL runs (GET /health 200) and
# etcd lists it as a replica that streams: Patroni from 3.0.3 shows a
# replica's replication state (streaming, or "in archive recovery"), older
# ones "running".
replica_streaming() {
	local role state
	[ "$(patroni_code /health)" = 200 ] || return 1
	read -r role state _ < <(member_row) || return 1
	case $role in replica | sync_standby | quorum_standby) ;; *) return 1 ;; esac
	case $state in streaming | running) return 0 ;; esac
	return 1
}

not_leader() { [ "$(patroni_code /leader)" = 503 ]; }

# ---------------------------------------------------------------- virtual IP
# A cluster with a vip section: keepalived holds the address (its config and
# check script are payload files), HAProxy binds it through
# net.ipv4.ip_nonlocal_bind, and firewalld lets VRRP in from the members.

vip_on() { [ -n "${PGHA_VIP:-}" ]; }

# setup_vip_sysctl applies the payload's sysctl file now (it is read again
# at every boot): HAProxy must bind the VIP before this node holds it.
setup_vip_sysctl() {
	vip_on || return 0
	step "virtual IP $PGHA_VIP ($PGHA_VIP_MODE)"
	if [ "$(sysctl -n net.ipv4.ip_nonlocal_bind 2>/dev/null || echo 0)" != 1 ]; then
		run sysctl -q -p "$ROOT${P[vip_sysctl]}"
		changed "net.ipv4.ip_nonlocal_bind = 1"
	fi
	info "services may bind $PGHA_VIP before this node holds it"
}

# start_keepalived starts keepalived last: the address follows a check of
# HAProxy, which must be up and have checked its servers first.
start_keepalived() {
	vip_on || return 0
	step "start keepalived"
	apply_service keepalived restart
	wait_for "keepalived active" "$TIMEOUT_HAPROXY" systemctl is-active --quiet keepalived
}

# reload_keepalived_if_changed restarts keepalived after its config or
# package changed (upgrade.sh): a reload would keep a changed router id.
reload_keepalived_if_changed() {
	vip_on || return 0
	[ -n "${SERVICE_CHANGED[keepalived]:-}" ] || return 0
	step "restart keepalived on $PGHA_NODE"
	run systemctl restart keepalived
	changed "restarted keepalived"
}

# reset_nonlocal_bind (uninstall.sh) turns net.ipv4.ip_nonlocal_bind off
# again once our sysctl file is gone, unless another file sets it.
reset_nonlocal_bind() {
	local f
	[ -e "$ROOT${P[vip_sysctl]}" ] && return 0
	for f in "$ROOT${P[sysctl_conf]}" "$ROOT${P[sysctl_dir]}"/*.conf "$ROOT${P[run_sysctl_dir]}"/*.conf "$ROOT${P[vendor_sysctl_dir]}"/*.conf; do
		[ -f "$f" ] && grep -Eq '^[[:space:]]*net[./]ipv4[./]ip_nonlocal_bind[[:space:]]*=' "$f" && return 0
	done
	if [ "$(sysctl -n net.ipv4.ip_nonlocal_bind 2>/dev/null || echo 0)" = 1 ]; then
		run sysctl -q -w net.ipv4.ip_nonlocal_bind=0
		changed "net.ipv4.ip_nonlocal_bind = 0"
	fi
}

# ---------------------------------------------------------------- backups
# A cluster with a backup section: pgBackRest archives every primary's WAL
# into one repository that every member mounts (BACKUP_REPOS), the leader
# takes the scheduled backups (the timers of BACKUP_TIMERS start
# pgha-backup@KIND, which runs backup.sh KIND from LibexecDir).

backup_on() { [ -n "${PGHA_BACKUP_STANZA:-}" ]; }

# backup_repo_path prints the path of the repository on this machine's
# file systems: a member's mounted one (repo1), the backup host's own.
backup_repo_path() {
	local e idx type path
	for e in ${BACKUP_REPOS[@]+"${BACKUP_REPOS[@]}"}; do
		read -r idx type path _ <<<"$e"
		if [ "$type" = posix ]; then
			echo "$path"
			return 0
		fi
	done
	return 1
}

# pgbackrest_run runs pgbackrest for the stanza, with the node's
# configuration, as postgres (runuser when run as root): the repository's
# files and the socket's peer authentication are postgres's.
pgbackrest_run() {
	as_postgres "$PGHA_PGBACKREST_BIN" --config="$ROOT${P[pgbackrest_config]}" --stanza="$PGHA_BACKUP_STANZA" "$@"
}

# as_postgres COMMAND... runs COMMAND as postgres, from a directory it may
# enter: through runuser when run as root, as it is otherwise (the tests'
# stand-ins).
as_postgres() {
	if [ "$(id -u)" = 0 ]; then
		(cd / && runuser -u postgres -- "$@")
	else
		"$@"
	fi
}

# check_backup_repo refuses, before anything changes, a repository path
# that does not exist: it is the share every member mounts, and a directory
# made here would hold this node's WAL alone. It is never created.
check_backup_repo() {
	backup_on || return 0
	backup_host && return 0 # its own disk: ensure_host_repo
	local repo
	if ! repo=$(backup_repo_path); then
		[ ${#PGBR_PEERS[@]} -gt 0 ] || die "FACTS give the stanza $PGHA_BACKUP_STANZA but no repository"
		info "the backup repository is on the backup host only"
		return 0
	fi
	if [ ! -d "$ROOT$repo" ]; then
		die "the backup repository $repo does not exist: mount the repository share there (the same on every member) before installing; install.sh never creates it"
	fi
	# PGDG's package makes /var/lib/pgbackrest itself: a directory that is
	# no mount point may be this node's own disk, which no other member sees.
	if command -v mountpoint >/dev/null && ! mountpoint -q "$ROOT$repo"; then
		warn "the backup repository $repo is not a mount point: every member must see the same repository (the share mounted there), or WAL archived here is this node's alone"
	fi
	info "backup repository $repo is present"
}

# ensure_backup_dirs makes the repository's archive and backup directories
# postgres's (mode 0750) when the mounted share lacks them; stanza-create
# fills them. The mount point itself is left as it is.
ensure_backup_dirs() {
	local repo d
	repo=$(backup_repo_path) || return 0
	for d in archive backup; do
		if [ ! -d "$ROOT$repo/$d" ]; then
			run mkdir "$ROOT$repo/$d"
			changed "created $repo/$d"
			[ "$DRY_RUN" = 1 ] && continue
			run chmod 0750 "$ROOT$repo/$d"
			run chown postgres:postgres "$ROOT$repo/$d"
		fi
	done
}

# install_backup_scripts installs backup.sh and the lib.sh it sources into
# LibexecDir, where the backup unit runs it, with FACTS there naming the
# node's installed facts.
install_backup_scripts() {
	backup_on || return 0
	local dir=$ROOT${P[libexec_dir]} f
	make_dirs "$dir"
	for f in backup.sh lib.sh; do
		if [ ! -f "$dir/$f" ] || [ "$(file_sha256 "$BUNDLE_DIR/$f")" != "$(file_sha256 "$dir/$f")" ]; then
			run install -m 0755 "$BUNDLE_DIR/$f" "$dir/$f"
			changed "installed ${P[libexec_dir]}/$f"
		fi
	done
	if [ "$(readlink "$dir/FACTS" 2>/dev/null || true)" != "$ROOT${P[node_facts]}" ]; then
		run ln -sfn "$ROOT${P[node_facts]}" "$dir/FACTS"
		changed "${P[libexec_dir]}/FACTS names ${P[node_facts]}"
	fi
}

# remove_backup_scripts removes what install_backup_scripts installed.
remove_backup_scripts() {
	local dir=$ROOT${P[libexec_dir]} f
	for f in backup.sh lib.sh FACTS; do
		if [ -e "$dir/$f" ] || [ -L "$dir/$f" ]; then
			run rm -f "$dir/$f"
			changed "removed ${P[libexec_dir]}/$f"
		fi
	done
	if [ "$DRY_RUN" = 0 ] && [ -d "$dir" ]; then rmdir "$dir" 2>/dev/null || true; fi
}

# backup_repos_text names the repositories for the log.
backup_repos_text() {
	local e idx type path host port out=()
	for e in ${BACKUP_REPOS[@]+"${BACKUP_REPOS[@]}"}; do
		read -r idx type path host port <<<"$e"
		if [ "$type" = tls ]; then out+=("repo$idx $path on $host:$port (TLS)"); else out+=("repo$idx $path"); fi
	done
	local IFS=,
	echo "${out[*]}"
}

# backup_peers_text names the TLS peers (name address) for the log.
backup_peers_text() {
	local e out=()
	for e in ${PGBR_PEERS[@]+"${PGBR_PEERS[@]}"}; do out+=("${e% *} ${e#* }:$PGBR_TLS_PORT"); done
	local IFS=,
	echo "${out[*]}"
}

# backup_peers_reachable: a member reaches the backup host's TLS server.
backup_peers_reachable() {
	local e
	for e in ${PGBR_PEERS[@]+"${PGBR_PEERS[@]}"}; do
		# shellcheck disable=SC2016 # $1 and $2 are the inner shell's
		timeout 3 bash -c 'exec 3<>"/dev/tcp/$1/$2"' _ "${e#* }" "$PGBR_TLS_PORT" 2>/dev/null || return 1
	done
}

# tls_server_listening: pgBackRest's TLS server listens on this machine.
tls_server_listening() {
	ss -ltn | awk -v p="$PGBR_TLS_PORT" 'NR > 1 { n = split($4, a, ":"); if (a[n] == p) f = 1 } END { exit !f }'
}

# start_backup_server starts pgBackRest's TLS server (a cluster with a
# backup host; restarted when its configuration or package changed) and
# waits until it listens.
start_backup_server() {
	[ -n "${PGBR_TLS_UNIT:-}" ] || return 0
	# The backup host's package counts as Patroni's (layout.ServiceOfPackage).
	if backup_host && [ -n "${SERVICE_CHANGED[patroni]:-}" ]; then SERVICE_CHANGED[$PGBR_TLS_UNIT]=1; fi
	daemon_reload
	apply_service "$PGBR_TLS_UNIT" restart
	wait_for "pgBackRest's TLS server listening on $PGBR_TLS_ADDRESS:$PGBR_TLS_PORT" "$TIMEOUT_PATRONI" tls_server_listening
}

# ensure_host_repo (the backup host): the repository lies on this host's
# own disk, postgres's, mode 0750; made when missing, never emptied.
ensure_host_repo() {
	step "the backup repository"
	local repo
	repo=$(backup_repo_path) || die "FACTS give the backup host no repository"
	ensure_dir "$repo" 0750 postgres postgres
	[ "$DRY_RUN" = 1 ] || ensure_backup_dirs
	ensure_dir "${P[pgbackrest_log]}" 0750 postgres postgres
	info "repository $repo in place"
}

# start_host_services (the backup host): its TLS server, backup.sh and
# the timers; the stanza is made by the members' leader, over TLS.
start_host_services() {
	if [ "$NO_START" = 1 ]; then
		step "start services"
		info "--no-start: not enabling or starting units"
		return 0
	fi
	step "start pgBackRest's TLS server"
	start_backup_server
	install_backup_scripts
	enable_backup_timers
}

# enable_backup_timers enables and starts the timers of the scheduled
# backup jobs (restarted when their schedule changed).
enable_backup_timers() {
	local e kind unit
	for e in ${BACKUP_TIMERS[@]+"${BACKUP_TIMERS[@]}"}; do
		read -r kind unit <<<"$e"
		apply_service "$unit" restart
	done
	info "backup timers enabled: $(printf '%s\n' ${BACKUP_TIMERS[@]+"${BACKUP_TIMERS[@]}"} | awk '{ printf "%s%s", (NR > 1 ? ", " : ""), $2 }')"
}

# is_primary: this member leads a primary cluster (GET /primary 200): it
# takes the backups (a standby cluster's leader replays another cluster's
# WAL and archives none of its own).
is_primary() { [ "$(patroni_code /primary)" = 200 ]; }

# stanza_status prints the stanza's status code in the repository, as
# `pgbackrest info` gives it: 0 ok, 1 missing stanza path, 2 no valid
# backups (yet), 3 missing stanza data, ... (empty when pgbackrest fails).
stanza_status() {
	pgbackrest_run --output=json info 2>/dev/null | grep -o '"status":{"code":[0-9]*' | tail -n 1 | sed 's/.*://'
}

# stanza_present: the stanza exists in the repository (with or without a
# backup yet).
stanza_present() {
	case $(stanza_status) in 0 | 2) return 0 ;; esac
	return 1
}

# backup_gate is install.sh's and upgrade.sh's health gate of the backups,
# after Patroni is healthy: on the leader the stanza is created (idempotent)
# and `pgbackrest check` proves that a WAL segment reaches the repository
# through archive_command; on a replica the stanza must show in the
# repository. Then the timers are enabled (each runs its job only where the
# member leads).
backup_gate() {
	if ! backup_on; then
		remove_backup_scripts # a cluster whose backup section was dropped
		return 0
	fi
	step "backups: pgBackRest stanza $PGHA_BACKUP_STANZA, $(backup_repos_text)"
	ensure_backup_dirs
	install_backup_scripts
	if [ "$NO_START" = 1 ]; then
		info "--no-start: not checking the repository nor enabling the timers"
		return 0
	fi
	if [ "$DRY_RUN" = 1 ]; then
		info "would run: pgbackrest stanza-create (on the leader), pgbackrest check, and enable the backup timers"
		return 0
	fi
	start_backup_server
	if [ ${#PGBR_PEERS[@]} -gt 0 ]; then
		wait_for "the backup host's pgBackRest TLS server ($(backup_peers_text))" "$TIMEOUT_PATRONI" backup_peers_reachable
	fi
	if is_primary; then
		stanza_gate
		first_full_backup
	else
		wait_for "stanza $PGHA_BACKUP_STANZA in the repository (created by the leader)" "$TIMEOUT_PATRONI" stanza_present
	fi
	enable_backup_timers
}

# stanza_gate, on the leader: the stanza is created (idempotent) and
# `pgbackrest check` proves that a WAL segment reaches the repository
# through archive_command; either failing stops the script with
# pgBackRest's error and what it means.
stanza_gate() {
	local out
	if ! out=$(pgbackrest_run stanza-create 2>&1); then
		printf '%s\n' "$out" >&2
		die "pgbackrest stanza-create failed for stanza $PGHA_BACKUP_STANZA (output above): is the repository mounted and writable by postgres?"
	fi
	info "stanza $PGHA_BACKUP_STANZA present in the repository"
	if ! out=$(pgbackrest_run check 2>&1); then
		printf '%s\n' "$out" >&2
		die "pgbackrest check failed on the leader $PGHA_NODE (output above): WAL does not reach the repository, and PostgreSQL keeps it in pg_wal until the disk fills; fix the repository, then re-run"
	fi
	info "pgbackrest check: WAL archiving reaches the repository"
}

# ---------------------------------------------------------------- bootstrap from backups
# A cluster bootstrapped from another cluster's backups (bootstrap_node):
# its first member (BOOTSTRAP_FROM: stanza repository set-or-"-" config)
# restores the source's backup through Patroni's custom bootstrap, reading
# the source's repository with source.conf; the cluster then archives into
# its own repository, where install.sh takes its first full backup.

# pgbackrest_source runs pgbackrest against the source's stanza with the
# source's configuration, as postgres. Only reading commands are run.
pgbackrest_source() {
	local stanza repo set conf
	read -r stanza repo set conf <<<"$BOOTSTRAP_FROM"
	as_postgres "$PGHA_PGBACKREST_BIN" --config="$ROOT$conf" --stanza="$stanza" "$@"
}

# cluster_has_leader: etcd holds a leader of this cluster (patronictl list).
cluster_has_leader() {
	local name role _rest
	while read -r name role _rest; do
		[ -n "$name" ] && is_leader_role "$role" && return 0
	done < <(patroni_members)
	return 1
}

# bootstrap_source_gate runs on the member that bootstraps the cluster from
# another cluster's backups, after etcd and before Patroni starts: when
# Patroni is to bootstrap (an empty PGDATA, no leader in etcd yet), the
# source's repository must be mounted and pgBackRest must read the
# source's stanza with the imported passphrase and find a backup there
# (the set the spec names, if any). `pgbackrest info` only reads.
bootstrap_source_gate() {
	[ -n "${BOOTSTRAP_FROM:-}" ] || return 0
	local stanza repo set conf out code
	read -r stanza repo set conf <<<"$BOOTSTRAP_FROM"
	step "bootstrap from the backups of stanza $stanza in $repo"
	if ! dir_empty "$ROOT$PGHA_PGDATA"; then
		info "PGDATA holds data: Patroni does not bootstrap the cluster again"
		return 0
	fi
	if [ "$DRY_RUN" = 0 ] && cluster_has_leader; then
		info "cluster $PGHA_CLUSTER already has a leader: this member becomes its replica, the source is not read"
		return 0
	fi
	[ -d "$ROOT$repo" ] || die "the source repository $repo does not exist: mount the repository of the cluster to copy there (read-only is enough) before installing $PGHA_NODE, the member that bootstraps $PGHA_CLUSTER"
	if [ "$DRY_RUN" = 1 ]; then
		info "would run: pgbackrest --stanza=$stanza info (the source), then Patroni restores its backup"
		return 0
	fi
	if ! out=$(pgbackrest_source --output=json info 2>&1); then
		printf '%s\n' "$out" >&2
		die "pgbackrest cannot read stanza $stanza in $repo (output above): is the source's repository mounted there, and its passphrase imported (pgha-bundle secrets import-backup-passphrase)?"
	fi
	code=$(printf '%s\n' "$out" | grep -o '"status":{"code":[0-9]*' | tail -n 1 | sed 's/.*://')
	if [ "$code" != 0 ]; then
		die "stanza $stanza in $repo has no backup to restore (pgbackrest info status ${code:-unknown}): bootstrap.from_backup names the source's stanza and repository"
	fi
	if [ "$set" != - ] && ! printf '%s\n' "$out" | grep -q "\"label\":\"$set\""; then
		die "backup set $set is not in stanza $stanza of $repo: pgbackrest --stanza=$stanza info lists the sets (bootstrap.from_backup.set)"
	fi
	info "stanza $stanza in $repo holds $(printf '%s\n' "$out" | grep -o '"label":"[^"]*"' | wc -l) backup(s); Patroni restores ${set/#-/the backup pgBackRest picks} and replays the source's WAL (only read)"
}

# first_full_backup, on the leader of a cluster bootstrapped from another
# cluster's backups whose own stanza has no backup yet: a full backup, so
# that replicas and restores have one of the new cluster's own.
first_full_backup() {
	[ -n "${PGHA_BOOTSTRAP_NODE:-}" ] || return 0
	[ "$(stanza_status)" = 2 ] || return 0
	local out start=$SECONDS
	if ! out=$(pgbackrest_run --type=full backup 2>&1); then
		printf '%s\n' "$out" >&2
		die "the first full backup of $PGHA_CLUSTER failed (output above)"
	fi
	changed "took the first full backup of $PGHA_CLUSTER into stanza $PGHA_BACKUP_STANZA ($((SECONDS - start))s)"
}

# disable_stale_backup_timers (upgrade.sh, before the files change): the
# timers the installed facts name that this bundle no longer has (a
# schedule emptied, the backup section dropped) are stopped and disabled
# before their files go.
disable_stale_backup_timers() {
	local f=$ROOT${P[node_facts]} key kind unit
	[ -r "$f" ] || return 0
	while read -r key kind unit _; do
		[ "$key" = backup_timer ] || continue
		has "$kind $unit" ${BACKUP_TIMERS[@]+"${BACKUP_TIMERS[@]}"} && continue
		if systemctl is-active --quiet "$unit"; then
			run systemctl stop "$unit"
			changed "stopped $unit"
		fi
		if [ "$(systemctl is-enabled "$unit" 2>/dev/null || true)" = enabled ]; then
			run systemctl disable "$unit"
			changed "disabled $unit (no longer scheduled)"
		fi
	done <"$f"
}

# stop_backup_timers (uninstall.sh) stops and disables the backup timers.
stop_backup_timers() {
	local e kind unit
	for e in ${BACKUP_TIMERS[@]+"${BACKUP_TIMERS[@]}"}; do
		read -r kind unit <<<"$e"
		if systemctl is-active --quiet "$unit"; then
			run systemctl stop "$unit"
			changed "stopped $unit"
		fi
		if [ "$(systemctl is-enabled "$unit" 2>/dev/null || true)" = enabled ]; then
			run systemctl disable "$unit"
			changed "disabled $unit"
		fi
	done
}

# ---------------------------------------------------------------- etcd membership
# A member marked joins (initial-cluster-state existing) adds itself to the
# running etcd cluster before its etcd first starts; uninstall.sh removes a
# member that leaves. Both talk to the other members with the cluster's CA
# and this node's certificate, and refuse what would cost etcd its quorum.

# etcdctl_at ENDPOINTS ARGS... runs etcdctl (API 3) against ENDPOINTS
# (comma-separated) with this node's client certificate.
etcdctl_at() {
	local eps=$1 tls=()
	shift
	case $eps in
	https:*) tls=(--cacert "$ROOT${P[ca]}" --cert "$ROOT${P[cert]}" --key "$ROOT${P[etcd_key]}") ;;
	esac
	ETCDCTL_API=3 "$PGHA_ETCDCTL_BIN" --endpoints="$eps" --dial-timeout=3s --command-timeout=15s \
		${tls[@]+"${tls[@]}"} "$@"
}

# other_endpoints prints the other members' etcd client URLs, comma-separated.
other_endpoints() {
	local e out=() eps
	IFS=, read -r -a eps <<<"${PGHA_ETCD_ENDPOINTS:-}"
	for e in ${eps[@]+"${eps[@]}"}; do
		[ "$e" = "$PGHA_ETCD_ENDPOINT" ] || out+=("$e")
	done
	local IFS=,
	echo "${out[*]}"
}

# etcd_members ENDPOINTS prints etcd's members, one a line:
# "ID STATUS NAME PEER_URL CLIENT_URL LEARNER" (NAME and CLIENT_URL "-" for
# an unstarted member; LEARNER false before etcd 3.4, which has none).
etcd_members() {
	local out
	out=$(etcdctl_at "$1" member list -w simple 2>&1) || {
		printf '%s\n' "$out" >&2
		return 1
	}
	printf '%s\n' "$out" | awk -F', ' 'NF >= 5 {
		n = $3; if (n == "") n = "-"
		c = $5; sub(/,.*/, "", c); if (c == "") c = "-"
		p = $4; sub(/,.*/, "", p)
		l = (NF >= 6 && $6 == "true") ? "true" : "false"
		print $1, $2, n, p, c, l
	}'
}

# etcd_url_healthy URL: the member serving URL answers a health check.
etcd_url_healthy() { etcdctl_at "$1" endpoint health >/dev/null 2>&1; }

# etcdctl_error OUTPUT prints etcdctl's failure on one line, without the
# client library's JSON log lines (etcd 3.4 prints one per retry).
etcdctl_error() {
	printf '%s\n' "$1" | awk '!/^[{]"level"/ && NF { printf "%s%s", s, $0; s = " " }'
}

# quorum N prints the majority of N members.
quorum() { echo $(($1 / 2 + 1)); }

# join_etcd adds this member to the running etcd cluster (nodes[].joins):
# once, before its etcd first starts, with no member data yet. A member of
# the same name and peer URL that is not running is a dead predecessor
# (this host replaces it): it is removed first. Refused while another member
# is unstarted or a learner (one member at a time), while a member is
# unhealthy, when the add would leave etcd below its quorum until this
# member starts, or when etcd's members are not the ones this bundle's
# initial-cluster names (etcd would refuse to start).
join_etcd() {
	[ "${PGHA_ETCD_INITIAL_CLUSTER_STATE:-new}" = existing ] || return 0
	step "etcd: join the running cluster as $PGHA_NODE"
	if [ -d "$ROOT$PGHA_ETCD_DATA_DIR/member" ]; then
		info "etcd member data present: $PGHA_NODE has joined already"
		return 0
	fi
	if systemctl is-active --quiet etcd; then
		info "etcd runs here already"
		return 0
	fi
	[ -n "${PGHA_ETCD_PEER_URL:-}" ] || die "FACTS does not give etcd_peer_url"
	local eps list id status name peer client learner
	eps=$(other_endpoints)
	[ -n "$eps" ] || die "$PGHA_NODE joins, but the facts name no other etcd member"
	if [ "$DRY_RUN" = 1 ]; then
		info "would check etcd's members at $eps and run: etcdctl member add $PGHA_NODE --peer-urls=$PGHA_ETCD_PEER_URL"
		return 0
	fi
	list=$(etcd_members "$eps") || die "cannot list etcd's members at $eps: the running members must serve etcd and accept $PGHA_ADDRESS (run upgrade.sh of this build on them first)"
	local dead="" added=0 others=() clients=() bad=()
	while read -r id status name peer client learner; do
		[ -n "$id" ] || continue
		if [ "$peer" = "$PGHA_ETCD_PEER_URL" ] || [ "$name" = "$PGHA_NODE" ]; then
			if [ "$peer" != "$PGHA_ETCD_PEER_URL" ] || { [ "$name" != "$PGHA_NODE" ] && [ "$name" != - ]; }; then
				die "etcd has a member $name at $peer, and $PGHA_NODE joins at $PGHA_ETCD_PEER_URL: remove that member first (etcdctl member remove $id)"
			fi
			if [ "$name" = - ]; then
				added=1 # an earlier run added this member; its etcd never started
			else
				dead=$id # this host replaces it: its etcd is not running here
			fi
			continue
		fi
		if [ "$status" = unstarted ] || [ "$name" = - ]; then
			die "etcd member $id at $peer was added but has not started: finish installing it before adding $PGHA_NODE (one member at a time)"
		fi
		if [ "$learner" = true ]; then
			die "etcd member $name is a learner not yet promoted: promote it before adding $PGHA_NODE"
		fi
		others+=("$name")
		clients+=("$client")
	done <<<"$list"
	local c healthy=0
	for c in ${clients[@]+"${clients[@]}"}; do
		if etcd_url_healthy "$c"; then healthy=$((healthy + 1)); else bad+=("$c"); fi
	done
	[ ${#bad[@]} -eq 0 ] || die "etcd members at ${bad[*]} are not healthy: repair them before adding $PGHA_NODE"
	local total=$((${#others[@]} + 1)) q
	q=$(quorum "$total")
	[ "$healthy" -ge "$q" ] || die "adding $PGHA_NODE makes $total members with a quorum of $q, and only $healthy run until it starts: etcd would stop serving; grow a cluster of one member by hand (docs/operations.md)"
	local want=() m have
	for m in ${ETCD_INITIAL_MEMBERS[@]+"${ETCD_INITIAL_MEMBERS[@]}"}; do
		[ "$m" = "$PGHA_NODE" ] || want+=("$m")
	done
	have=$(printf '%s\n' ${others[@]+"${others[@]}"} | sort | tr '\n' ' ')
	if [ "$have" != "$(printf '%s\n' ${want[@]+"${want[@]}"} | sort | tr '\n' ' ')" ]; then
		die "etcd's members are ${have% }; this bundle starts $PGHA_NODE beside ${want[*]:-none}: install the joining members in the spec's order, one at a time (or build again from the spec that matches the cluster)"
	fi
	info "etcd members ${have% }: all healthy, $healthy of $total after the add (quorum $q)"
	if [ -n "$dead" ]; then
		run etcdctl_at "$eps" member remove "$dead" >/dev/null
		changed "removed the dead etcd member $dead of $PGHA_NODE (this host replaces it)"
	fi
	if [ "$added" = 1 ]; then
		info "$PGHA_NODE is already added (unstarted): starting it"
	else
		run etcdctl_at "$eps" member add "$PGHA_NODE" --peer-urls="$PGHA_ETCD_PEER_URL" >/dev/null
		changed "added $PGHA_NODE to etcd ($PGHA_ETCD_PEER_URL)"
	fi
}

# LEAVE_ETCD_ID is this member's etcd id when uninstall.sh is to remove it
# from etcd (check_leave_etcd), empty otherwise.
LEAVE_ETCD_ID=""

# check_leave_etcd (uninstall.sh, before anything stops) decides whether
# this member leaves etcd: when its etcd runs and other members remain. It
# refuses when the remaining members would not hold etcd's quorum.
check_leave_etcd() {
	backup_host && return 0 # no etcd member
	step "etcd membership"
	if [ "$NO_START" = 1 ]; then
		info "--no-start: etcd's membership is left as it is"
		return 0
	fi
	if [ "$KEEP_MEMBERSHIP" = 1 ]; then
		info "--keep-membership: $PGHA_NODE stays a member of etcd"
		return 0
	fi
	if ! systemctl is-active --quiet etcd; then
		info "etcd does not run here: its membership is left as it is"
		return 0
	fi
	local list id status name peer client learner me="" total=0 healthy=0 bad=()
	list=$(etcd_members "$PGHA_ETCD_ENDPOINT") || die "cannot list etcd's members from $PGHA_NODE's etcd: repair it, or leave its membership with --keep-membership (then remove it from etcd by hand)"
	while read -r id status name peer client learner; do
		[ -n "$id" ] || continue
		if [ "$name" = "$PGHA_NODE" ]; then
			me=$id
			continue
		fi
		total=$((total + 1))
		if [ "$client" != - ] && etcd_url_healthy "$client"; then
			healthy=$((healthy + 1))
		else
			bad+=("${name/#-/$peer}")
		fi
	done <<<"$list"
	if [ -z "$me" ]; then
		info "$PGHA_NODE is not a member of etcd"
		return 0
	fi
	if [ "$total" = 0 ]; then
		info "$PGHA_NODE is etcd's last member: it stays (the whole cluster is being removed)"
		return 0
	fi
	local q
	q=$(quorum "$total")
	if [ "$healthy" -lt "$q" ]; then
		die "removing $PGHA_NODE from etcd leaves $total members with a quorum of $q and only $healthy healthy (not: ${bad[*]}): repair them first, or keep the membership with --keep-membership; nothing was changed"
	fi
	LEAVE_ETCD_ID=$me
	info "$PGHA_NODE leaves etcd: $healthy of the $total remaining members healthy (quorum $q)"
}

# leave_etcd removes this member from etcd (check_leave_etcd decided it),
# once Patroni is stopped and before its etcd stops. The other members may be
# leaving at the same moment (the whole cluster uninstalled at once), so it
# decides again from etcd's members as they are now, asking every configured
# endpoint, its own included: a member with no started member beside it is
# the last one and stays. The remove goes to those endpoints too, so that
# any live member serves it. etcd (strict reconfiguration, the default since
# 3.1) refuses to remove its only member ("not enough started members") and
# a remove that breaks its quorum; a member removing itself through its own
# etcd gets the answer before that etcd stops. Removes racing each other can
# fail ("server stopped" from a member that just left) or go unanswered
# (raft drops a change proposed while another is pending), so a failed
# remove is judged by listing the members again.
leave_etcd() {
	[ -n "$LEAVE_ETCD_ID" ] || return 0
	local eps=${PGHA_ETCD_ENDPOINTS:-$PGHA_ETCD_ENDPOINT} try list err="" listed asked=0
	local id status name peer client learner me others
	# Three removes at most, each judged by the list that follows it.
	for try in 1 2 3 4; do
		[ "$try" = 1 ] || sleep "$POLL_INTERVAL"
		listed=0
		list=$(etcd_members "$eps" 2>&1) || {
			err=$(etcdctl_error "$list")
			continue
		}
		listed=1
		me=0 others=0
		while read -r id status name peer client learner; do
			[ -n "$id" ] || continue
			if [ "$id" = "$LEAVE_ETCD_ID" ]; then
				me=1
			elif [ "$status" = started ] && [ "$name" != - ]; then
				others=$((others + 1))
			fi
		done <<<"$list"
		if [ "$me" = 0 ]; then
			if [ "$asked" = 1 ]; then
				changed "removed $PGHA_NODE from etcd (member $LEAVE_ETCD_ID)"
			else
				info "$PGHA_NODE is no longer a member of etcd (member $LEAVE_ETCD_ID was removed meanwhile)"
			fi
			return 0
		fi
		if [ "$others" = 0 ]; then
			info "$PGHA_NODE is now etcd's last member: it stays (the other members left meanwhile; the whole cluster is being removed)"
			LEAVE_ETCD_ID=""
			return 0
		fi
		[ "$try" -lt 4 ] || break
		if [ "$DRY_RUN" = 1 ]; then
			info "would run: etcdctl --endpoints=$eps member remove $LEAVE_ETCD_ID"
			changed "removed $PGHA_NODE from etcd (member $LEAVE_ETCD_ID)"
			return 0
		fi
		asked=1
		if err=$(etcdctl_at "$eps" member remove "$LEAVE_ETCD_ID" 2>&1); then
			changed "removed $PGHA_NODE from etcd (member $LEAVE_ETCD_ID)"
			return 0
		fi
		err=$(etcdctl_error "$err")
		info "member remove $LEAVE_ETCD_ID at $eps: $err; listing etcd's members again"
	done
	local state="it is still etcd's member $LEAVE_ETCD_ID"
	[ "$listed" = 1 ] || state="whether it is still etcd's member $LEAVE_ETCD_ID is unknown (no endpoint listed the members)"
	die "$PGHA_NODE could not leave etcd ($err): HAProxy and Patroni are stopped and disabled, its etcd is not stopped, and $state. Run uninstall.sh again once etcd's other members are healthy (it decides again), or with --keep-membership to stop etcd as it is; then remove the member from a remaining one: etcdctl member remove $LEAVE_ETCD_ID"
}
