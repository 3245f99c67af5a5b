// Command pgha-bundle generates, for every node of a Patroni/etcd/HAProxy
// PostgreSQL cluster, a cloud-init seed ISO, an offline install bundle and the
// plain rendered configs, from one cluster spec and a directory of verified RPMs.
package main

import "os"

func main() {
	os.Exit(run(os.Args, os.Stdout, os.Stderr))
}
