// ZT_RETURN_IF_ERROR / ZT_ASSIGN_OR_RETURN: absl 20220623 ships neither, so here they are once.
#pragma once

#include "absl/status/status.h"
#include "absl/status/statusor.h"

#define ZT_STATUS_CONCAT_INNER_(a, b) a##b
#define ZT_STATUS_CONCAT_(a, b) ZT_STATUS_CONCAT_INNER_(a, b)

// Evaluates `expr` (an absl::Status) and returns it from the enclosing function if not OK.
#define ZT_RETURN_IF_ERROR(expr)                          \
  do {                                                    \
    ::absl::Status zt_status_ = (expr);                   \
    if (!zt_status_.ok()) return zt_status_;              \
  } while (0)

// `lhs` = value of `expr` (an absl::StatusOr<T>), or returns its status from the enclosing
// function. `lhs` may declare a variable: ZT_ASSIGN_OR_RETURN(auto x, Parse(text));
#define ZT_ASSIGN_OR_RETURN(lhs, expr) \
  ZT_ASSIGN_OR_RETURN_IMPL_(ZT_STATUS_CONCAT_(zt_statusor_, __LINE__), lhs, expr)

#define ZT_ASSIGN_OR_RETURN_IMPL_(statusor, lhs, expr) \
  auto statusor = (expr);                              \
  if (!statusor.ok()) return std::move(statusor).status(); \
  lhs = std::move(statusor).value()
