// The daemon's figures in the Prometheus text exposition format (version
// 0.0.4): receiver-wide series from what the threads last published, and one
// set per host, labelled with its directory name, from the host rows that
// /api/hosts shows too. Pure: figures in, text out.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "hooks/hook_runner.hpp"
#include "http/http_server.hpp"
#include "live_stream.hpp"
#include "net/tcp_endpoint.hpp"
#include "net/udp_listener.hpp"
#include "shard.hpp"
#include "tail/host_rows.hpp"
#include "writer.hpp"

namespace lastgasp::daemon {

// What every thread last published, summed (Daemon::collect()).
struct DaemonFigures {
  ShardFigures shards;
  net::ListenerCounters sockets;
  WriterFigures writer;
};

struct MetricsInput {
  DaemonFigures figures;
  std::uint64_t writer_behind = 0;   // records dropped for a writer too far behind
  std::uint64_t writer_backlog = 0;  // bytes handed to the writer, not yet taken
  net::TcpCounters tcp;
  unsigned tcp_sessions = 0;
  std::uint64_t upload_refusals = 0;
  std::uint64_t pstore_over_quota = 0;
  http::HttpCounters http;
  unsigned http_connections = 0;
  StreamCounters streams;  // /api/stream
  unsigned streams_open = 0;
  std::vector<hooks::HookFigures> hooks;  // one per [[hook]] table
  std::vector<tail::HostRow> hosts;  // at most max_hosts
  std::int64_t now_us = 0;
  std::int64_t silent_after_us = 0;
};

inline constexpr const char* kMetricsContentType = "text/plain; version=0.0.4; charset=utf-8";

std::string render_metrics(const MetricsInput& in);

// TEXT as a label value: '\', '"' and newline escaped as the format wants, and any byte that
// is not printable ASCII written as the text \xNN, so a name is always valid UTF-8.
std::string label_value(std::string_view text);

}  // namespace lastgasp::daemon
