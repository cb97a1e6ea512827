# ccache when present. PCH-friendly sloppiness so precompiled headers do not defeat the cache;
# paths under the source tree (build folders and .venv-torch/ included) hashed relative to it,
# so that another clone of the repository on the same machine reuses the cache.
find_program(ZT_CCACHE ccache)
if(ZT_CCACHE)
  set(zt_launcher ${CMAKE_COMMAND} -E env
      CCACHE_SLOPPINESS=pch_defines,time_macros,include_file_mtime,include_file_ctime
      CCACHE_BASEDIR=${PROJECT_SOURCE_DIR}
      ${ZT_CCACHE})
  set(CMAKE_C_COMPILER_LAUNCHER ${zt_launcher})
  set(CMAKE_CXX_COMPILER_LAUNCHER ${zt_launcher})
  set(CMAKE_CUDA_COMPILER_LAUNCHER ${zt_launcher})
endif()
