/// @file
/// @brief minipaddle: umbrella header.
#pragma once

#include "minipaddle/config.h"
#include "minipaddle/gpu.h"
#include "minipaddle/kernels.h"
#include "minipaddle/nn.h"
#include "minipaddle/tensor.h"

namespace minipaddle {

/// Full version string, e.g. "0.1.0".
const char* version() noexcept;
/// Compiled CPU kernel: "avx" or "scalar" (same as kernels::name()).
const char* kernel() noexcept;

}  // namespace minipaddle
