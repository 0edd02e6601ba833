# drover: the two commands that matter are `make demo` and `make test`.

GO       ?= go
BIN      := bin/drover
PKGS     := ./...

.PHONY: all build test test-short chaos bench lint fmt demo clean

all: build

build:
	$(GO) build -o $(BIN) ./cmd/drover

## test: every tier (unit, in-process SSH, real OpenSSH sshd), the fuzz seed corpora, and the demo.
## The tests and the demo run with a TMPDIR of their own, which must be empty afterwards:
## nothing a test (or the lab) makes may stay behind in the temporary folder.
## -parallel 4: most tests wait on simulated servers rather than use the CPU (make test used
## about 40% of 2 cores with the default of 2); 4 at a time keeps it within 10 minutes on 2 cores.
test:
	$(GO) vet $(PKGS)
	@tmp=$$(mktemp -d "$${TMPDIR:-/tmp}/drover-make-test.XXXXXX") || exit 1; \
	TMPDIR=$$tmp $(GO) test -count=1 -parallel 4 -timeout 8m $(PKGS) && \
	TMPDIR=$$tmp $(MAKE) --no-print-directory demo; rc=$$?; \
	if [ -n "$$(ls -A "$$tmp")" ]; then echo "make test: these were left in the temporary folder:"; ls -A "$$tmp"; rc=1; fi; \
	rm -rf "$$tmp"; exit $$rc

## test-short: the quick tiers only (skips the real-sshd tier).
test-short:
	$(GO) test -count=1 -short $(PKGS)

## chaos: the randomized fault test of the rollout invariants on seeds 1..SEEDS
## (SEEDS=20 by default; CHAOS_FIRST moves the range). `make test` runs its
## fixed seeds. A failing seed prints the command that replays it.
## CHAOS_PARALLEL seeds run at once, each with its own lab (default 3).
SEEDS          ?= 20
CHAOS_FIRST    ?= 1
CHAOS_PARALLEL ?= 3
chaos:
	DROVER_CHAOS_SEEDS=$(SEEDS) DROVER_CHAOS_FIRST=$(CHAOS_FIRST) \
		$(GO) test -count=1 -timeout 0 -parallel $(CHAOS_PARALLEL) -run 'TestChaos$$' ./tasks/rollout/

## bench: every benchmark in one run (drover against OpenSSH, scp and a hand-written script on
## real sshd nodes), printed as ratios with their targets and a summary table. Not a test: the
## machine is shared, so the targets are reported, never enforced.
bench:
	GO=$(GO) sh transport/sshdtest/bench.sh

## lint: gofmt, go vet, staticcheck and a tidy go.mod. staticcheck is a tool dependency in
## go.mod (`go get -tool`), pinned there and run with `go tool`: nothing to install by hand.
lint:
	@out=$$(gofmt -l cmd inventory transport tasks examples 2>/dev/null); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet $(PKGS)
	$(GO) tool staticcheck $(PKGS)
	$(GO) mod tidy -diff

fmt:
	gofmt -w cmd inventory transport tasks examples

## demo: a rolling update of a local lab cluster (about a minute).
demo: build
	@DROVER=$(BIN) bash examples/lab/demo.sh

clean:
	rm -rf bin
