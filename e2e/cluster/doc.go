// Package e2ecluster proves a generated cluster on real daemons: Debian's etcd,
// Patroni, PostgreSQL 15 and HAProxy run the configs `pgha-bundle build`
// emits, unchanged, on 127.0.0.11–13, and survive a leader failover.
//
// The scenario needs root and the Debian packages, so it lives behind a build
// tag:
//
//	go test -tags e2e ./e2e/cluster/ -v -timeout 10m
//
// What it does (TestCluster):
//
//   - builds fixture RPMs whose file lists are the installed Debian binaries
//     (so component discovery puts /usr/lib/postgresql/15/bin and
//     /usr/bin/patroni into the configs), writes a 3-node spec (synchronous
//     mode, ttl 20 / loop_wait 5 / retry_timeout 5) and runs the real
//     `pgha-bundle build`;
//   - creates one network namespace for the cluster (its own loopback with the
//     three addresses, so nothing on the host's ports matters) and one
//     persistent mount namespace per node (overlays on /etc, /var/lib, /var/log,
//     /run and a private /run/postgresql), then runs each bundle's own
//     install.sh --no-packages --no-start --skip-os-check inside it;
//   - starts every daemon from the ExecStart and User=/Group= of the installed
//     unit file (no systemd), entered with nsenter and setpriv so the PID held
//     is the daemon's;
//   - asserts etcd's members, Patroni's leader, replicas and synchronous
//     standby, streaming on the leader, and HAProxy's routing on every node
//     (stats show every server checked, the read-write port reaches the
//     primary, the read-only port a replica);
//   - kills one etcd member, one HAProxy, then every process of the leader's
//     node under a numbered-row write load, checks no acknowledged row is lost,
//     restarts the old leader as a replica, and stops and starts the whole
//     cluster (same system identifier, same rows);
//   - prints its figures and removes everything it started, even on failure.
//
// Environment: PGHA_E2E_BIN uses an already built pgha-bundle instead of
// building one; PGHA_E2E_LOGS=DIR keeps every node's daemon and install logs
// (secrets redacted). Under CI=true a missing tool is a failure, not a skip.
//
// The untagged files hold what is checked anywhere with `go test ./...`:
// reading systemd units and the node's facts, Patroni topology and HAProxy statistics.
package e2ecluster
