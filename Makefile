# drover: the two commands that matter are `make demo` and `make test`.

GO       ?= go
BIN      := bin/drover
PKGS     := ./...
# staticcheck is pinned and run through `go run`, so nothing has to be installed by hand.
STATICCHECK := honnef.co/go/tools/cmd/staticcheck@v0.8.2

.PHONY: all build test test-short chaos bench lint fmt demo clean

all: build

build:
	$(GO) build -o $(BIN) ./cmd/drover

## test: every tier (unit, in-process SSH, real OpenSSH sshd), the fuzz seed corpora, and the demo.
test:
	$(GO) vet $(PKGS)
	$(GO) test -count=1 -timeout 8m $(PKGS)
	$(MAKE) --no-print-directory demo

## test-short: the quick tiers only (skips the real-sshd tier).
test-short:
	$(GO) test -count=1 -short $(PKGS)

## chaos: the randomized fault test of the rollout invariants on seeds 1..SEEDS
## (SEEDS=20 by default; CHAOS_FIRST moves the range). `make test` runs its
## fixed seeds. A failing seed prints the command that replays it.
SEEDS       ?= 20
CHAOS_FIRST ?= 1
chaos:
	DROVER_CHAOS_SEEDS=$(SEEDS) DROVER_CHAOS_FIRST=$(CHAOS_FIRST) $(GO) test -count=1 -timeout 0 -run 'TestChaos$$' ./tasks/rollout/

## bench: benchmarks, including drover against OpenSSH on this machine (printed as ratios).
bench:
	GO=$(GO) sh transport/sshdtest/bench.sh

lint:
	@out=$$(gofmt -l cmd inventory transport tasks examples 2>/dev/null); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet $(PKGS)
	$(GO) run $(STATICCHECK) $(PKGS)

fmt:
	gofmt -w cmd inventory transport tasks examples

## demo: a rolling update of a local lab cluster (about a minute).
demo: build
	@DROVER=$(BIN) bash examples/lab/demo.sh

clean:
	rm -rf bin
