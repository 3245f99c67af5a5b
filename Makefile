# pgha-bundle: `make example` builds the bundled example cluster, `make test`
# runs every test CI runs (unit and real-tool tests with the committed fuzz
# corpora, the end-to-end tests). `make fuzz` explores new inputs; it is not
# part of `make test`, whose outcome must not depend on a random search.
GO ?= go
export CGO_ENABLED ?= 0
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -X main.version=$(VERSION)
FUZZTIME ?= 5m

.PHONY: build test unit fuzz lint example e2e-cluster e2e-boot e2e-faults bench-smoke clean

build:
	$(GO) build -trimpath -ldflags "$(LDFLAGS)" -o bin/pgha-bundle ./cmd/pgha-bundle

# The examples: signed placeholder packages made by a fixture generator (no
# download), then full builds of examples/cluster.yaml (el7) into out/ and of
# examples/cluster-el9.yaml (el9 layout: PostgreSQL 16 in /usr/pgsql-16/bin)
# into out/el9/.
example: build
	$(GO) run ./internal/fixture/cmd/mkexample -out out/example-packages >/dev/null
	bin/pgha-bundle validate -f examples/cluster.yaml
	bin/pgha-bundle build -f examples/cluster.yaml --packages out/example-packages \
		--key out/example-packages/RPM-GPG-KEY-pgha-example --base-provides out/example-packages/base-provides.txt \
		--secrets out/pgcluster.secrets.yaml --out out
	$(GO) run ./internal/fixture/cmd/mkexample -os el9 -out out/example-packages-el9 >/dev/null
	bin/pgha-bundle validate -f examples/cluster-el9.yaml
	bin/pgha-bundle build -f examples/cluster-el9.yaml --packages out/example-packages-el9 \
		--key out/example-packages-el9/RPM-GPG-KEY-pgha-example --base-provides out/example-packages-el9/base-provides.txt \
		--secrets out/el9/pgcluster.secrets.yaml --out out/el9

# The bundle package runs the scripts against real rpm, dnf and haproxy:
# minutes, more than go test's default 10 on a loaded 2-core machine.
unit:
	$(GO) test -count=1 -timeout 30m ./...

# Each target starts after its workers' setup (about a minute for FuzzRead's
# signing key); a failing input lands in testdata/fuzz and is then replayed by
# every `make unit`. The ISO and bundle inputs are KiBs long: minimising every
# new input took most of a 10-minute run (15 thousand execs against 400 a
# second with -fuzzminimizetime 10x), so they minimise with 10 attempts.
fuzz:
	$(GO) test -run '^$$' -fuzz '^FuzzRead$$' -fuzztime $(FUZZTIME) ./rpm
	$(GO) test -run '^$$' -fuzz '^FuzzParseKeys$$' -fuzztime $(FUZZTIME) ./rpm
	$(GO) test -run '^$$' -fuzz '^FuzzParse$$' -fuzztime $(FUZZTIME) ./cluster
	$(GO) test -run '^$$' -fuzz '^FuzzParse$$' -fuzztime $(FUZZTIME) ./secrets
	$(GO) test -run '^$$' -fuzz '^FuzzReadISO$$' -fuzztime $(FUZZTIME) -fuzzminimizetime 10x ./cloudinit
	$(GO) test -run '^$$' -fuzz '^FuzzReadBundle$$' -fuzztime $(FUZZTIME) -fuzzminimizetime 10x ./bundle

lint:
	@test -z "$$(gofmt -l .)" || { gofmt -l .; echo "gofmt: files above need formatting"; exit 1; }
	$(GO) vet ./...
	$(GO) vet -tags e2e ./e2e/...

e2e-cluster:
	$(GO) test -count=1 -tags e2e -timeout 10m -v ./e2e/cluster/

e2e-boot:
	bash e2e/boot/run.sh

# Three systemd-nspawn hosts on a bridge inside a network namespace of the
# test's own, installed from their seeds, under faults (e2e/faults/run.sh
# removes what a killed run leaves behind). Not yet part of `make test`: a
# run on an idle machine left the replicas unable to stream after the
# leader-partition fault healed (cluster not healthy within 2m30s), so it
# runs by hand until that is understood and fixed.
e2e-faults:
	bash e2e/faults/run.sh

# The build benchmarks once on a 1 MiB package set, so that they cannot rot;
# their figures are not checked (bench/build.sh 200 and bench/scale.sh give
# the real ones).
bench-smoke:
	bash bench/build.sh 1 1

test: lint unit bench-smoke e2e-cluster e2e-boot

clean:
	rm -rf bin out
