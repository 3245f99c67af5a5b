package cluster

import (
	"fmt"
	"sort"
)

// removedParam is a PostgreSQL parameter that a server major no longer has.
type removedParam struct {
	major   int    // first major without it (9.x releases count as 10: the oldest we support)
	release string // the release that removed it, as PostgreSQL names it
	advice  string // what to do instead
}

// removedParams lists parameters removed from PostgreSQL, so a spec written
// for an older server fails before a node refuses to start.
var removedParams = map[string]removedParam{
	"checkpoint_segments":               {10, "9.5", "use max_wal_size and min_wal_size"},
	"min_parallel_relation_size":        {11, "11", "use min_parallel_table_scan_size"},
	"replacement_sort_tuples":           {11, "11", "remove it"},
	"standby_mode":                      {12, "12", "remove it: Patroni creates standby.signal"},
	"wal_keep_segments":                 {13, "13", "use wal_keep_size (in MB: segments * 16)"},
	"operator_precedence_warning":       {14, "14", "remove it"},
	"vacuum_cleanup_index_scale_factor": {14, "14", "remove it"},
	"stats_temp_directory":              {15, "15", "remove it: statistics live in shared memory"},
	"promote_trigger_file":              {16, "16", "remove it: Patroni promotes with pg_ctl promote"},
	"force_parallel_mode":               {16, "16", "use debug_parallel_query"},
	"vacuum_defer_cleanup_age":          {16, "16", "use hot_standby_feedback or a replication slot"},
	"lc_collate":                        {16, "16", "remove it: it is set at initdb time"},
	"lc_ctype":                          {16, "16", "remove it: it is set at initdb time"},
	"old_snapshot_threshold":            {17, "17", "remove it"},
	"db_user_namespace":                 {17, "17", "remove it"},
	"trace_recovery_messages":           {17, "17", "remove it"},
}

// addedParam is a parameter a server major does not have yet.
type addedParam struct {
	major  int    // first major with it
	advice string // what to use before
}

var addedParams = map[string]addedParam{
	"wal_keep_size":                    {13, "use wal_keep_segments (size in MB / 16)"},
	"max_slot_wal_keep_size":           {13, "remove it"},
	"hash_mem_multiplier":              {13, "remove it"},
	"idle_session_timeout":             {14, "remove it"},
	"client_connection_check_interval": {14, "remove it"},
	"debug_parallel_query":             {16, "use force_parallel_mode"},
}

// CheckForMajor reports the postgresql.parameters that the given server major
// no longer has, and the settings it cannot honour. It runs once the major is
// known: from postgresql.major while loading, or from the packages later.
func (s *Spec) CheckForMajor(major int) Problems {
	var ps Problems
	names := make([]string, 0, len(s.PostgreSQL.Parameters))
	for name := range s.PostgreSQL.Parameters {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		if r, ok := removedParams[name]; ok && major >= r.major {
			ps = append(ps, s.ProblemAt("postgresql.parameters."+name, false, msgParamRemoved, name, r.release, r.advice))
		}
		if a, ok := addedParams[name]; ok && major > 0 && major < a.major {
			ps = append(ps, s.ProblemAt("postgresql.parameters."+name, false, msgParamAdded, name, a.major, major, a.advice))
		}
	}
	// The default PGDATA depends on the major: check its directory now.
	if major > 0 && s.PostgreSQL.DataDir == "" {
		ps = append(ps, s.dirChecks(s.DataDir(major), true)...)
		ps = append(ps, s.backupRepoPGDATA(s.DataDir(major))...)
		ps = append(ps, s.sourceRepoPGDATA(s.DataDir(major))...)
	}
	// postgresql.major itself is checked by validate; a major from the
	// packages is checked here.
	if major > 0 && major < 10 && major != s.PostgreSQL.Major {
		ps = append(ps, s.ProblemAt("postgresql.major", false, msgMajorOld, major))
	}
	ps.Sort()
	return ps
}

// CheckFailoverPriority reports every node that sets failover_priority, for
// a Patroni (version) older than 3.2: it ignores the tag silently, so the
// priority would not apply.
func (s *Spec) CheckFailoverPriority(version string) Problems {
	var ps Problems
	for i, n := range s.Nodes {
		if n.Tags.FailoverPriority != nil {
			ps = append(ps, s.ProblemAt(fmt.Sprintf("nodes[%d].tags.failover_priority", i), false,
				msgFailoverPrioPatroni, version))
		}
	}
	return ps
}
