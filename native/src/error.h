// error.h: the core's error type. Core and backends throw vl::Error; the C ABI (abi.cpp) catches
// it and turns it into a vl_status plus a message, so no exception ever crosses the ABI.
#pragma once
#include <stdexcept>
#include <string>

#include "vramlab.h"

namespace vl {

class Error : public std::runtime_error {
 public:
  Error(vl_status status, const std::string &message) : std::runtime_error(message), status_(status) {}
  vl_status status() const { return status_; }

 private:
  vl_status status_;
};

}  // namespace vl
