#include "minipaddle/version.h"

#include "minipaddle/minipaddle.h"

namespace minipaddle {

const char* version() noexcept { return MINIPADDLE_VERSION_STRING; }

const char* kernel() noexcept { return kernels::name(); }

}  // namespace minipaddle
