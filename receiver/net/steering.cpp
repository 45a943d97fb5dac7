#include "steering.hpp"

#include <linux/filter.h>
#include <sys/socket.h>

#include <cerrno>
#include <vector>

namespace lastgasp::net {

namespace {

constexpr std::uint32_t kGolden = 0x9E3779B1u;

std::uint32_t word(const std::array<std::uint8_t, 16>& b, unsigned i) {
  return std::uint32_t{b[i]} << 24 | std::uint32_t{b[i + 1]} << 16 | std::uint32_t{b[i + 2]} << 8 | b[i + 3];
}

sock_filter statement(std::uint16_t code, std::uint32_t k) { return BPF_STMT(code, k); }
sock_filter jump(std::uint16_t code, std::uint32_t k, std::uint8_t yes, std::uint8_t no) {
  return BPF_JUMP(code, k, yes, no);
}

}  // namespace

unsigned steer(const hosts::SenderAddress& sender, unsigned threads) {
  if (threads <= 1) return 0;
  const auto& b = sender.bytes;
  std::uint32_t w = sender.is_v4() ? word(b, 12) : word(b, 0) ^ word(b, 4) ^ word(b, 8) ^ word(b, 12);
  return static_cast<unsigned>(((w * kGolden) >> 16) % threads);
}

int attach_steering(int fd, unsigned threads) {
  // The program sees the packet from its UDP payload on; SKF_NET_OFF reaches back to the IP
  // header, whose version nibble says where the source address is.
  const std::uint32_t net = static_cast<std::uint32_t>(SKF_NET_OFF);
  std::vector<sock_filter> program = {
      statement(BPF_LD | BPF_B | BPF_ABS, net + 0),        // 0: version and header length
      statement(BPF_ALU | BPF_RSH | BPF_K, 4),             // 1
      jump(BPF_JMP | BPF_JEQ | BPF_K, 6, 2, 0),            // 2: IPv6 at 5
      statement(BPF_LD | BPF_W | BPF_ABS, net + 12),       // 3: IPv4 source
      jump(BPF_JMP | BPF_JA, 10, 0, 0),                    // 4: to the hash at 15
      statement(BPF_LD | BPF_W | BPF_ABS, net + 8),        // 5: IPv6 source, four words XORed
      statement(BPF_MISC | BPF_TAX, 0),                    // 6
      statement(BPF_LD | BPF_W | BPF_ABS, net + 12),       // 7
      statement(BPF_ALU | BPF_XOR | BPF_X, 0),             // 8
      statement(BPF_MISC | BPF_TAX, 0),                    // 9
      statement(BPF_LD | BPF_W | BPF_ABS, net + 16),       // 10
      statement(BPF_ALU | BPF_XOR | BPF_X, 0),             // 11
      statement(BPF_MISC | BPF_TAX, 0),                    // 12
      statement(BPF_LD | BPF_W | BPF_ABS, net + 20),       // 13
      statement(BPF_ALU | BPF_XOR | BPF_X, 0),             // 14
      statement(BPF_ALU | BPF_MUL | BPF_K, kGolden),       // 15
      statement(BPF_ALU | BPF_RSH | BPF_K, 16),            // 16
      statement(BPF_ALU | BPF_MOD | BPF_K, threads),       // 17
      statement(BPF_RET | BPF_A, 0),                       // 18
  };
  sock_fprog prog{static_cast<unsigned short>(program.size()), program.data()};
  if (::setsockopt(fd, SOL_SOCKET, SO_ATTACH_REUSEPORT_CBPF, &prog, sizeof prog) != 0) return errno;
  return 0;
}

}  // namespace lastgasp::net
