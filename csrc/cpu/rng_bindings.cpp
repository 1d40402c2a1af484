// Python access to the Philox stream used by every op and kernel.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <cstdint>
#include <stdexcept>

#include "bindings.h"
#include "fastmed/rng.h"
#include "thread_pool.h"

namespace py = pybind11;

namespace fm {
namespace {

using U32Array = py::array_t<std::uint32_t, py::array::c_style | py::array::forcecast>;

U32Array philox_blocks(U32Array counters, std::uint32_t key0, std::uint32_t key1) {
  if (counters.ndim() != 2 || counters.shape(1) != 4) {
    throw std::invalid_argument("counters must have shape (n, 4)");
  }
  const std::int64_t n = counters.shape(0);
  U32Array out({n, static_cast<std::int64_t>(4)});
  const std::uint32_t* src = counters.data();
  std::uint32_t* dst = out.mutable_data();
  const u32 key[2] = {key0, key1};
  {
    py::gil_scoped_release release;
    for (std::int64_t i = 0; i < n; ++i) {
      const Philox4x32 b = philox4x32_10(src + 4 * i, key);
      for (int w = 0; w < 4; ++w) dst[4 * i + w] = b.v[w];
    }
  }
  return out;
}

// Words [start, start + n) of the stream (key, stream_lo, stream_hi): word j is
// word j % 4 of block j / 4. The same layout the CUDA kernels use.
U32Array stream_words(std::uint32_t key0, std::uint32_t key1, std::uint32_t stream_lo,
                      std::uint32_t stream_hi, std::uint64_t start, std::int64_t n) {
  if (n < 0) throw std::invalid_argument("n must be >= 0");
  U32Array out(n);
  std::uint32_t* dst = out.mutable_data();
  const u32 key[2] = {key0, key1};
  {
    py::gil_scoped_release release;
    for (std::int64_t i = 0; i < n; ++i) {
      const std::uint64_t j = start + static_cast<std::uint64_t>(i);
      dst[i] = philox_block(j >> 2, stream_lo, stream_hi, key).v[j & 3];
    }
  }
  return out;
}

template <typename Fill>
void fill_parallel(std::int64_t n, int threads, Fill fill) {
  py::gil_scoped_release release;
  // Blocks of 4 elements never straddle chunks, so each element's value is
  // independent of the thread count.
  parallel_for((n + 3) / 4, 4096, threads, [&](std::int64_t b, std::int64_t e) {
    for (std::int64_t blk = b; blk < e; ++blk) fill(blk);
  });
}

void fill_uniform(py::array_t<float, py::array::c_style> out, std::uint64_t seed,
                  std::uint32_t stream_lo, std::uint32_t stream_hi, int threads) {
  float* dst = out.mutable_data();
  const std::int64_t n = out.size();
  u32 key[2];
  derive_key(seed, 0, key);
  fill_parallel(n, threads, [&](std::int64_t blk) {
    const Philox4x32 r = philox_block(static_cast<u64>(blk), stream_lo, stream_hi, key);
    const std::int64_t base = blk * 4;
    for (int w = 0; w < 4 && base + w < n; ++w) dst[base + w] = u32_to_unit_float(r.v[w]);
  });
}

void fill_normal(py::array_t<float, py::array::c_style> out, std::uint64_t seed,
                 std::uint32_t stream_lo, std::uint32_t stream_hi, int threads) {
  float* dst = out.mutable_data();
  const std::int64_t n = out.size();
  u32 key[2];
  derive_key(seed, 0, key);
  fill_parallel(n, threads, [&](std::int64_t blk) {
    const Philox4x32 r = philox_block(static_cast<u64>(blk), stream_lo, stream_hi, key);
    float z[4];
    box_muller(r.v[0], r.v[1], &z[0], &z[1]);
    box_muller(r.v[2], r.v[3], &z[2], &z[3]);
    const std::int64_t base = blk * 4;
    for (int w = 0; w < 4 && base + w < n; ++w) dst[base + w] = z[w];
  });
}

}  // namespace

void bind_rng(py::module_& m) {
  m.def("philox4x32_10", &philox_blocks, py::arg("counters"), py::arg("key0"), py::arg("key1"),
        "Philox4x32-10 of each (n, 4) counter row under the key (key0, key1).");
  m.def("philox_stream", &stream_words, py::arg("key0"), py::arg("key1"), py::arg("stream_lo"),
        py::arg("stream_hi"), py::arg("start"), py::arg("n"),
        "Words [start, start+n) of one Philox stream.");
  m.def(
      "derive_key",
      [](std::uint64_t seed, std::uint64_t epoch) {
        u32 k[2];
        derive_key(seed, epoch, k);
        return py::make_tuple(k[0], k[1]);
      },
      py::arg("seed"), py::arg("epoch"), "The stream key for (seed, epoch).");
  m.def("fill_uniform", &fill_uniform, py::arg("out"), py::arg("seed"), py::arg("stream_lo") = 0,
        py::arg("stream_hi") = 0, py::arg("threads") = 0,
        "Fill a float32 array with U[0,1) draws in parallel (GIL released).");
  m.def("fill_normal", &fill_normal, py::arg("out"), py::arg("seed"), py::arg("stream_lo") = 0,
        py::arg("stream_hi") = 0, py::arg("threads") = 0,
        "Fill a float32 array with N(0,1) draws in parallel (GIL released).");
}

}  // namespace fm
