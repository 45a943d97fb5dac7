// The kernel's extended netconsole format (drivers/net/netconsole.c,
// kernel/printk/printk.c: info_print_ext_header, msg_print_ext_body):
//
//   [release,]<prio>,<seq>,<ts_usec>,<flag>[,caller=T1|C1][,ncfrag=<off>/<total>];<body>
//
// where <body> is the escaped text, '\n', then " KEY=value\n" lines: the
// dictionary, then userdata, then sysdata (cpu=, taskname=, release=, msgid=).
#pragma once

#include <cstdint>
#include <string_view>

#include "record.hpp"

namespace lastgasp::wire {

struct ExtendedHeader {
  std::string_view release;  // the optional "r" prefix, empty when absent
  std::uint16_t prio = 0;
  std::uint64_t seq = 0;
  std::uint64_t ts_usec = 0;
  char flag = '-';           // '-', or 'c'/'+' for continuation records
  std::string_view extras;   // other ",key=value" tokens (caller=...), without ncfrag
  bool fragmented = false;
  std::uint32_t frag_offset = 0;
  std::uint32_t frag_total = 0;
  std::uint32_t header_size = 0;  // bytes up to and including ';'
  std::string_view body;     // everything after ';'
};

enum class HeaderStatus {
  ok,
  not_extended,     // no header at all: legacy text
  bad_header,       // looks like a header but is not well formed
  number_overflow,  // a number too large for its field
};

HeaderStatus parse_extended_header(std::string_view datagram, ExtendedHeader& out);

// Fills REC's text, fields and msgid from a complete body, and the header's
// release, flag and extras as fields. Returns whether a NUL byte was seen.
bool decode_body(const ExtendedHeader& header, std::string_view body, Record& rec);

}  // namespace lastgasp::wire
