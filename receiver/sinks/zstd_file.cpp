#include "zstd_file.hpp"

#include <unistd.h>
#include <zstd.h>

#include <cerrno>
#include <cstring>
#include <memory>
#include <vector>

#include "log_directory.hpp"

namespace lastgasp::sinks {

namespace {

// Level 3 is zstd's default: about 10x on kernel logs at hundreds of MB/s, on the disk worker's thread.
constexpr int kLevel = 3;
// Level 3 never uses a window above 2^21 bytes; refusing more keeps a planted .zst from making
// `tail` allocate the 2 GiB a crafted frame header may ask for.
constexpr int kMaxWindowLog = 23;

struct CompressorFree {
  void operator()(ZSTD_CCtx* c) const { ZSTD_freeCCtx(c); }
};
struct DecompressorFree {
  void operator()(ZSTD_DCtx* d) const { ZSTD_freeDCtx(d); }
};

ssize_t read_some(int fd, char* buffer, std::size_t size) {
  ssize_t n;
  do n = ::read(fd, buffer, size);
  while (n < 0 && errno == EINTR);
  return n;
}

}  // namespace

bool zstd_compress(int from, int to) {
  std::unique_ptr<ZSTD_CCtx, CompressorFree> cctx(ZSTD_createCCtx());
  if (!cctx || ZSTD_isError(ZSTD_CCtx_setParameter(cctx.get(), ZSTD_c_compressionLevel, kLevel))) {
    errno = ENOMEM;
    return false;
  }
  std::vector<char> in(ZSTD_CStreamInSize()), out(ZSTD_CStreamOutSize());
  for (;;) {
    ssize_t got = read_some(from, in.data(), in.size());
    if (got < 0) return false;
    ZSTD_EndDirective mode = got == 0 ? ZSTD_e_end : ZSTD_e_continue;
    ZSTD_inBuffer input{in.data(), static_cast<std::size_t>(got), 0};
    std::size_t remaining;
    do {  // until zstd has taken all of INPUT (and, at the end, written the whole frame)
      ZSTD_outBuffer output{out.data(), out.size(), 0};
      remaining = ZSTD_compressStream2(cctx.get(), &output, &input, mode);
      if (ZSTD_isError(remaining)) return (errno = EIO, false);
      if (write_all(to, out.data(), output.pos) != output.pos) return false;
    } while (mode == ZSTD_e_end ? remaining != 0 : input.pos < input.size);
    if (got == 0) return true;
  }
}

bool zstd_decompress(int fd, const std::function<bool(std::string_view)>& chunk, std::string& error) {
  std::unique_ptr<ZSTD_DCtx, DecompressorFree> dctx(ZSTD_createDCtx());
  if (!dctx || ZSTD_isError(ZSTD_DCtx_setParameter(dctx.get(), ZSTD_d_windowLogMax, kMaxWindowLog)))
    return (error = "out of memory", false);
  std::vector<char> in(ZSTD_DStreamInSize()), out(ZSTD_DStreamOutSize());
  std::size_t last_result = 0;  // 0 once a frame is complete
  for (ssize_t got; (got = read_some(fd, in.data(), in.size())) != 0;) {
    if (got < 0) return (error = std::strerror(errno), false);
    ZSTD_inBuffer input{in.data(), static_cast<std::size_t>(got), 0};
    while (input.pos < input.size) {
      ZSTD_outBuffer output{out.data(), out.size(), 0};
      last_result = ZSTD_decompressStream(dctx.get(), &output, &input);
      if (ZSTD_isError(last_result)) return (error = ZSTD_getErrorName(last_result), false);
      if (!chunk(std::string_view(out.data(), output.pos))) return true;
    }
  }
  if (last_result != 0) return (error = "truncated zstd stream", false);
  return true;
}

}  // namespace lastgasp::sinks
