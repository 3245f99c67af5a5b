package rpm

// Components are the paths and versions of what the cluster runs, taken from
// the verified packages' file lists (or named as preinstalled in the spec).
type Components struct {
	PostgreSQL PostgreSQLComponent
	Patroni    PatroniComponent
	Etcd       EtcdComponent
	HAProxy    HAProxyComponent
}

// PostgreSQLComponent is the server: the directory holding postgres, pg_ctl,
// initdb and pg_controldata.
type PostgreSQLComponent struct {
	Package string // NEVRA of the providing package, empty when preinstalled
	Version string // upstream version, e.g. "15.4"
	Major   int
	BinDir  string
}

// PatroniComponent is Patroni's two commands.
type PatroniComponent struct {
	Package string
	Version string
	Bin     string // patroni
	Ctl     string // patronictl
}

// EtcdComponent is etcd's server and client.
type EtcdComponent struct {
	Package string
	Version string
	Bin     string // etcd
	Ctl     string // etcdctl
}

// HAProxyComponent is the haproxy binary.
type HAProxyComponent struct {
	Package string
	Version string
	Bin     string
}
