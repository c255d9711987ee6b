# airanode — run `make help` for the targets.
.DEFAULT_GOAL := help
SHELL := /bin/bash
.SHELLFLAGS := -o pipefail -euc

GO        ?= go
BIN       ?= bin
VERSION   ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS   := -X main.Version=$(VERSION)
PKGS      := ./...
# Packages whose tests are too slow under the race detector on two cores run without it.
NORACE_PKGS :=
FUZZTIME  ?= 10s
STATICCHECK ?= $(shell command -v staticcheck || echo $(HOME)/go/bin/staticcheck)

.PHONY: help
help: ## show this help
	@grep -hE '^[a-zA-Z_-]+:.*?## ' $(MAKEFILE_LIST) | awk 'BEGIN{FS=":.*?## "}{printf "  \033[36m%-12s\033[0m %s\n", $$1, $$2}'

.PHONY: build
build: ## build bin/airanode
	$(GO) build -ldflags "$(LDFLAGS)" -o $(BIN)/airanode ./cmd/airanode

# The race detector needs cgo: `CGO_ENABLED=0 make test` runs the same tests without it.
RACE := $(shell [ "$$($(GO) env CGO_ENABLED)" = 1 ] && echo -race)

.PHONY: demo
demo: build ## a verified search on a local network of 3 honest nodes and 1 demo liar; prints the leaderboard
	$(BIN)/airanode devnet --nodes 3 --liars 1 --search demo --exit-when-done --status log

.PHONY: demo-tasks
demo-tasks: build ## a local 3-node network that claims, trains and replicates 20 real tasks (R=2)
	$(BIN)/airanode devnet --nodes 3 --submit 20 --replicas 2 --steps 300 --arch 'width=32: A M A M' --exit-when-done

.PHONY: test
test: ## run every test (race detector on when cgo is), check the CGO_ENABLED=0 build, run the CUDA kernels on the CPU
	$(GO) test $(RACE) -count=1 -timeout 25m $(PKGS)
	CGO_ENABLED=0 $(GO) build ./...
	@if command -v $(CXX) >/dev/null; then $(MAKE) --no-print-directory cuda-emu; \
	else echo "cuda-emu: skipped: no $(CXX) (apt-get install -y g++; CI installs it)"; fi

# The CUDA kernels compiled for the host (gpu/cuda/emu: fibers for threads), checked bit for bit,
# under AddressSanitizer and UndefinedBehaviorSanitizer (a read or write outside a buffer fails);
# then the CUDA device itself (kernels.go's launches) on the emulated kernels (build tag cudaemu):
# every kernel and whole trainings against the CPU device, bit for bit; then a node running a task
# on the real compute core (airanode-cuda built with cudaemu) against the CPU trainer's result.
# ASan warns once that it does not fully support swapcontext (the fibers); no false positive has
# shown up, and a planted out-of-bounds write is caught.
CXX ?= g++
EMU_FLAGS := -std=c++20 -O1 -g -ffp-contract=off -fsanitize=address,undefined -fno-sanitize-recover=undefined \
	-fno-omit-frame-pointer -Wall -Wno-sign-compare -Wno-unknown-pragmas
.PHONY: cuda-emu
cuda-emu: ## run the CUDA kernels on the CPU through gpu/cuda/emu and check them bit for bit (needs g++; about 4 min)
	@mkdir -p $(BIN)
	$(GO) run ./gpu/cuda/emu/vectors -o $(BIN)/emu-vectors.txt
	$(CXX) $(EMU_FLAGS) -o $(BIN)/cuda-emu gpu/cuda/emu/kernels_test.cc
	$(BIN)/cuda-emu $(BIN)/emu-vectors.txt
	CGO_ENABLED=1 $(GO) vet -tags cudaemu ./gpu/cuda/ ./cmd/airanode-cuda/ ./node/
	CGO_ENABLED=1 $(GO) test -count=1 -tags cudaemu ./gpu/cuda/
	CGO_ENABLED=1 $(GO) test -count=1 -tags cudaemu -run 'TestFlags' ./cmd/airanode-cuda/
	CGO_ENABLED=1 $(GO) build -tags cudaemu -o $(BIN)/airanode-cuda-emu ./cmd/airanode-cuda
	AIRANODE_EMU_CORE=$(abspath $(BIN)/airanode-cuda-emu) CGO_ENABLED=1 $(GO) test -count=1 -tags cudaemu -run 'TestEmuCore' ./node/

.PHONY: test-short
test-short: ## run the tests without the race detector
	$(GO) test -count=1 -timeout 20m $(PKGS)

.PHONY: lint
lint: ## gofmt, go vet and staticcheck
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet $(PKGS)
	$(STATICCHECK) $(PKGS)

.PHONY: fuzz
fuzz: ## run every fuzz target for FUZZTIME (default 10s) each
	@for pkg in $$($(GO) list $(PKGS)); do \
	  for f in $$($(GO) test -list '^Fuzz' $$pkg 2>/dev/null | grep '^Fuzz' || true); do \
	    echo "== $$pkg $$f"; $(GO) test -run '^$$' -fuzz "^$$f$$" -fuzztime $(FUZZTIME) $$pkg; \
	  done; \
	done

.PHONY: bench
bench: ## run the Go benchmarks (short)
	$(GO) test -run '^$$' -bench . -benchtime 1x $(PKGS)

.PHONY: generate
generate: ## regenerate the CPU assembly (gemm microkernels, vector primitives)
	$(GO) generate ./gpu/cpu/...

.PHONY: tidy-check
tidy-check: ## fail when go.mod/go.sum are not tidy
	@cp go.mod /tmp/go.mod.bak; cp go.sum /tmp/go.sum.bak; \
	$(GO) mod tidy; \
	if ! git diff --quiet -- go.mod go.sum; then echo "go.mod/go.sum drift: run go mod tidy"; git diff -- go.mod go.sum | head -40; cp /tmp/go.mod.bak go.mod; cp /tmp/go.sum.bak go.sum; exit 1; fi

# ---- CUDA (build tag cuda; see docs/gpu.md) ----
CUDA_SDK   := $(CURDIR)/.cuda/root
# STRIP is extra linker flags for the CUDA binaries: gpu-bundle sets -s -w.
STRIP      ?=
CUDA_ENV   := CGO_ENABLED=1 CGO_CFLAGS="-I$(CUDA_SDK)/usr/include" CGO_LDFLAGS="-L$(CUDA_SDK)/usr/lib/x86_64-linux-gnu/stubs"
NVCC       := $(CUDA_SDK)/usr/lib/nvidia-cuda-toolkit/bin/nvcc
NVCC_FLAGS := -ccbin /usr/bin/g++ -allow-unsupported-compiler -ptx -arch=compute_70 -fmad=false

.PHONY: cuda-sdk
cuda-sdk: ## fetch the pinned CUDA 11.8 headers, libcuda stub and nvcc into .cuda/ (changes nothing else)
	scripts/cuda-sdk.sh

.PHONY: ptx
ptx: cuda-sdk ## regenerate the committed PTX from the .cu sources
	$(NVCC) $(NVCC_FLAGS) gpu/cuda/kernels.cu -o gpu/cuda/kernels.ptx

.PHONY: ptx-check
ptx-check: cuda-sdk ## fail when the committed PTX is not what `make ptx` makes from kernels.cu (register numbering aside)
	$(NVCC) $(NVCC_FLAGS) gpu/cuda/kernels.cu -o $(BIN)/kernels.ptx
	@awk -f scripts/ptx-normalize.awk $(BIN)/kernels.ptx > $(BIN)/kernels.ptx.norm
	@awk -f scripts/ptx-normalize.awk gpu/cuda/kernels.ptx | cmp -s - $(BIN)/kernels.ptx.norm || \
		{ echo "gpu/cuda/kernels.ptx is stale: run make ptx"; exit 1; }

# Registers and spills per kernel as Hopper's assembler sees the committed PTX (the driver's JIT does
# the same work on a GPU machine): a kernel over 128 registers runs one 256-thread block per
# multiprocessor, and spills go through local memory. No GPU needed.
.PHONY: ptx-regs
ptx-regs: cuda-sdk ## print each kernel's registers, shared memory and spills for sm_90 (ptxas -v on the committed PTX)
	@mkdir -p $(BIN)
	@set -o pipefail; $(CUDA_SDK)/usr/bin/ptxas -arch=sm_90 -v gpu/cuda/kernels.ptx -o $(BIN)/kernels.cubin 2>&1 | \
		awk '/Compiling entry function/ { match($$0, /\047[^\047]+\047/); f = substr($$0, RSTART + 1, RLENGTH - 2) } \
		     /spill/ { sub(/.*stack frame, /, ""); sp = $$0 } \
		     /Used/ { sub(/.*Used /, ""); printf "%-22s %-40s %s\n", f, $$0, sp }' | sort -k2 -n -r

.PHONY: cuda
cuda: cuda-sdk ptx-check ## build bin/airanode-cuda (the CUDA compute core) and vet the cuda-tagged code
	$(CUDA_ENV) $(GO) vet -tags cuda ./gpu/cuda/... ./cmd/airanode-cuda/
	$(CUDA_ENV) $(GO) build -tags cuda -ldflags "$(LDFLAGS) $(STRIP)" -o $(BIN)/airanode-cuda ./cmd/airanode-cuda

.PHONY: cuda-test-bin
cuda-test-bin: cuda-sdk ## build the GPU test binaries (run them on a GPU machine: scripts/gpu-check.sh)
	$(CUDA_ENV) $(GO) test -tags cuda -c -ldflags "$(STRIP)" -o $(BIN)/cuda.test ./gpu/cuda

# The device tool carries at most 64 MiB with the working tree (the PTX is in the tree and in both
# CUDA binaries): the bundle's binaries are stripped (-s -w) and travel as one gzip'd tar (about 23
# MiB packed, 62 unpacked), unpacked there into bin/ by `tar -xzf bin/gpu-bundle.tar.gz`
# (docs/gpu.md); the last step fails past the carry (the tree: tracked and untracked files git does
# not ignore, as the tool carries them).
.PHONY: gpu-bundle
gpu-bundle: ## build everything scripts/gpu-check.sh runs on a GPU machine (stripped) into bin/gpu-bundle.tar.gz
	$(MAKE) --no-print-directory cuda cuda-test-bin STRIP="-s -w"
	$(GO) build -ldflags "$(LDFLAGS) -s -w" -o $(BIN)/airanode ./cmd/airanode
	cp ../shared/perf/torch_lm_bench.py $(BIN)/ 2>/dev/null || true
	tar -C $(BIN) --transform 's,^,bin/,' -czf $(BIN)/gpu-bundle.tar.gz airanode airanode-cuda cuda.test $$(cd $(BIN) && ls torch_lm_bench.py 2>/dev/null)
	@bundle=$$(stat -c %s $(BIN)/gpu-bundle.tar.gz); \
	tree=$$(git ls-files -z -co --exclude-standard | du -cb --files0-from=- | tail -1 | cut -f1); total=$$((bundle + $${tree:-0})); \
	echo "gpu-bundle: $$((bundle / 1048576)) MiB of $(BIN)/gpu-bundle.tar.gz + $$((tree / 1048576)) MiB of tracked tree = $$((total / 1048576)) MiB of the 64 MiB carry"; \
	[ $$total -le $$((64 * 1048576)) ] || { echo "gpu-bundle: past the device tool's 64 MiB carry"; exit 1; }

.PHONY: clean
clean: ## remove build outputs
	rm -rf $(BIN)
