// CRC-32C (Castagnoli), as zarr's crc32c codec stores it: hardware crc32 instructions (SSE4.2,
// three interleaved streams) when the CPU has them, a table otherwise. Host-only.
#pragma once

#include <cstddef>
#include <cstdint>

namespace fm {

// CRC-32C of `len` bytes at `data` (initial value 0, as crc32c.crc32c(data) in Python).
std::uint32_t crc32c(const void* data, std::size_t len);

}  // namespace fm
