# The two commands a newcomer needs: `make run` and `make test`.
PRESET ?= $(if $(CI),ci,release)
BUILD_DIR := build
DATA_DIR ?= ./data
LISTEN ?= 127.0.0.1:8080

.PHONY: deps configure build run test fuzz screenshots bench bench-upstream format clean

deps:
	@bash scripts/install-deps.sh

configure: deps
	@if [ ! -f $(BUILD_DIR)/build.ninja ]; then cmake --preset $(PRESET) >/dev/null; fi

build: configure
	@cmake --build $(BUILD_DIR) --parallel

run: build
	@bash scripts/run.sh $(BUILD_DIR)/imagegate "$(DATA_DIR)" "$(LISTEN)"

test: configure
	@cmake --preset $(PRESET) >/dev/null
	@cmake --build $(BUILD_DIR) --parallel
	@cd $(BUILD_DIR) && ctest --output-on-failure --timeout 900

# libFuzzer targets (fuzz/: the dialect parsers, multipart, URLs and addresses, sizes, config),
# built with clang, ASan and UBSan in build-fuzz/, each run FUZZ_SECONDS from its seed corpus;
# FUZZ_TARGETS="jobs url" runs only those. docs/fuzzing.md.
FUZZ_SECONDS ?= 60
FUZZ_TARGETS ?=
fuzz: deps
	@if [ ! -f build-fuzz/build.ninja ]; then cmake -S . -B build-fuzz -G Ninja \
	  -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_CXX_COMPILER=clang++ -DIG_FUZZ=ON >/dev/null; fi
	@cmake --build build-fuzz --parallel
	@bash fuzz/run.sh build-fuzz $(FUZZ_SECONDS) $(FUZZ_TARGETS)

# A screenshot of every console page, into docs/img/ (docs/console.md and README.md show them):
# a real server with the sandbox, driven by headless chromium (tests/browser).
screenshots: build
	@IMAGEGATE_BIN=$(CURDIR)/$(BUILD_DIR)/imagegate bash tests/browser/run.sh screenshots $(CURDIR)/docs/img

bench: build
	@bash bench/run.sh $(BUILD_DIR)/imagegate

# The openai dialect through imagegate, through Portkey and direct to a fake upstream.
bench-upstream: build
	@bash bench/upstream.sh $(BUILD_DIR)/imagegate

format:
	@clang-format -i $$(git ls-files '*.cpp' '*.hpp')

clean:
	@rm -rf $(BUILD_DIR)
