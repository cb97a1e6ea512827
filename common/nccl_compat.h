// Every NCCL version gate lives here. NCCL_VERSION_CODE is the version compiled against;
// ncclGetVersion() (see nccl_version.h) is the one loaded at run time.
#pragma once

#include <nccl.h>

#define ZT_NCCL_AT_LEAST(major, minor, patch) \
  (NCCL_VERSION_CODE >= NCCL_VERSION(major, minor, patch))

// ncclBfloat16 and ncclAvg: NCCL 2.10.
#define ZT_NCCL_HAS_BF16_AND_AVG ZT_NCCL_AT_LEAST(2, 10, 0)
// ncclConfig_t, ncclCommInitRankConfig (blocking = 0 for non-blocking init), ncclCommFinalize:
// NCCL 2.14.
#define ZT_NCCL_HAS_COMM_CONFIG ZT_NCCL_AT_LEAST(2, 14, 0)
// ncclGetLastError: NCCL 2.13.
#define ZT_NCCL_HAS_LAST_ERROR ZT_NCCL_AT_LEAST(2, 13, 0)
// ncclCommSplit: NCCL 2.18.
#define ZT_NCCL_HAS_COMM_SPLIT ZT_NCCL_AT_LEAST(2, 18, 0)

#if !ZT_NCCL_HAS_COMM_CONFIG
#error "zerotune needs NCCL >= 2.14 (non-blocking ncclCommInitRankConfig and ncclCommAbort)"
#endif
