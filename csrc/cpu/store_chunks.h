// Window reads of a fastmed store array (zarr v3: bytes -> blosc -> crc32c): per chunk, read the
// file, check its crc32c and blosc header/block table against the file, decode only the blosc
// blocks holding the bytes the window needs, and copy the overlap into the window. Host-only.
//
// blosc itself is not linked: the caller passes the address of c-blosc 1.x's
// blosc_decompress_ctx (the one imagecodecs' wheels ship), so the extension builds without it.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "store_plan.h"

namespace fm::store {

// int blosc_decompress_ctx(const void* src, void* dest, size_t destsize, int numinternalthreads)
using BloscDecompressCtx = int (*)(const void*, void*, std::size_t, int);

// One chunk's part of a window (3 axes; fewer axes are padded with leading size-1 axes).
struct ChunkPart {
  std::int64_t src[3] = {0, 0, 0};        // start inside the chunk (voxels)
  std::int64_t dst[3] = {0, 0, 0};        // start inside the window
  std::int64_t ext[3] = {0, 0, 0};        // extent of the copy
};

struct WindowJob {
  std::vector<std::string> files;  // chunk file per part
  std::vector<ChunkPart> parts;
  std::int64_t chunk[3] = {0, 0, 0};  // chunk shape (voxels)
  std::int64_t window[3] = {0, 0, 0};  // window shape (voxels)
  std::int64_t itemsize = 0;
  std::int64_t max_file_bytes = 0;  // a larger chunk file is an error
  unsigned char* out = nullptr;      // the window, C order
  BloscDecompressCtx decode = nullptr;
};

struct ChunkError {
  std::int64_t part = -1;  // -1: no error
  std::string reason;
};

// Reads every part on `threads` threads of the native pool (each claims the next part), the
// caller's GIL released by the binding. Returns the failing part of lowest index (all parts before
// it were copied), or part -1.
ChunkError read_window(const WindowJob& job, int threads);

// A window read planned natively: every chunk of the box [lo, hi) (3 axes), cut to what the footprint
// reads (all of it when fp is null), its file named base + the last key_axes chunk indices joined by '/'.
struct BoxJob {
  WindowJob io;  // chunk, window, itemsize, max_file_bytes, out, decode (files and parts unused)
  std::string base;
  int key_axes = 3;
  Box3 lo{}, hi{};
  const Footprint* fp = nullptr;
  std::int64_t slab = 1;  // z-slices per footprint test inside a chunk
};

// Which chunks a read opened (tests): flag per chunk number of the box, C order.
using ReadFlags = std::vector<unsigned char>;

struct BoxResult {
  std::int64_t read = 0;  // chunks read (their planned parts copied)
  ChunkError err;         // part: the failing chunk's number in the box (C order), -1: none
  Box3 err_idx{};         // its chunk index
};

// Plans and reads every chunk of the box on `threads` threads of the native pool (each claims the next
// chunk of the box, plans it, and reads it when the footprint keeps some of it), GIL released by the binding.
// `opened`, when given, is resized to the box's chunk count and flags each chunk opened.
BoxResult read_box(const BoxJob& job, int threads, ReadFlags* opened = nullptr);

}  // namespace fm::store
