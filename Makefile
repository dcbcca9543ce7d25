# The two commands: `make demo` and `make test`. Both install missing Debian packages first.
BUILD_DIR ?= build
ASAN_DIR ?= build-asan
TSAN_DIR ?= build-tsan
CMAKE_FLAGS ?=

.PHONY: setup setup-tests build demo test test-asan test-tsan fuzz bench format clean

setup:
	@bash scripts/setup

# The tests also need the SQL tests' DuckDB oracle (an npm package).
setup-tests:
	@bash scripts/setup --tests

$(BUILD_DIR)/build.ninja:
	cmake -S . -B $(BUILD_DIR) -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo $(CMAKE_FLAGS)

build: setup $(BUILD_DIR)/build.ninja
	cmake --build $(BUILD_DIR)

# The demo builds only what it runs (the libraries and the example, not the tests and benchmarks):
# on a fresh 2-core machine its first scores print within minutes (docs/BENCHMARKS.md).
demo: setup $(BUILD_DIR)/build.ninja
	cmake --build $(BUILD_DIR) --target fraud_detection
	@echo "== running the fraud-detection example on the embedded runtime =="
	$(BUILD_DIR)/examples/fraud_detection --output out

test: setup-tests build
	cd $(BUILD_DIR) && ctest --output-on-failure --timeout 600 -j 2

# Address + undefined-behaviour sanitizers over every test (without the benchmarks, "all" is the
# tests, their helper binaries and the example, so a new test binary cannot be left unbuilt).
test-asan: setup-tests
	cmake -S . -B $(ASAN_DIR) -G Ninja -DCMAKE_BUILD_TYPE=Debug -DSLUICE_SANITIZE=address -DSLUICE_BUILD_BENCH=OFF
	cmake --build $(ASAN_DIR)
	cd $(ASAN_DIR) && ctest --output-on-failure --timeout 900 -j 2

# ThreadSanitizer over the runtime tests (the scheduler, channels and task hand-offs), the
# checkpoint coordinator, the heap backend's copy-on-write snapshots (RocksDB itself is not
# instrumented, so its tests stay out), and the SQL files run on three threads (the batch
# executor's instances meeting in shared operator state).
test-tsan: setup
	cmake -S . -B $(TSAN_DIR) -G Ninja -DCMAKE_BUILD_TYPE=Debug -DSLUICE_SANITIZE=thread -DSLUICE_BUILD_BENCH=OFF
	cmake --build $(TSAN_DIR) --target runtime_test checkpoint_test state_test sql_logic_test
	cd $(TSAN_DIR) && ctest --output-on-failure --timeout 900 -j 2 \
	  -R '^(sql\..*\.p3|JobGraph|Parallelism|Fairness|Failure|Sources|InputGateTest|UnalignedGateTest|Checkpointing|CheckpointCoordinatorMessages|UnalignedCheckpoints|ExactlyOnce\.Rescaling|FinishedTasks|RestoreOperators\.(SessionWindows|PaneWindows|PerWindowAccumulators)|Backends/KeyedStateSnapshot\..*/Heap)'

# The SQL parser, binder and optimizer under libFuzzer with ASan + UBSan (clang), seeded with the
# SQL tests, TPC-H and every input that once crashed it.
FUZZ_SECONDS ?= 60
fuzz: setup-tests
	FUZZ_RUNS=$(FUZZ_RUNS) FUZZ_SEED=$(FUZZ_SEED) bash scripts/fuzz-sql $(FUZZ_SECONDS) build-fuzz

bench: build
	$(BUILD_DIR)/bench/runtime_bench
	$(BUILD_DIR)/bench/window_bench
	$(BUILD_DIR)/bench/checkpoint_bench
	$(BUILD_DIR)/bench/kafka_bench
	$(BUILD_DIR)/bench/nexmark_generator_bench
	$(BUILD_DIR)/bench/state_bench
	OUT=$(BUILD_DIR)/nexmark-results.jsonl scripts/nexmark-suite $(BUILD_DIR)/bench/sluice-nexmark | tee $(BUILD_DIR)/nexmark-results.md

format:
	find include src tests bench examples -name '*.h' -o -name '*.cpp' | xargs clang-format -i

clean:
	rm -rf $(BUILD_DIR) $(ASAN_DIR) $(TSAN_DIR) build-fuzz out
