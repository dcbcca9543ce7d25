# The two commands: `make demo` and `make test`. Both install missing Debian packages first.
BUILD_DIR ?= build
ASAN_DIR ?= build-asan
CMAKE_FLAGS ?=

.PHONY: setup build demo test test-asan bench format clean

setup:
	@bash scripts/setup

$(BUILD_DIR)/build.ninja:
	cmake -S . -B $(BUILD_DIR) -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo $(CMAKE_FLAGS)

build: setup $(BUILD_DIR)/build.ninja
	cmake --build $(BUILD_DIR)

demo: build
	@echo "== running the fraud-detection example on the embedded runtime =="
	$(BUILD_DIR)/examples/fraud_detection --output out

test: build
	cd $(BUILD_DIR) && ctest --output-on-failure --timeout 600 -j 2

# Address + undefined-behaviour sanitizers over the core and runtime tests.
test-asan: setup
	cmake -S . -B $(ASAN_DIR) -G Ninja -DCMAKE_BUILD_TYPE=Debug -DSLUICE_SANITIZE=ON -DSLUICE_BUILD_BENCH=OFF
	cmake --build $(ASAN_DIR) --target core_test runtime_test connectors_test
	cd $(ASAN_DIR) && ctest --output-on-failure --timeout 900 -j 2

bench: build
	$(BUILD_DIR)/bench/runtime_bench

format:
	find include src tests bench examples -name '*.h' -o -name '*.cpp' | xargs clang-format -i

clean:
	rm -rf $(BUILD_DIR) $(ASAN_DIR) out
