# Every third-party package zerotune uses, found once here. Components only name targets.
find_package(Threads REQUIRED)
find_package(absl REQUIRED)
find_package(nlohmann_json 3.10 REQUIRED)
find_package(CLI11 CONFIG REQUIRED)
find_package(GTest REQUIRED)
# The log facility (common/log.cc): Debian's spdlog 1.10 over its libfmt (spdlog::spdlog, the
# compiled shared library).
find_package(spdlog CONFIG REQUIRED)
find_package(benchmark QUIET)

# Protobuf + gRPC (the coordinator and its clients), found before LibTorch: the wheel's
# Caffe2Config.cmake otherwise defines protobuf::libprotobuf as an empty alias of its own, and
# FindProtobuf then never creates the real target.
find_package(Protobuf REQUIRED)
find_package(gRPC CONFIG REQUIRED)
find_program(ZT_GRPC_CPP_PLUGIN grpc_cpp_plugin REQUIRED)

# CUDA + NCCL: ZT_CUDA=AUTO|ON|OFF. CUDA code is written against raw device pointers and
# cudaStream_t, so it compiles and links without a visible GPU (CPU CI builds it for sm_90).
# Enabled before LibTorch, whose public/cuda.cmake turns CMAKE_CUDA_ARCHITECTURES OFF: the
# project's CUDA targets take ZT_CUDA_ARCHITECTURES as a target property instead.
set(ZT_CUDA_ARCHITECTURES 90 CACHE STRING "CUDA architectures of zerotune's own CUDA targets")
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
      set(CMAKE_CUDA_ARCHITECTURES ${ZT_CUDA_ARCHITECTURES})
    endif()
    enable_language(CUDA)
    set(CMAKE_CUDA_STANDARD 17)
    find_package(CUDAToolkit REQUIRED)
    set(ZT_WITH_CUDA ON)
  elseif(ZT_CUDA STREQUAL "ON")
    message(FATAL_ERROR "ZT_CUDA=ON but no CUDA compiler was found (set CMAKE_CUDA_COMPILER)")
  endif()
endif()

# LibTorch 2.11 from the PyPI wheel, the build the GPU host runs: its torch/ (headers, CMake
# config, libraries) and nvidia/ (NCCL) folders, in the site-packages of the virtual environment
# scripts/setup.sh makes (.venv-torch/, git-ignored) or of the GPU host's Python
# (-DZT_TORCH_SITE_PACKAGES, scripts/gpu_build_and_test.sh).
set(ZT_TORCH_VENV "${PROJECT_SOURCE_DIR}/.venv-torch" CACHE PATH
    "Virtual environment holding the torch wheel (scripts/setup.sh makes it)")
if(NOT ZT_TORCH_SITE_PACKAGES)
  file(GLOB zt_site_packages LIST_DIRECTORIES true "${ZT_TORCH_VENV}/lib/python3*/site-packages")
  if(zt_site_packages)
    list(GET zt_site_packages 0 zt_site_packages)
    set(ZT_TORCH_SITE_PACKAGES "${zt_site_packages}" CACHE PATH
        "site-packages folder holding the torch wheel's torch/ and nvidia/")
  endif()
endif()
if(ZT_TORCH_SITE_PACKAGES)
  # torch/ itself too, so that TorchConfig's find_library looks in torch/lib before the system.
  list(APPEND CMAKE_PREFIX_PATH "${ZT_TORCH_SITE_PACKAGES}/torch/share/cmake"
       "${ZT_TORCH_SITE_PACKAGES}/torch")
  if(NOT ZT_NCCL_ROOT AND EXISTS "${ZT_TORCH_SITE_PACKAGES}/nvidia/nccl/include/nccl.h")
    set(ZT_NCCL_ROOT "${ZT_TORCH_SITE_PACKAGES}/nvidia/nccl")
  endif()
else()
  message(WARNING "zerotune: no torch wheel in ${ZT_TORCH_VENV} (run scripts/setup.sh); "
                  "looking for LibTorch through CMAKE_PREFIX_PATH")
endif()
# Torch's CUDA setup would otherwise ask a GPU for its architecture and, finding none, fall
# back to a list starting at compute_50, which nvcc 13 rejects.
if(NOT DEFINED TORCH_CUDA_ARCH_LIST AND NOT DEFINED ENV{TORCH_CUDA_ARCH_LIST})
  set(TORCH_CUDA_ARCH_LIST "9.0")
endif()
set(zt_cuda_architectures "${CMAKE_CUDA_ARCHITECTURES}")
find_package(Torch 2.11 REQUIRED)
if(ZT_WITH_CUDA)
  set(CMAKE_CUDA_ARCHITECTURES "${zt_cuda_architectures}")
endif()
# TorchConfig finds its libraries with find_library(... PATHS <torch>/lib), which looks in the
# system's folders first: a LibTorch installed there (Debian's libtorch-dev) would be linked
# under the wheel's headers.
get_filename_component(zt_torch_root "${Torch_DIR}/../../.." ABSOLUTE)
foreach(zt_torch_lib TORCH_LIBRARY c10_LIBRARY)
  if(NOT ${zt_torch_lib} MATCHES "^${zt_torch_root}/")
    message(FATAL_ERROR "LibTorch: ${zt_torch_lib} is ${${zt_torch_lib}}, not under ${zt_torch_root} "
                        "where Torch_DIR (${Torch_DIR}) is; put ${zt_torch_root} in CMAKE_PREFIX_PATH")
  endif()
endforeach()
message(STATUS "zerotune: LibTorch ${Torch_VERSION} at ${zt_torch_root}")
# The wheel's include/ also holds its own, older Protobuf headers (google/protobuf): a translation
# unit that includes LibTorch and gRPC would take those before Debian's, which gRPC and the
# generated .pb.h files need. zerotune sees torch's include/ through a folder of links to every
# entry but google/.
set(zt_torch_include "${PROJECT_BINARY_DIR}/torch-include")
file(REMOVE_RECURSE "${zt_torch_include}")
file(MAKE_DIRECTORY "${zt_torch_include}")
file(GLOB zt_torch_include_entries RELATIVE "${zt_torch_root}/include" "${zt_torch_root}/include/*")
foreach(entry IN LISTS zt_torch_include_entries)
  if(NOT entry STREQUAL "google")
    file(CREATE_LINK "${zt_torch_root}/include/${entry}" "${zt_torch_include}/${entry}" SYMBOLIC)
  endif()
endforeach()
foreach(zt_torch_target torch torch_cpu torch_cuda c10 c10_cuda)
  if(TARGET ${zt_torch_target})
    set_property(TARGET ${zt_torch_target} PROPERTY INTERFACE_INCLUDE_DIRECTORIES
                 "${zt_torch_include}" "${zt_torch_include}/torch/csrc/api/include")
  endif()
endforeach()
if(TORCH_CXX_FLAGS)
  separate_arguments(zt_torch_flags UNIX_COMMAND "${TORCH_CXX_FLAGS}")
endif()
add_library(zt_torch INTERFACE)
target_link_libraries(zt_torch INTERFACE ${TORCH_LIBRARIES})
target_compile_options(zt_torch INTERFACE ${zt_torch_flags})

# OpenMP (CPU AdamW, NF4 kernels): the wheel's own libgomp, so that zerotune's kernels and ATen
# share one OpenMP runtime and its thread pool in every process, never two.
if(NOT ZT_FUZZ)
  find_package(OpenMP REQUIRED COMPONENTS CXX)
  add_library(zt_openmp INTERFACE)
  target_compile_options(zt_openmp INTERFACE $<$<COMPILE_LANGUAGE:CXX>:${OpenMP_CXX_FLAGS}>)
  if(EXISTS "${zt_torch_root}/lib/libgomp.so.1")
    target_link_libraries(zt_openmp INTERFACE "${zt_torch_root}/lib/libgomp.so.1" Threads::Threads)
  else()
    target_link_libraries(zt_openmp INTERFACE OpenMP::OpenMP_CXX)
  endif()
endif()

# NCCL: the wheel's nvidia-nccl package (ZT_NCCL_ROOT, set above from the wheel, or NCCL_ROOT)
# and nothing else when there is one, else the toolkit's. NAMES_PER_DIR: a folder that has
# either name wins before the next folder is looked at.
if(ZT_WITH_CUDA)
  if(NOT ZT_NCCL_ROOT AND DEFINED ENV{NCCL_ROOT})
    set(ZT_NCCL_ROOT "$ENV{NCCL_ROOT}")
  endif()
  if(ZT_NCCL_ROOT)
    set(zt_nccl_search HINTS ${ZT_NCCL_ROOT} NO_DEFAULT_PATH)
  else()
    set(zt_nccl_search HINTS ${CUDAToolkit_INCLUDE_DIRS} ${CUDAToolkit_LIBRARY_DIR})
  endif()
  find_path(ZT_NCCL_INCLUDE_DIR nccl.h ${zt_nccl_search} PATH_SUFFIXES include)
  find_library(ZT_NCCL_LIBRARY NAMES nccl libnccl.so.2 NAMES_PER_DIR ${zt_nccl_search}
               PATH_SUFFIXES lib lib64)
  if(ZT_NCCL_INCLUDE_DIR AND ZT_NCCL_LIBRARY)
    add_library(zt_nccl INTERFACE)
    target_include_directories(zt_nccl INTERFACE ${ZT_NCCL_INCLUDE_DIR})
    target_link_libraries(zt_nccl INTERFACE ${ZT_NCCL_LIBRARY} CUDA::cudart)
    set(ZT_WITH_NCCL ON)
    message(STATUS "zerotune: NCCL ${ZT_NCCL_LIBRARY}")
  endif()
  if(ZT_CUDA STREQUAL "ON" AND NOT ZT_WITH_NCCL)
    message(FATAL_ERROR "ZT_CUDA=ON but nccl.h/libnccl were not found (set ZT_NCCL_ROOT)")
  endif()
endif()

# Gloo: CPU collectives, Debian's (the wheel has no Gloo headers).
find_package(Gloo CONFIG QUIET)
set(ZT_WITH_GLOO ${Gloo_FOUND})

# A symbol that two loaded libraries both define binds, process-wide, to the one that comes
# first in the executable's DT_NEEDED list. libtorch_cpu.so exports its own Gloo (325 of its
# 339 gloo:: symbols are also in Debian's older libgloo.so.0: mixing the two crashes in
# gloo::Context::createUnboundBuffer) and std::filesystem functions of the newer libstdc++ it
# was built with (remove_all crashes on Debian 12's). zerotune compiles against Debian's Gloo
# headers and the system's libstdc++, so every executable names those two ahead of LibTorch;
# tests/common/symbol_binding_test.cc checks where the symbols land.
if(NOT ZT_FUZZ)
  set(zt_first_libraries -lstdc++)
  if(ZT_WITH_GLOO)
    list(PREPEND zt_first_libraries "$<TARGET_FILE:gloo>")
  endif()
  add_link_options("LINKER:--push-state,--no-as-needed" ${zt_first_libraries} "LINKER:--pop-state")
endif()

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

