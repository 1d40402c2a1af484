// Trilinear sampling with AVX2 gathers, picked at run time (the build stays baseline
// x86-64). With a unit x stride the two x taps of a cell are adjacent: for 16-bit
// sources one 32-bit gather fetches both (four gathers give the 8 taps of 8 voxels),
// for 32-bit sources (int32, float32) one 64-bit gather does (eight gathers of 4). The lerps are the scalar kernel's, in the same order and without
// FMA, so the values are bit-identical to the scalar path. 2D samples (depth 1) take
// it too, with the z taps folded onto the one plane as the scalar path does.
#include "augment_cpu.h"

// FASTMED_NO_AVX2_GATHER builds the portable fallback on x86 too (tests compile it that way).
#if defined(__GNUC__) && defined(__x86_64__) && !defined(FASTMED_NO_AVX2_GATHER)
#include <immintrin.h>
#define FM_GATHER_AVX2 1
#endif

namespace fm {
namespace aug {

#if FM_GATHER_AVX2

bool gather_available() {
  static const bool ok = __builtin_cpu_supports("avx2");
  return ok;
}

namespace {

__attribute__((target("avx2"))) inline __m256 lerp8(__m256 a, __m256 b, __m256 t) {
  return _mm256_add_ps(a, _mm256_mul_ps(t, _mm256_sub_ps(b, a)));
}

// The two x taps (element offsets `off` and `off + 1`) of 8 voxels as float, exactly as
// static_cast<float> of the source type. 16-bit: the low and high halves of one 32-bit
// gather. 32-bit: one 64-bit gather per 4 voxels, then the even and odd words apart.
template <int Kind>
__attribute__((target("avx2"))) inline void taps(const void* src, __m256i off, __m256* lo, __m256* hi) {
  if (Kind == kGatherI16 || Kind == kGatherU16) {
    const __m256i v = _mm256_i32gather_epi32(static_cast<const int*>(src), off, 2);
    if (Kind == kGatherI16) {
      *lo = _mm256_cvtepi32_ps(_mm256_srai_epi32(_mm256_slli_epi32(v, 16), 16));
      *hi = _mm256_cvtepi32_ps(_mm256_srai_epi32(v, 16));
    } else {
      *lo = _mm256_cvtepi32_ps(_mm256_and_si256(v, _mm256_set1_epi32(0xFFFF)));
      *hi = _mm256_cvtepi32_ps(_mm256_srli_epi32(v, 16));
    }
  } else {
    const long long* p = static_cast<const long long*>(src);
    const __m256 a = _mm256_castsi256_ps(_mm256_i32gather_epi64(p, _mm256_castsi256_si128(off), 4));
    const __m256 b = _mm256_castsi256_ps(_mm256_i32gather_epi64(p, _mm256_extracti128_si256(off, 1), 4));
    // a = [x0 y0 x1 y1 | x2 y2 x3 y3], b the same for voxels 4-7; the shuffles give
    // [x0 x1 x4 x5 | x2 x3 x6 x7] and the 64-bit permute puts the voxels in order.
    const __m256 l = _mm256_shuffle_ps(a, b, _MM_SHUFFLE(2, 0, 2, 0));
    const __m256 h = _mm256_shuffle_ps(a, b, _MM_SHUFFLE(3, 1, 3, 1));
    const __m256 lo_w = _mm256_castpd_ps(_mm256_permute4x64_pd(_mm256_castps_pd(l), 0xD8));
    const __m256 hi_w = _mm256_castpd_ps(_mm256_permute4x64_pd(_mm256_castps_pd(h), 0xD8));
    if (Kind == kGatherF32) {
      *lo = lo_w;
      *hi = hi_w;
    } else {
      *lo = _mm256_cvtepi32_ps(_mm256_castps_si256(lo_w));
      *hi = _mm256_cvtepi32_ps(_mm256_castps_si256(hi_w));
    }
  }
}

template <int Kind>
__attribute__((target("avx2"))) void gather_blocks(const GatherRow& g, i64 W, float* out, u8* done) {
  const __m256i zero_minus = _mm256_set1_epi32(-1);
  const __m256i lz = _mm256_set1_epi32(static_cast<int>(g.nz - 1));
  const __m256i ly = _mm256_set1_epi32(static_cast<int>(g.ny - 1));
  const __m256i lx = _mm256_set1_epi32(static_cast<int>(g.nx - 1));
  const __m256i vsz = _mm256_set1_epi32(static_cast<int>(g.sz));
  const __m256i vsy = _mm256_set1_epi32(static_cast<int>(g.sy));
  const bool flat = g.nz == 1;
  // Volume cells to window cells: the window origin subtracted (exact integer steps).
  const __m256i oz = _mm256_set1_epi32(static_cast<int>(g.oz));
  const __m256i oy = _mm256_set1_epi32(static_cast<int>(g.oy));
  const __m256i ox = _mm256_set1_epi32(static_cast<int>(g.ox));
  for (i64 b = 0; b + 8 <= W; b += 8) {
    const __m256i a = _mm256_sub_epi32(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(g.iz + b)), oz);
    const __m256i c = _mm256_sub_epi32(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(g.iy + b)), oy);
    const __m256i d = _mm256_sub_epi32(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(g.ix + b)), ox);
    const __m256 tz = _mm256_loadu_ps(g.tz + b);
    // Both taps strictly inside on every axis: 0 <= i < n - 1. A flat source (nz = 1, a 2D
    // sample) has z cell 0 with fraction 0 instead, and its upper z taps are the lower ones.
    __m256i ok = flat ? _mm256_and_si256(_mm256_cmpeq_epi32(a, _mm256_setzero_si256()),
                                         _mm256_castps_si256(_mm256_cmp_ps(tz, _mm256_setzero_ps(), _CMP_EQ_OQ)))
                      : _mm256_and_si256(_mm256_cmpgt_epi32(a, zero_minus), _mm256_cmpgt_epi32(lz, a));
    ok = _mm256_and_si256(ok, _mm256_and_si256(_mm256_cmpgt_epi32(c, zero_minus), _mm256_cmpgt_epi32(ly, c)));
    ok = _mm256_and_si256(ok, _mm256_and_si256(_mm256_cmpgt_epi32(d, zero_minus), _mm256_cmpgt_epi32(lx, d)));
    if (_mm256_movemask_epi8(ok) != -1) {
      done[b / 8] = 0;
      continue;
    }
    const __m256i off = _mm256_add_epi32(_mm256_add_epi32(_mm256_mullo_epi32(a, vsz), _mm256_mullo_epi32(c, vsy)), d);
    __m256 q0, q1, q2, q3, q4, q5, q6, q7;
    taps<Kind>(g.src, off, &q0, &q1);
    taps<Kind>(g.src, _mm256_add_epi32(off, vsy), &q2, &q3);
    if (flat) {
      q4 = q0, q5 = q1, q6 = q2, q7 = q3;
    } else {
      taps<Kind>(g.src, _mm256_add_epi32(off, vsz), &q4, &q5);
      taps<Kind>(g.src, _mm256_add_epi32(off, _mm256_add_epi32(vsz, vsy)), &q6, &q7);
    }
    const __m256 tx = _mm256_loadu_ps(g.tx + b);
    const __m256 ty = _mm256_loadu_ps(g.ty + b);
    const __m256 c00 = lerp8(q0, q1, tx);
    const __m256 c01 = lerp8(q2, q3, tx);
    const __m256 c10 = lerp8(q4, q5, tx);
    const __m256 c11 = lerp8(q6, q7, tx);
    _mm256_storeu_ps(out + b, lerp8(lerp8(c00, c01, ty), lerp8(c10, c11, ty), tz));
    done[b / 8] = 1;
  }
}

}  // namespace

bool gather_fits(i64 nz, i64 ny, i64 nx, i64 sz, i64 sy, i64 sx) {
  const i64 lim = i64{1} << 30;
  return sx == 1 && (sz > 0 || nz == 1) && sz >= 0 && sy > 0 && nz >= 1 && ny >= 2 && nx >= 2 && nz < lim &&
         ny < lim && nx < lim && (nz - 1) * sz + (ny - 1) * sy + nx < lim;
}

void gather_linear(const GatherRow& g, GatherKind kind, i64 W, float* out, u8* done) {
  switch (kind) {
    case kGatherI16:
      return gather_blocks<kGatherI16>(g, W, out, done);
    case kGatherU16:
      return gather_blocks<kGatherU16>(g, W, out, done);
    case kGatherI32:
      return gather_blocks<kGatherI32>(g, W, out, done);
    default:
      return gather_blocks<kGatherF32>(g, W, out, done);
  }
}

#else

bool gather_available() { return false; }
bool gather_fits(i64, i64, i64, i64, i64, i64) { return false; }
void gather_linear(const GatherRow&, GatherKind, i64 W, float*, u8* done) {
  for (i64 b = 0; b + 8 <= W; b += 8) done[b / 8] = 0;
}

#endif

}  // namespace aug
}  // namespace fm
