# One-line helpers so adding a library, a test or a fuzz target is one call.
#
#   zt_library(<name> [TORCH|GRPC] SOURCES a.cc b.cc DEPS <public libs> [PRIVATE_DEPS <libs>])
#   zt_test(<name> LABEL unit|multirank|e2e|gpu [TORCH|GRPC] SOURCES a_test.cc ... DEPS <libs> [NO_UNITY])
#   zt_fuzz(<name> SOURCE fuzz.cc DEPS <libs> CORPUS <dir> [RUNS N])
#
# TORCH targets share one precompiled LibTorch header set (zt_pch_torch), GRPC targets one
# gRPC/Protobuf set (zt_pch_grpc). A target is one or the other, never both.

set(ZT_SOURCE_ROOT ${PROJECT_SOURCE_DIR})
set(ZT_TEST_LABELS unit multirank e2e gpu fuzz)

# The precompiled headers every LibTorch-using target reuses. Keep this list narrow: ATen and
# the autograd pieces, never <torch/torch.h>.
add_library(zt_pch_torch STATIC ${ZT_SOURCE_ROOT}/cmake/pch_torch.cc)
target_link_libraries(zt_pch_torch PUBLIC zt_torch absl::status absl::statusor)
target_precompile_headers(zt_pch_torch PRIVATE
  <ATen/ATen.h> <torch/csrc/autograd/function.h> <torch/csrc/autograd/variable.h>
  <absl/status/status.h> <absl/status/statusor.h> <absl/strings/str_cat.h>)

function(zt_use_torch target scope)
  target_link_libraries(${target} ${scope} zt_torch)
  if(NOT ZT_FUZZ)
    target_precompile_headers(${target} REUSE_FROM zt_pch_torch)
  endif()
endfunction()

# The precompiled gRPC/Protobuf headers every gRPC-using target reuses (coordinator, its
# clients in the worker runtime, the gRPC store).
add_library(zt_pch_grpc STATIC ${ZT_SOURCE_ROOT}/cmake/pch_grpc.cc)
target_link_libraries(zt_pch_grpc PUBLIC gRPC::grpc++ protobuf::libprotobuf absl::status absl::statusor)
target_precompile_headers(zt_pch_grpc PRIVATE
  <grpcpp/grpcpp.h> <google/protobuf/message.h> <absl/status/status.h> <absl/status/statusor.h>
  <absl/strings/str_cat.h>)

# Torch-free libraries and tests share these: JSON, CLI11, Abseil and (for tests) GoogleTest are
# header-heavy and used almost everywhere.
add_library(zt_pch_base STATIC ${ZT_SOURCE_ROOT}/cmake/pch_base.cc)
target_link_libraries(zt_pch_base PUBLIC nlohmann_json::nlohmann_json CLI11::CLI11 absl::status
                                         absl::statusor absl::strings)
target_precompile_headers(zt_pch_base PRIVATE
  <nlohmann/json.hpp> <CLI/CLI.hpp> <absl/status/status.h> <absl/status/statusor.h>
  <absl/strings/str_cat.h> <string> <vector> <memory> <functional>)
add_library(zt_pch_test STATIC ${ZT_SOURCE_ROOT}/cmake/pch_base.cc)
target_link_libraries(zt_pch_test PUBLIC zt_pch_base GTest::gtest GTest::gmock)
target_precompile_headers(zt_pch_test PRIVATE
  <gtest/gtest.h> <gmock/gmock.h> <nlohmann/json.hpp> <absl/status/status.h>
  <absl/status/statusor.h> <absl/strings/str_cat.h> <string> <vector> <memory> <functional>)

# Plain (neither TORCH nor GRPC) C++ targets reuse zt_pch_base / zt_pch_test; CUDA and fuzz
# targets get none.
function(zt_use_base_pch target pch)
  get_target_property(sources ${target} SOURCES)
  list(FILTER sources INCLUDE REGEX "\\.cu$")
  if(NOT ZT_FUZZ AND NOT sources)
    target_precompile_headers(${target} REUSE_FROM ${pch})
  endif()
endfunction()

function(zt_use_grpc target scope)
  target_link_libraries(${target} ${scope} gRPC::grpc++ protobuf::libprotobuf)
  if(NOT ZT_FUZZ)
    target_precompile_headers(${target} REUSE_FROM zt_pch_grpc)
  endif()
endfunction()

function(zt_library name)
  cmake_parse_arguments(ARG "TORCH;GRPC" "" "SOURCES;DEPS;PRIVATE_DEPS" ${ARGN})
  add_library(${name} STATIC ${ARG_SOURCES})
  target_include_directories(${name} PUBLIC ${ZT_SOURCE_ROOT} ${PROJECT_BINARY_DIR})
  target_link_libraries(${name} PUBLIC ${ARG_DEPS} PRIVATE ${ARG_PRIVATE_DEPS})
  if(ARG_TORCH)
    zt_use_torch(${name} PUBLIC)
  elseif(ARG_GRPC)
    zt_use_grpc(${name} PUBLIC)
  else()
    zt_use_base_pch(${name} zt_pch_base)
  endif()
endfunction()

function(zt_test name)
  cmake_parse_arguments(ARG "TORCH;GRPC;NO_UNITY" "LABEL;TIMEOUT" "SOURCES;DEPS" ${ARGN})
  if(NOT ARG_LABEL IN_LIST ZT_TEST_LABELS)
    message(FATAL_ERROR "zt_test(${name}): LABEL '${ARG_LABEL}' is not one of ${ZT_TEST_LABELS}")
  endif()
  if(ZT_FUZZ)
    return()
  endif()
  add_executable(${name} ${ARG_SOURCES})
  target_link_libraries(${name} PRIVATE zt_test_main ${ARG_DEPS})
  if(ARG_TORCH)
    zt_use_torch(${name} PRIVATE)
  elseif(ARG_GRPC)
    zt_use_grpc(${name} PRIVATE)
  else()
    zt_use_base_pch(${name} zt_pch_test)
  endif()
  if(NOT ARG_NO_UNITY)
    set_target_properties(${name} PROPERTIES UNITY_BUILD ON UNITY_BUILD_BATCH_SIZE 16)
  endif()
  if(NOT ARG_TIMEOUT)
    set(ARG_TIMEOUT 600)
  endif()
  add_test(NAME ${name} COMMAND ${name})
  # ZT_TEST_LABEL lets the shared test main fail skipped multirank/e2e tests under CI=true.
  # One BLAS/OpenMP thread per process unless a test is about threading.
  set_tests_properties(${name} PROPERTIES
    LABELS ${ARG_LABEL} TIMEOUT ${ARG_TIMEOUT} SKIP_RETURN_CODE 77
    ENVIRONMENT "ZT_TEST_LABEL=${ARG_LABEL};OMP_NUM_THREADS=1;OPENBLAS_NUM_THREADS=1;ZT_TEST_DATA=${ZT_SOURCE_ROOT}/tests/data")
endfunction()

# Fuzz targets exist only in a clang build configured with -DZT_FUZZ=ON (scripts/test.sh makes
# one). Each is run as a CTest test (label fuzz) over its committed seed corpus for a fixed,
# deterministic number of runs; scripts/fuzz_long.sh runs them open-ended.
if(ZT_FUZZ)
  add_custom_target(zt_fuzzers)
endif()
function(zt_fuzz name)
  cmake_parse_arguments(ARG "" "SOURCE;CORPUS;RUNS" "DEPS" ${ARGN})
  if(NOT ZT_FUZZ)
    return()
  endif()
  if(NOT ARG_RUNS)
    set(ARG_RUNS 20000)
  endif()
  add_executable(${name} ${ARG_SOURCE})
  target_link_libraries(${name} PRIVATE ${ARG_DEPS})
  target_compile_options(${name} PRIVATE -fsanitize=fuzzer)
  target_link_options(${name} PRIVATE -fsanitize=fuzzer)
  add_dependencies(zt_fuzzers ${name})
  set(corpus ${ZT_SOURCE_ROOT}/${ARG_CORPUS})
  # New inputs go to a scratch folder emptied per run, so the committed seeds stay untouched
  # and the run is deterministic.
  add_test(NAME ${name}
           COMMAND ${ZT_SOURCE_ROOT}/scripts/run_fuzz_target.sh $<TARGET_FILE:${name}>
                   ${CMAKE_CURRENT_BINARY_DIR}/${name}.scratch ${corpus} -runs=${ARG_RUNS})
  set_tests_properties(${name} PROPERTIES LABELS fuzz TIMEOUT 300)
  set_property(GLOBAL APPEND PROPERTY ZT_FUZZ_TARGETS "${name}|${corpus}")
endfunction()
