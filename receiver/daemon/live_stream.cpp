#include "live_stream.hpp"

#include <algorithm>
#include <charconv>
#include <cstdio>
#include <chrono>
#include <limits>
#include <random>

#include "tail/host_rows.hpp"
#include "tail/render.hpp"

namespace lastgasp::daemon {

namespace {

constexpr std::string_view kHello = ": lastgasp-receiver /api/stream\nretry: 1000\n\n";
// Records copied out of the ring at a time, under its lock.
constexpr std::uint64_t kSliceRecords = 256;

std::string dropped_event(std::uint64_t missed) {
  return "event: dropped\ndata: {\"reason\":\"the client read too slowly: the receiver no longer holds the records "
         "after its last\",\"missed\":" + std::to_string(missed) + "}\n\n";
}
constexpr std::string_view kKeepalive = ": keepalive\n\n";

http::Reply refuse(unsigned status, std::string text) { return {status, "text/plain; charset=utf-8", text + "\n"}; }

std::string lost_event(std::uint64_t missed) {
  return "event: lost\ndata: {\"missed\":" + std::to_string(missed) + "}\n\n";
}

// A run id no two starts of the daemon share, so that an id from before a restart is known
// for what it is.
std::string new_run_id() {
  std::random_device random;
  char text[9];
  std::snprintf(text, sizeof text, "%08x", static_cast<unsigned>(random()));
  return text;
}

// "RUN-N" -> N, when RUN is this run's.
std::optional<std::uint64_t> number_in(std::string_view id, std::string_view run) {
  if (id.size() <= run.size() + 1 || !id.starts_with(run) || id[run.size()] != '-') return std::nullopt;
  std::string_view digits = id.substr(run.size() + 1);
  std::uint64_t n = 0;
  auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), n);
  if (ec != std::errc{} || end != digits.data() + digits.size()) return std::nullopt;
  return n;
}

std::optional<std::string> single(std::string_view query, std::string_view key, std::string& error) {
  auto values = http::query_values(query, key);
  if (!values) error = std::string(key) + ": not well-formed percent-encoding";
  if (!values || values->empty()) return std::nullopt;
  return values->back();
}

// tail's filters from QUERY, in its (journalctl's) forms: host=GLOB repeatable, level=err or
// warning..err, grep=RE (case-insensitive when all lower case), since= and until= (-1h,
// yesterday, 2026-11-30 20:00); false with ERROR saying why on a bad one.
bool parse_filter(std::string_view query, tail::Filter& filter, std::string& error) {
  auto hosts = http::query_values(query, "host");
  if (!hosts) return error = "host: not well-formed percent-encoding", false;
  filter.host_globs = std::move(*hosts);
  if (auto level = single(query, "level", error)) {
    filter.priorities = tail::parse_priorities(*level);
    if (!filter.priorities)
      return error = "level '" + tail::terminal_safe(*level) + "': use emerg .. debug, 0 .. 7, or a range warning..err",
             false;
  }
  if (auto grep = single(query, "grep", error); grep && !filter.set_grep(*grep, std::nullopt, error))
    return error = "grep: " + tail::terminal_safe(error), false;
  for (auto [key, bound] : {std::pair{"since", &filter.since_us}, std::pair{"until", &filter.until_us}}) {
    auto when = single(query, key, error);
    if (!when) continue;
    *bound = tail::parse_time(*when, tail::wall_now_us());
    if (!*bound)
      return error = std::string(key) + " '" + tail::terminal_safe(*when) +
                     "': use journalctl's forms (2026-11-30 20:00, -1h, 1h30m ago, yesterday)",
             false;
  }
  return error.empty();
}

}  // namespace

void RecordRing::push(std::string_view host, std::string_view line) {
  if (line.ends_with('\n')) line.remove_suffix(1);
  {
    std::lock_guard lock(mutex_);
    std::size_t size = host.size() + line.size();
    while (count_ && (count_ == max_records_ || bytes_ + size > max_bytes_)) {
      bytes_ -= size_of(held(0));
      oldest_ = (oldest_ + 1) % slots_.size();
      --count_;
    }
    RingRecord& slot = next_slot();
    slot.number = ++last_;
    reuse(slot.host, host);
    reuse(slot.line, line);
    bytes_ += size;
    ++count_;
  }
  wakeup_.store(true, std::memory_order_release);
}

// The slot after the newest: made while the ring is growing to its bound (a receiver that
// hears little never holds the memory of a busy one), reused after.
RingRecord& RecordRing::next_slot() {
  if (count_ < slots_.size()) return slots_[(oldest_ + count_) % slots_.size()];
  std::rotate(slots_.begin(), slots_.begin() + static_cast<std::ptrdiff_t>(oldest_), slots_.end());  // oldest first
  oldest_ = 0;
  return slots_.emplace_back();
}

// A slot keeps its memory for the next record, unless it is far larger than this one needs:
// a lap of long records must not leave every slot holding their size.
void RecordRing::reuse(std::string& slot, std::string_view text) {
  if (slot.capacity() > 2 * text.size() + 64) slot = std::string(text);
  else slot.assign(text);
}

RecordRing::Slice RecordRing::after(std::uint64_t after, std::uint64_t up_to) const {
  Slice slice;
  std::lock_guard lock(mutex_);
  if (count_ == 0 || after >= up_to) return slice;
  std::uint64_t first = held(0).number;
  if (after + 1 < first) slice.missed = std::min(first, up_to + 1) - after - 1;
  std::uint64_t from = std::max(after + 1, first);
  for (std::size_t i = from - first; i < count_ && held(i).number <= up_to; ++i) slice.records.push_back(held(i));
  return slice;
}

std::uint64_t RecordRing::last() const {
  std::lock_guard lock(mutex_);
  return last_;
}

std::uint64_t RecordRing::missed_after(std::uint64_t after) const {
  std::lock_guard lock(mutex_);
  std::uint64_t first = count_ ? held(0).number : last_ + 1;
  return first > after + 1 ? first - after - 1 : 0;
}

LiveStreams::LiveStreams(boost::asio::io_context& io, const RecordRing& ring, StreamLimits limits)
    : ring_(ring), limits_(limits), run_(new_run_id()), keepalive_timer_(io) {}

std::string LiveStreams::event_id(std::uint64_t number) const { return run_ + "-" + std::to_string(number); }

http::Reply LiveStreams::open(std::string_view query, std::string_view last_event_id) {
  tail::Filter filter;
  std::string error;
  if (!parse_filter(query, filter, error)) return refuse(400, "bad request: " + error);
  auto start = start_of(query, last_event_id, filter.since_us.has_value());
  if (!start) return refuse(400, "bad request: n: a whole number");
  prune();
  if (clients_.size() >= limits_.max_streams) {
    ++counters_.refused;
    return refuse(503, "too many open streams (" + std::to_string(limits_.max_streams) + "), later");
  }
  http::Reply reply{200, "text/event-stream", std::string(kHello)};
  reply.stream = [this, filter = std::move(filter), start = *start](std::shared_ptr<http::EventStream> out) {
    attach(std::move(out), filter, start);
  };
  return reply;
}

// Where a new stream begins: after the record a reconnecting client last had, or with the last
// n= records (or those since=) the ring holds, or else with the next record.
std::optional<LiveStreams::Start> LiveStreams::start_of(std::string_view query, std::string_view last_event_id,
                                                        bool since) const {
  Start start;
  if (!last_event_id.empty()) {
    if (auto number = number_in(last_event_id, run_)) {
      start.after = std::min(*number, ring_.last());
    } else {
      start.lost = "event: lost\ndata: {\"missed\":null,\"reason\":\"the receiver restarted since that event\"}\n\n";
    }
    return start;
  }
  bool has_n = query.starts_with("n=") || query.find("&n=") != std::string_view::npos;
  auto n = http::query_number(query, "n");
  if (has_n && !n) return std::nullopt;
  if (n) {
    start.last_n = std::min<std::size_t>(static_cast<std::size_t>(*n), limits_.max_backlog);
  } else if (!since) {
    start.after = ring_.last();
  }
  return start;
}

// The replay, then live records: a replay larger than the queue keeps its newest records, and
// says how many it left out.
void LiveStreams::attach(std::shared_ptr<http::EventStream> out, tail::Filter filter, const Start& start) {
  ++counters_.opened;
  std::uint64_t last = ring_.last();
  RecordRing::Slice slice = ring_.after(start.after, last);
  std::vector<std::string> frames;
  for (const RingRecord& record : slice.records) {
    auto entry = filter.wants_host(record.host) ? tail::Entry::parse(record.host, record.line) : std::nullopt;
    if (entry && filter.wants(*entry)) frames.push_back(frame(record, *entry));
  }
  std::size_t skip = start.last_n && frames.size() > *start.last_n ? frames.size() - *start.last_n : 0;
  std::size_t bytes = 0, keep_from = frames.size();
  while (keep_from > skip && bytes + frames[keep_from - 1].size() <= limits_.replay_bytes)
    bytes += frames[--keep_from].size();
  std::uint64_t missed = slice.missed + (keep_from - skip);
  out->on_room([this, stream = out.get()] { resume(stream); });
  clients_.push_back({std::move(out), std::move(filter), last});
  Client& client = clients_.back();
  if (!start.lost.empty()) hand(client, start.lost);
  else if (missed && !start.last_n) hand(client, lost_event(missed));
  for (std::size_t i = keep_from; i < frames.size(); ++i) hand(client, frames[i]);
  feed(client);  // what came since LAST
  if (!keepalive_armed_) keepalive();
}

std::string LiveStreams::frame(const RingRecord& record, const tail::Entry& entry) const {
  std::string json = tail::render(entry, {.output = tail::Output::json});  // one line, '\n' included
  return "id: " + event_id(record.number) + "\ndata: " + json + "\n";
}

// The replay, which the queue takes whole (it is smaller), and the lost events: a stream that
// cannot take them is let go.
bool LiveStreams::hand(Client& client, std::string_view bytes) {
  if (client.out->send(bytes)) return true;
  drop(client, 0);
  return false;
}

// Hands CLIENT what the ring holds after its place, until its queue is full (its room callback
// goes on from there) or it has everything. A client the ring has moved on from is let go.
void LiveStreams::feed(Client& client) {
  client.waiting = false;
  while (client.out->is_open()) {
    RecordRing::Slice slice = ring_.after(client.after, client.after + kSliceRecords);
    if (slice.missed) return drop(client, slice.missed);
    if (slice.records.empty()) return;
    for (const RingRecord& record : slice.records) {
      auto entry = client.filter.wants_host(record.host) ? tail::Entry::parse(record.host, record.line) : std::nullopt;
      bool wanted = entry && client.filter.wants(*entry);
      if (wanted && !client.out->send(frame(record, *entry))) {
        client.waiting = true;  // this record again, once there is room
        return;
      }
      client.after = record.number;
    }
  }
}

void LiveStreams::resume(const http::EventStream* out) {
  auto client = std::find_if(clients_.begin(), clients_.end(), [&](const Client& c) { return c.out.get() == out; });
  if (client != clients_.end() && client->waiting) feed(*client);
}

void LiveStreams::drop(Client& client, std::uint64_t missed) {
  if (!client.out->is_open()) return;
  ++counters_.dropped;
  counters_.lost += missed;
  client.out->finish(dropped_event(missed));
}

void LiveStreams::deliver() {
  prune();
  for (Client& client : clients_) {
    if (!client.waiting) feed(client);
    else if (std::uint64_t missed = ring_.missed_after(client.after)) drop(client, missed);  // it stopped reading
  }
  prune();
}

void LiveStreams::keepalive() {
  prune();
  keepalive_armed_ = !clients_.empty();
  if (!keepalive_armed_) return;
  keepalive_timer_.expires_after(limits_.keepalive);
  keepalive_timer_.async_wait([this](const boost::system::error_code& ec) {
    if (ec) return;
    for (Client& client : clients_)
      if (!client.waiting) client.out->send(kKeepalive);  // a stream waiting for room is busy enough
    keepalive();
  });
}

void LiveStreams::prune() {
  std::erase_if(clients_, [](const Client& c) { return !c.out->is_open(); });
}

unsigned LiveStreams::open_streams() const {
  return static_cast<unsigned>(std::count_if(clients_.begin(), clients_.end(), [](const Client& c) { return c.out->is_open(); }));
}

void LiveStreams::close_all() {
  keepalive_timer_.cancel();
  keepalive_armed_ = false;
  clients_.clear();  // the server closes their connections
}

}  // namespace lastgasp::daemon
