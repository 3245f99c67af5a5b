#!/bin/sh
# Time of `pgha-bundle diff` on two 100-node build directories (read, compare,
# print) and of the comparison alone. Run from the repository root.
set -eu
exec go test ./cmd/pgha-bundle/ -run '^$' -bench 'Diff100Nodes|Compare100Nodes' -benchmem -benchtime 10x "$@"
