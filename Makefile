# drover: the two commands that matter are `make demo` and `make test`.

GO       ?= go
BIN      := bin/drover
PKGS     := ./...

.PHONY: all build test test-short bench lint fmt demo clean

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

## bench: benchmarks, including drover against OpenSSH on this machine (printed as ratios).
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
