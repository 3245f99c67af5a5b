#!/bin/bash
# check.sh runs inside the VM, as root, after cloud-init has finished (started
# by the image's pgha-e2e-observe unit from the read-only disk labelled
# pghacheck). It prints one marker line per check on stdout (the serial
# console):
#   PGHA-E2E: PASS <check> [detail]
#   PGHA-E2E: FAIL <check> <detail>
#   PGHA-E2E: INFO <key>=<value>
#   PGHA-E2E: HEALTHY uptime=<seconds>
# The host decides what a boot must show; this script only observes. It never
# prints a secret: the superuser password is read from patroni.yml into the
# environment of psql alone.
set -u

here=$(dirname "$(readlink -f "$0")")
# shellcheck source=/dev/null
. "$here/expect.env"

pass() { echo "PGHA-E2E: PASS $*"; }
fail() { echo "PGHA-E2E: FAIL $*"; }
info() { echo "PGHA-E2E: INFO $*"; }
uptime_s() { cut -d' ' -f1 /proc/uptime; }

info "phase=$E2E_PHASE"
info "uptime=$(uptime_s)"
btime=$(sed -n 's/^btime //p' /proc/stat)
info "btime=$btime"
info "instance_id=$(cat /var/lib/cloud/data/instance-id 2>/dev/null)"
info "instances=$(find /var/lib/cloud/instances -mindepth 1 -maxdepth 1 -type d 2>/dev/null | wc -l)"

# cloud-init: finished without error, and whether the user scripts (runcmd,
# hence install.sh) ran in this boot or an earlier one.
status=$(cloud-init status 2>/dev/null | sed -n 's/^status: //p')
if [ "$status" = "done" ]; then pass cloud-init-done; else fail cloud-init-done "status=$status"; fi
sem=/var/lib/cloud/instance/sem/config_scripts_user
if [ -e "$sem" ]; then
	if [ "$(stat -c %Y "$sem")" -ge "$btime" ]; then info "runcmd=this-boot"; else info "runcmd=earlier-boot"; fi
else
	info "runcmd=never"
fi
grep -h -i -E 'warn|error|fail|traceback' /var/log/cloud-init.log 2>/dev/null | grep -v -i -E 'no (error|fail)' | tail -n 15 | sed 's/^/PGHA-E2E: LOG cloud-init.log: /'

# hostname and /etc/hosts
if [ "$(hostname)" = "$E2E_NODE" ]; then pass hostname "$E2E_NODE"; else fail hostname "got $(hostname), want $E2E_NODE"; fi
if grep -E "^[[:space:]]*${E2E_ADDR//./\\.}[[:space:]]" /etc/hosts | grep -q -w "$E2E_NODE"; then
	pass etc-hosts "$E2E_ADDR $E2E_NODE"
else
	fail etc-hosts "no line '$E2E_ADDR ... $E2E_NODE' in /etc/hosts"
fi

# The NIC: the one with the node's MAC address, renamed by cloud-init to
# the spec's interface (the kernel named it by its slot or path: the rename
# lines of the kernel log show both names), with the static address and
# default route from the seed's network-config. Which network-config
# cloud-init applied last, and how often on this disk, is in its log.
nic=""
for d in /sys/class/net/*; do
	[ "$(cat "$d/address" 2>/dev/null)" = "$E2E_MAC" ] && nic=${d##*/}
done
renames=$(dmesg 2>/dev/null | grep -o '[^ ]*: renamed from [^ ]*' | tr '\n' ';')
info "nic_renames=$renames"
info "nic_kernel_name=$(dmesg 2>/dev/null | sed -n 's/.* \([^ ]*\): renamed from eth[0-9]*$/\1/p' | head -n1)"
if [ "$nic" = "$E2E_IFACE" ]; then pass nic-by-mac "$E2E_MAC is $nic"; else fail nic-by-mac "the NIC with $E2E_MAC is '${nic:-none}', want $E2E_IFACE"; fi
got=$(ip -o -4 addr show dev "${nic:-none}" 2>/dev/null | awk '{print $4}' | tr '\n' ' ')
if [ "$got" = "$E2E_ADDR/$E2E_PREFIX " ]; then pass static-address "$nic $got"; else fail static-address "$nic has '$got', want $E2E_ADDR/$E2E_PREFIX"; fi
got=$(ip -4 route show default 2>/dev/null | tr '\n' ' ')
case "$got" in
"default via $E2E_GATEWAY dev $E2E_IFACE "*) pass default-route "$got" ;;
*) fail default-route "got '$got', want default via $E2E_GATEWAY dev $E2E_IFACE" ;;
esac
applied=$(grep 'Applying network configuration from' /var/log/cloud-init.log 2>/dev/null)
info "netcfg_applied=$(printf '%s' "$applied" | grep -c .)"
info "netcfg_version=$(printf '%s\n' "$applied" | tail -n1 | grep -o "'version': [0-9]*" | grep -o '[0-9]*$')"

# The bundle was verified and install.sh completed: its receipt exists and
# lists what it installed; the seed's install log holds install.sh's lines.
if [ -s "$E2E_RECEIPT" ]; then
	pass install-receipt "$E2E_RECEIPT $(wc -l <"$E2E_RECEIPT") lines"
else
	fail install-receipt "$E2E_RECEIPT missing or empty"
fi
out=$E2E_INSTALL_LOG
info "install_runs=$(grep -c -F -- "$E2E_INSTALL_DONE" "$out" 2>/dev/null)"
info "verify_runs=$(grep -c -F -- "$E2E_VERIFY_OK" "$out" 2>/dev/null)"
# The lines of the last seed install, for the host to judge (boot 3: nothing
# to change), all of it (a first install prints some 100 to 150 lines; the
# host looks for its first lines too). Never secrets: the seed script and
# install.sh print none.
awk -v start="$E2E_INSTALL_START" 'index($0, start) { buf = "" } { buf = buf $0 "\n" } END { printf "%s", buf }' "$out" 2>/dev/null |
	grep -F -A10000 -- "$E2E_INSTALL_START" | sed 's/^/PGHA-E2E: INSTALL-LOG /' | tail -n 400

# The shared packages ISO the seed mounted for install.sh is unmounted.
if grep -q ' /run/pgha-media\.' /proc/mounts; then
	fail packages-media-unmounted "$(grep ' /run/pgha-media\.' /proc/mounts | tr '\n' ' ')"
else
	pass packages-media-unmounted
fi

# Files: every payload file of the bundle with its mode, owner, group and
# content as FILES says, and the secrets as the layout contract says.
if [ -s "$here/FILES" ]; then
	bad=0 n=0
	while read -r mode owner group sum path; do
		n=$((n + 1))
		if [ ! -e "$path" ]; then
			fail "file $path" "missing"; bad=$((bad + 1)); continue
		fi
		gm=$(stat -c '%a' "$path")
		if [ "$((8#$gm))" != "$((8#$mode))" ] || [ "$(stat -c '%U %G' "$path")" != "$owner $group" ]; then
			fail "file $path" "got $gm $(stat -c '%U:%G' "$path"), want $mode $owner:$group"; bad=$((bad + 1)); continue
		fi
		if [ "$(sha256sum "$path" | cut -d' ' -f1)" != "$sum" ]; then
			fail "file $path" "content differs from the bundle"; bad=$((bad + 1)); continue
		fi
	done <"$here/FILES"
	if [ "$bad" = 0 ] && [ "$n" -gt 0 ]; then pass payload-files "$n files match FILES"; else fail payload-files "$bad of $n differ"; fi
else
	fail payload-files "no FILES on the check disk"
fi
while read -r mode owner path; do
	[ -n "$path" ] || continue
	want="$mode $owner"
	got=$(stat -c '%a %U:%G' "$path" 2>/dev/null || echo missing)
	if [ "$got" = "$want" ]; then pass "secret-mode $path" "$got"; else fail "secret-mode $path" "got $got, want $want"; fi
done <<SECRETS
$E2E_SECRET_MODES
SECRETS
loose=$(find /etc/patroni /etc/etcd /etc/haproxy /etc/pgha-bundle \( -name '*.key' -o -name '*password*' -o -name '*secret*' \) -perm /o+rwx 2>/dev/null)
if [ -z "$loose" ]; then pass no-world-readable-keys; else fail no-world-readable-keys "$(echo "$loose" | tr '\n' ' ')"; fi

# Health, polled (no fixed sleeps): etcd healthy, Patroni leader, SELECT 1
# through HAProxy's read-write port.
etcd_ok() {
	ETCDCTL_API=3 etcdctl --endpoints="$E2E_ETCD_ENDPOINTS" --cacert "$E2E_CA" --cert "$E2E_CERT" --key "$E2E_KEY" \
		--dial-timeout=3s --command-timeout=5s endpoint health >/tmp/etcd-health 2>&1
}
leader_ok() {
	role=$(curl -s --cacert "$E2E_CA" -m 5 "$E2E_PATRONI_URL/patroni" | python3 -c 'import json,sys; d=json.load(sys.stdin); print(d.get("role",""), d.get("state",""))' 2>/dev/null)
	case "$role" in "master running" | "primary running") return 0 ;; esac
	return 1
}
select_ok() {
	pw=$(python3 -c 'import yaml,sys; print(yaml.safe_load(open("/etc/patroni/patroni.yml"))["postgresql"]["authentication"]["superuser"]["password"])' 2>/dev/null)
	user=$(python3 -c 'import yaml,sys; print(yaml.safe_load(open("/etc/patroni/patroni.yml"))["postgresql"]["authentication"]["superuser"]["username"])' 2>/dev/null)
	select_port "$E2E_PORT_RW"
}
# select_port PORT: SELECT 1 on PORT, with the credentials select_ok read.
select_port() {
	got=$(PGPASSWORD=$pw PGCONNECT_TIMEOUT=5 psql -X -At -h "$E2E_ADDR" -p "$1" -U "${user:-postgres}" -d postgres -c 'SELECT 1' 2>/tmp/psql-err)
	[ "$got" = 1 ]
}
deadline=$(( $(date +%s) + E2E_WAIT ))
e=1 l=1 s=1
while :; do
	[ "$e" = 0 ] || { etcd_ok; e=$?; }
	[ "$e" != 0 ] || [ "$l" = 0 ] || { leader_ok; l=$?; }
	[ "$l" != 0 ] || [ "$s" = 0 ] || { select_ok; s=$?; }
	[ "$e$l$s" = 000 ] && break
	[ "$(date +%s)" -lt "$deadline" ] || break
	sleep 2
done
if [ "$e" = 0 ]; then pass etcd-health "$(head -n1 /tmp/etcd-health)"; else fail etcd-health "$(tr '\n' ' ' </tmp/etcd-health)"; fi
if [ "$l" = 0 ]; then pass patroni-leader "$E2E_NODE"; else fail patroni-leader "role/state: ${role:-none}"; fi
if [ "$s" = 0 ]; then pass select-1-rw "port $E2E_PORT_RW"; else fail select-1-rw "$(tr '\n' ' ' </tmp/psql-err | cut -c1-300)"; fi
if [ "$e$l$s" = 000 ]; then
	echo "PGHA-E2E: HEALTHY uptime=$(uptime_s)"
else
	for u in etcd patroni haproxy; do
		systemctl status --no-pager -n 0 "$u" 2>&1 | sed "s/^/PGHA-E2E: LOG $u: /"
		journalctl --no-pager -o cat -u "$u" -n 30 2>&1 | sed "s/^/PGHA-E2E: LOG $u journal: /"
	done
	tail -n 40 "$E2E_INSTALL_LOG" 2>&1 | sed 's/^/PGHA-E2E: LOG install: /'
fi
for u in etcd patroni haproxy; do
	info "$u=$(systemctl is-active "$u") enabled=$(systemctl is-enabled "$u" 2>/dev/null)"
done

# The watchdog (patroni.watchdog: required): softdog loaded (by install.sh,
# then by modules-load.d at every boot) and /dev/watchdog held open by
# Patroni, which as leader keeps it fed.
if grep -q '^softdog ' /proc/modules; then pass softdog-loaded; else fail softdog-loaded "softdog is not in /proc/modules"; fi
ppid=$(systemctl show -p MainPID --value patroni 2>/dev/null)
wd=""
for f in /proc/"${ppid:-0}"/fd/*; do
	case "$(readlink "$f" 2>/dev/null)" in /dev/watchdog*) wd=$(readlink "$f") ;; esac
done
if [ -n "$wd" ]; then
	pass watchdog-open "patroni (pid $ppid) holds $wd"
else
	fail watchdog-open "patroni (pid ${ppid:-none}) does not hold /dev/watchdog: $(journalctl --no-pager -o cat -u patroni 2>/dev/null | grep -i watchdog | tail -n 3 | tr '\n' ' ')"
fi
journalctl --no-pager -o cat -u patroni 2>/dev/null | grep -i 'watchdog' | tail -n 3 | sed 's/^/PGHA-E2E: LOG patroni watchdog: /'

# Where the boot's time went (figures for the log, not checks).
info "systemd_analyze=$(systemd-analyze time 2>/dev/null | head -n1 | tr -s ' ')"
systemd-analyze blame --no-pager 2>/dev/null | head -n 8 | sed 's/^ */PGHA-E2E: LOG blame: /'
cloud-init analyze show 2>/dev/null | grep -E '^(Starting stage|Finished stage|Total Time)' | tail -n 12 | sed 's/^/PGHA-E2E: LOG cloud-init analyze: /'

echo "PGHA-E2E: CHECKS-DONE"

# Freeze: Patroni stopped with SIGSTOP while PostgreSQL runs on (the case the
# watchdog exists for: a leader nobody manages). Patroni stops feeding
# /dev/watchdog, and softdog must reset the guest; qemu runs with
# -no-reboot, so the reset ends it, and the host sees no END.
if [ "$E2E_FREEZE" = true ]; then
	info "frozen_pid=$ppid"
	info "frozen_uptime=$(uptime_s)"
	kill -STOP "$ppid"
	if select_port "$E2E_PORT_PG"; then
		pass postgres-while-frozen "SELECT 1 on port $E2E_PORT_PG at uptime $(uptime_s)"
	else
		fail postgres-while-frozen "$(tr '\n' ' ' </tmp/psql-err | cut -c1-300)"
	fi
	sleep 240
	fail watchdog-reset "Patroni frozen for 240 s and the guest still runs"
fi
