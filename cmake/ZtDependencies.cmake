# Every third-party package zerotune uses, found once here. Components only name targets.
find_package(Threads REQUIRED)
find_package(absl REQUIRED)
find_package(nlohmann_json 3.10 REQUIRED)
find_package(CLI11 CONFIG REQUIRED)
find_package(GTest REQUIRED)
find_package(benchmark QUIET)

# LibTorch: Debian's 1.13 (CPU) or a 2.x one, e.g. from an installed PyTorch
# (-DCMAKE_PREFIX_PATH=$(python3 -c 'import torch;print(torch.utils.cmake_prefix_path)')).
find_package(Torch REQUIRED)
message(STATUS "zerotune: LibTorch ${Torch_VERSION} at ${Torch_DIR}")
if(TORCH_CXX_FLAGS)
  separate_arguments(zt_torch_flags UNIX_COMMAND "${TORCH_CXX_FLAGS}")
endif()
add_library(zt_torch INTERFACE)
target_link_libraries(zt_torch INTERFACE ${TORCH_LIBRARIES})
target_compile_options(zt_torch INTERFACE ${zt_torch_flags})

# Protobuf + gRPC (the coordinator and its clients).
find_package(Protobuf REQUIRED)
find_package(gRPC CONFIG REQUIRED)
find_program(ZT_GRPC_CPP_PLUGIN grpc_cpp_plugin REQUIRED)

# Gloo: CPU collectives.
find_package(Gloo CONFIG QUIET)
set(ZT_WITH_GLOO ${Gloo_FOUND})

# MPI: ZT_MPI=AUTO|ON|OFF.
set(ZT_WITH_MPI OFF)
if(NOT ZT_MPI STREQUAL "OFF")
  if(ZT_MPI STREQUAL "ON")
    find_package(MPI REQUIRED COMPONENTS C)
  else()
    find_package(MPI QUIET COMPONENTS C)
  endif()
  set(ZT_WITH_MPI ${MPI_C_FOUND})
endif()
if(ZT_WITH_MPI)
  # The C API only: mpi.h would otherwise drag in the deprecated C++ bindings.
  add_library(zt_mpi INTERFACE)
  target_link_libraries(zt_mpi INTERFACE MPI::MPI_C)
  target_compile_definitions(zt_mpi INTERFACE OMPI_SKIP_MPICXX=1 MPICH_SKIP_MPICXX=1)
endif()

# CUDA + NCCL: ZT_CUDA=AUTO|ON|OFF. CUDA code is written against raw device pointers and
# cudaStream_t, so it builds even against a CPU-only LibTorch (compile-and-link in CPU CI).
set(ZT_WITH_CUDA OFF)
set(ZT_WITH_NCCL OFF)
if(NOT ZT_CUDA STREQUAL "OFF" AND NOT ZT_FUZZ)
  include(CheckLanguage)
  if(NOT DEFINED CMAKE_CUDA_COMPILER AND EXISTS /usr/local/cuda/bin/nvcc)
    set(CMAKE_CUDA_COMPILER /usr/local/cuda/bin/nvcc)
  endif()
  check_language(CUDA)
  if(CMAKE_CUDA_COMPILER)
    if(NOT DEFINED CMAKE_CUDA_ARCHITECTURES)
      set(CMAKE_CUDA_ARCHITECTURES 90)
    endif()
    enable_language(CUDA)
    set(CMAKE_CUDA_STANDARD 17)
    find_package(CUDAToolkit REQUIRED)
    set(ZT_WITH_CUDA ON)
    # NCCL: the toolkit's copy, or the pip package's (ZT_NCCL_ROOT / NCCL_ROOT).
    find_path(ZT_NCCL_INCLUDE_DIR nccl.h
              HINTS ${ZT_NCCL_ROOT} $ENV{NCCL_ROOT} ${CUDAToolkit_INCLUDE_DIRS} PATH_SUFFIXES include)
    find_library(ZT_NCCL_LIBRARY NAMES nccl libnccl.so.2
                 HINTS ${ZT_NCCL_ROOT} $ENV{NCCL_ROOT} ${CUDAToolkit_LIBRARY_DIR} PATH_SUFFIXES lib lib64)
    if(ZT_NCCL_INCLUDE_DIR AND ZT_NCCL_LIBRARY)
      add_library(zt_nccl INTERFACE)
      target_include_directories(zt_nccl INTERFACE ${ZT_NCCL_INCLUDE_DIR})
      target_link_libraries(zt_nccl INTERFACE ${ZT_NCCL_LIBRARY} CUDA::cudart)
      set(ZT_WITH_NCCL ON)
    endif()
  elseif(ZT_CUDA STREQUAL "ON")
    message(FATAL_ERROR "ZT_CUDA=ON but no CUDA compiler was found (set CMAKE_CUDA_COMPILER)")
  endif()
  if(ZT_CUDA STREQUAL "ON" AND NOT ZT_WITH_NCCL)
    message(FATAL_ERROR "ZT_CUDA=ON but nccl.h/libnccl were not found (set ZT_NCCL_ROOT)")
  endif()
endif()
