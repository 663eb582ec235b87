# Thin wrapper over CMake so the README's two commands stay short.
# Build dirs: build/ (release), build-asan/ (ASan+UBSan), build-fuzz/ (clang libFuzzer).
JOBS ?= $(shell nproc)
CTEST_ARGS ?=

.PHONY: all build deps run test test-sanitize fuzz clean

all: build

deps:
	@bash scripts/install-deps.sh

build/CMakeCache.txt:
	cmake -S . -B build -DCMAKE_BUILD_TYPE=Release

build: build/CMakeCache.txt
	cmake --build build -j $(JOBS)

# Installs, builds and runs the hub with its embedded defaults (127.0.0.1:8080).
run: deps build
	@echo "API: curl -X POST localhost:8080/api/channels/demo/publish -d '{\"hi\":1}'  (with --api-key KEY add -H 'Authorization: Bearer KEY')"
	./build/wshub serve

# Installs, builds and runs every test through CTest.
test: deps build
	cd build && ctest --output-on-failure -j 2 $(CTEST_ARGS)

build-asan/CMakeCache.txt:
	CC=clang cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=Debug -DWSH_SANITIZE=ON

# The same tests against an ASan+UBSan build.
test-sanitize: deps build-asan/CMakeCache.txt
	cmake --build build-asan -j $(JOBS)
	cd build-asan && ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
		ctest --output-on-failure -j 2 $(CTEST_ARGS)

build-fuzz/CMakeCache.txt:
	CC=clang cmake -S . -B build-fuzz -DCMAKE_BUILD_TYPE=Debug -DWSH_FUZZ=ON

# Bounded libFuzzer runs (FUZZ_SECONDS each), corpora seeded from tests/fuzz/corpus.
FUZZ_SECONDS ?= 60
fuzz: deps build-fuzz/CMakeCache.txt
	cmake --build build-fuzz -j $(JOBS)
	bash scripts/run-fuzzers.sh build-fuzz $(FUZZ_SECONDS)

clean:
	rm -rf build build-asan build-fuzz
