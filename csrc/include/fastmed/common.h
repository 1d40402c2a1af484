// Shared definitions for code compiled by the host compiler, nvcc and NVRTC.
//
// Headers under include/fastmed/ are written once and included by both the CPU
// build (csrc/cpu) and the CUDA sources (csrc/cuda). NVRTC has no standard
// library headers, so fixed-width types come from here, never from <cstdint>.
#pragma once

#if defined(__CUDACC__) || defined(__CUDACC_RTC__)
#define FM_HD __host__ __device__ __forceinline__
#define FM_DEVICE_CODE 1
#else
#define FM_HD inline
#endif

#if defined(__CUDACC_RTC__)
namespace fm {
typedef unsigned int u32;
typedef unsigned long long u64;
typedef int i32;
typedef long long i64;
typedef unsigned short u16;
typedef short i16;
typedef unsigned char u8;
}  // namespace fm
#else
#include <math.h>

#include <cstdint>
namespace fm {
using u32 = std::uint32_t;
using u64 = std::uint64_t;
using i32 = std::int32_t;
using i64 = std::int64_t;
using u16 = std::uint16_t;
using i16 = std::int16_t;
using u8 = std::uint8_t;
}  // namespace fm
#endif
