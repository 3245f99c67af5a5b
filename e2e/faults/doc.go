// Package faults is the fault harness: three real hosts under faults, and a
// checker that can fail.
//
// Hosts: each node is a systemd-nspawn container booted with systemd as
// PID 1 from the boot test's cached Debian tree (e2e/boot/mkbase.sh; an
// overlay per node, so the tree is never written), in a cgroup and network
// namespace of its own, its veth on a bridge that lives in a network
// namespace the test creates: no address or rule is ever put in the
// machine's own namespace and no packet leaves it. The bundles come from the
// real `pgha-bundle build` (Debian-layout fixture packages; install.sh runs
// with --skip-os-check --no-packages, as the tree carries Debian's daemons;
// the lifecycle test instead builds RPMs of the files Debian installed and
// runs the scripts' real package step with the tree's rpm, packages_test.go).
// Each seed ISO is extracted with cloudinit.ReadISO (the kernel has no ISO
// 9660 driver) and bound read-only as the container's NoCloud seed
// directory: cloud-init runs the seed's script at first boot, which runs
// install.sh, whose units systemd starts behind their health gates. The
// certificates are the real per-node ones.
//
// Workload: four writers insert numbered rows through the nodes' HAProxy
// read-write ports with a small PostgreSQL client of this package, which
// sees every notice: a commit answered with a WARNING (a cancelled wait for
// synchronous replication), a FATAL or no answer is in doubt, an ERROR is a
// failure, anything else is acknowledged. Writers never cancel a commit.
// Every 150 ms each node's PostgreSQL is probed directly (is it in
// recovery, does a short write commit); Check demands every acknowledged
// row present and none twice, LongestOverlap the longest time two nodes both
// acknowledged writes.
//
// Faults share one bring-up, each with its own run of the workload: SIGKILL
// of the leader's daemons through systemd, the leader partitioned from its
// peers (its clients still reach it), the leader cut off from etcd only, the
// synchronous standby partitioned, the synchronous standby stopped, the
// leader's PGDATA file system full
// (a small loop-mounted ext4 per node), both replicas lost with synchronous_mode_strict off and on, etcd's quorum lost
// with failsafe_mode off and on, a switchover and a whole-cluster power-off
// and boot with the load running, Patroni frozen with SIGSTOP on the leader;
// and the negative control (synchronous mode off, replication to the
// replicas blocked, the leader's node killed), whose checker must report
// lost rows. Patroni runs with ttl 20, loop_wait 2, retry_timeout 4.
//
// Patroni before 3.0.3 (Debian bookworm has 3.0.2) lets an old leader that
// missed its key's expiry write the etcd3 leader key again
// (patroni/patroni#2689: after creating a new lease it puts the key
// unconditionally, on its cached view of the cluster). The leader
// partitioned from its peers, the leader cut off from etcd and the frozen
// Patroni can then come back and take the key from the member promoted
// meanwhile, which demotes and is rewound onto the old leader's history:
// the rows it acknowledged as leader are lost. A frozen leader never
// demoted (its PostgreSQL stayed primary, its commits waiting for a
// synchronous standby that now followed the new leader), so it just goes
// on; a partitioned one had demoted and promotes again "because I had the
// session lock". The journals show it (retake.go): the new leader's
// "promoted self to leader by acquiring session lock", then its "Lock
// owner: <old leader>" and demotion, with no leader race won by the old
// leader in between. With such a Patroni those three faults pass with a
// loss or an overlap only when the journals show that trace and every lost
// row was acknowledged while the new leader held the key (and the overlap
// lies in that time); anything else fails, as does any loss with a later
// Patroni. The cluster is then repaired as an operator would: a member
// left on a diverged timeline is reinitialised, and a leader whose journal
// keeps saying "Synchronous replication key updated by someone else" (3.0.2
// never overwrites the key the other leader wrote, so no synchronous
// standby is named again) gets synchronous_mode turned off and on through
// the dynamic configuration. The build warns about such a Patroni.
//
// Patroni 3.0.2 also takes an error answer of etcd (not a lost connection)
// to the leader's lease keepalive for a lost leader lock: it demotes at once
// without asking the members, failsafe_mode or not. A member being stopped
// answers so for some milliseconds (its HTTP gateway's gRPC errors); a CI
// run's leader, its client on a replica's member, demoted so in the
// quorum-loss fault (testdata/failsafe-race; patroni/patroni#3118). That
// fault is about the quorum, not this race: the leader's node drops its
// traffic with the replicas' etcd client port while their members stop, and
// a failure quotes the leader's Patroni journal (failsafe.go).
//
// Overlap counts only acknowledged writes: an old leader that has not yet
// demoted but whose commits wait for a synchronous standby it no longer
// has is not writable; in synchronous mode the overlap must be 0.
//
// firewalld (Debian's, nftables backend; in the tree, off by default) runs
// on the nodes of the VIP's leader mode and of the scaling scenario
// (firewall_test.go), whose upgrades let each build's members in and no
// others. In the leader mode the members'
// ports answer members and refuse a client on the bridge, PostgreSQL's and
// HAProxy's answer it, VRRP passes between members, and uninstall.sh
// removes exactly the rules install.sh added, keeping the operator's own.
//
// The harness needs root and runs behind a build tag:
//
//	make e2e-faults        # e2e/faults/run.sh
//
// Environment: PGHA_E2E_ARTIFACTS keeps the nodes' journals, install and
// cloud-init logs and consoles (secrets redacted); PGHA_E2E_BIN uses a
// built pgha-bundle; PGHA_E2E_FAULTS_DIRECT=1 installs with install.sh run
// by the test instead of from the seeds; PGHA_E2E_KEEP=1 keeps the overlays;
// PGHA_E2E_FAULTS_ONLY=name,name runs only those faults.
//
// bringUp is the one bring-up: scenarios in other files of this package
// (TestFaults' list, or a test of their own) call it and share the cluster.
// TestBackup (make e2e-backup) adds a backup section to the spec, Debian's
// pgbackrest (in the cached tree) behind a fixture RPM naming
// /usr/bin/pgbackrest, and one directory of the work directory bound
// read-write at the repository's path in every node, as an NFS share
// would be.
//
// The untagged files hold the checker, the PostgreSQL client, the reading
// of the journals for patroni/patroni#2689 and for the quorum-loss faults,
// and their unit tests, run by `go test ./...`.
package faults
