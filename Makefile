# okra-queue: `make run` (demo), `make test`, `make bench`.
CARGO ?= cargo

.PHONY: run test bench chaos build release lint fmt clean

## A working demo: throwaway redis-server + okra-sandbox + workers + mixed jobs, then stats and dead letters.
run: release
	./scripts/demo.sh

## Every test (each starts its own redis-server on a free port and stops it by PID), after
## checking that the library without default features stays lean and the README example builds.
test:
	bash scripts/check-lean.sh
	$(CARGO) test --locked --lib --bins --tests -- --test-threads=$${TEST_THREADS:-4}

## Enqueue 100,000 no-op jobs, drain them; the same with apalis-redis 1.0. Then dead-letter page
## reads with 1,000,000 dead letters. Then Okra jobs end to end (okra-worker and okra-sandbox)
## with the CPU per job of each part, and what a match request's comparison costs per job.
## Then okra-gateway against the library: single and batch enqueues over HTTP, its CPU per
## enqueue, and latency at 1,000 requests/s.
## Then webhooks: job completion → a local receiver's 2xx (p50/p99), deliveries/s.
## Not part of `make test`.
bench:
	$(CARGO) bench --locked --bench drain
	$(CARGO) bench --locked --bench dlq
	$(CARGO) bench --locked --bench okra
	$(CARGO) bench --locked --bench matching
	$(CARGO) bench --locked --bench durability
	$(CARGO) bench --locked --bench gateway
	$(CARGO) bench --locked --bench webhooks

## Fault injection on real redis-server, okra-worker and okra-sandbox processes (minutes):
## Redis SIGKILL + AOF restart, Redis down 30 s, a worker SIGKILLed every 2 s, a partitioned
## worker, a Sentinel failover (durability replica and none), a Redis Cluster master failover.
## Prints jobs acknowledged, completed, lost, duplicate upstream calls, recovery time.
chaos:
	bash scripts/ensure-redis.sh
	bash -o pipefail -c "$(CARGO) test --locked --release --test chaos -- --ignored --nocapture --test-threads=1 2>&1 | grep -v '^{'"

build:
	$(CARGO) build --locked

release:
	$(CARGO) build --locked --release --bins

## Formatting, clippy with -D warnings, and the source tree's shape (no import cycle between the
## library's top-level modules, storage at the bottom, no file over 700 lines: tests/layout.rs).
lint:
	$(CARGO) fmt --check
	$(CARGO) clippy --locked --all-targets -- -D warnings
	$(CARGO) test --locked --test layout

fmt:
	$(CARGO) fmt

clean:
	$(CARGO) clean
