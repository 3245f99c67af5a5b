// Package faults is the fault harness: three real hosts, each a
// systemd-nspawn container booted with systemd as PID 1 from the boot
// test's cached Debian tree, in network namespaces of their own joined by a
// bridge inside a namespace the test creates, each installed by its
// bundle's own install.sh. A numbered-row workload runs through HAProxy
// while faults are injected (SIGKILL through systemd, partitions, etcd
// quorum loss, a frozen Patroni, a lost synchronous standby, a full PGDATA,
// switchover and restart under load), and a checker that can fail judges
// each run: every acknowledged row present, none twice, and never two
// nodes acknowledging writes at once.
//
// The harness needs root and runs behind a build tag:
//
//	make e2e-faults
//
// The untagged files hold the checker, the PostgreSQL client it uses and
// their unit tests, run by `go test ./...`.
package faults
