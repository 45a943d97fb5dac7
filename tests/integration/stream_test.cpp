// /api/stream over real TCP against the real daemon: live records as the same
// JSON objects as `tail -o json`, tail's filters, resuming with Last-Event-ID
// (and hearing what went by), a slow client let go while the others and the
// log files keep every record, and the cap on open streams.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <fstream>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <sstream>
#include <thread>

#include "receiver_process.hpp"

namespace lastgasp::test {
namespace {

using namespace std::chrono_literals;

std::string ext(unsigned prio, std::uint64_t seq, const std::string& text) {
  return std::to_string(prio) + "," + std::to_string(seq) + "," + std::to_string(seq * 1000) + ",-;" + text + "\n";
}

struct Event {
  std::string id, type = "message", data;
};

// One GET of /api/stream, read as an EventSource reads it; every wait bounded.
class SseClient {
 public:
  // RECEIVE_BUFFER, if set, is the socket's SO_RCVBUF (set before connecting: a slow reader).
  SseClient(std::uint16_t port, const std::string& target, const std::string& headers = "", int receive_buffer = 0) {
    fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (receive_buffer) ::setsockopt(fd_, SOL_SOCKET, SO_RCVBUF, &receive_buffer, sizeof receive_buffer);
    sockaddr_in to{};
    to.sin_family = AF_INET;
    to.sin_port = htons(port);
    inet_pton(AF_INET, "127.0.0.1", &to.sin_addr);
    if (::connect(fd_, reinterpret_cast<sockaddr*>(&to), sizeof to) != 0) return;
    std::string request = "GET " + target + " HTTP/1.1\r\nHost: x\r\nAccept: text/event-stream\r\n" + headers + "\r\n";
    ::send(fd_, request.data(), request.size(), MSG_NOSIGNAL);
  }
  ~SseClient() { ::close(fd_); }
  SseClient(const SseClient&) = delete;
  SseClient& operator=(const SseClient&) = delete;

  // The response's status and head, once they came.
  int status(std::chrono::milliseconds timeout = 5s) {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    while (head_.empty() && fill(deadline)) {
      std::size_t end = buffer_.find("\r\n\r\n");
      if (end == std::string::npos) continue;
      head_ = buffer_.substr(0, end);
      buffer_.erase(0, end + 4);
    }
    return head_.size() > 12 ? std::stoi(head_.substr(9, 3)) : 0;
  }
  const std::string& head() const { return head_; }
  std::string rest_to_close() {
    auto deadline = std::chrono::steady_clock::now() + 5s;
    while (fill(deadline)) {
    }
    return std::exchange(buffer_, {});
  }

  // The next event with data (comments and retry: are read past), or nothing once the stream
  // closed or TIMEOUT passed.
  std::optional<Event> next(std::chrono::milliseconds timeout = 5s) {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    if (status(timeout) == 0) return std::nullopt;
    for (;;) {
      std::size_t end;
      while ((end = buffer_.find("\n\n")) != std::string::npos) {
        std::string block = buffer_.substr(0, end);
        buffer_.erase(0, end + 2);
        if (auto event = parse(block)) return event;
      }
      if (!fill(deadline)) return std::nullopt;
    }
  }
  // The next N record events (type message), failing the test on anything else.
  std::vector<nlohmann::json> records(std::size_t n) {
    std::vector<nlohmann::json> out;
    while (out.size() < n) {
      auto event = next();
      if (!event) break;
      EXPECT_EQ(event->type, "message") << event->data;
      out.push_back(nlohmann::json::parse(event->data));
      last_id_ = event->id;
    }
    return out;
  }
  const std::string& last_id() const { return last_id_; }
  bool closed() const { return closed_; }

 private:
  static std::optional<Event> parse(const std::string& block) {
    Event event;
    bool data = false;
    std::istringstream lines(block);
    for (std::string line; std::getline(lines, line);) {
      if (line.starts_with("id: ")) event.id = line.substr(4);
      else if (line.starts_with("event: ")) event.type = line.substr(7);
      else if (line.starts_with("data: ")) event.data += line.substr(6), data = true;
    }
    return data ? std::optional(event) : std::nullopt;
  }
  // Reads what has come, until DEADLINE; false once the stream closed or the time is up.
  bool fill(std::chrono::steady_clock::time_point deadline) {
    while (!closed_ && std::chrono::steady_clock::now() < deadline) {
      pollfd p{fd_, POLLIN, 0};
      if (::poll(&p, 1, 50) <= 0) continue;
      char chunk[65536];
      ssize_t n = ::recv(fd_, chunk, sizeof chunk, 0);
      if (n <= 0) {
        closed_ = true;
        return false;
      }
      buffer_.append(chunk, static_cast<std::size_t>(n));
      return true;
    }
    return false;
  }

  int fd_ = -1;
  std::string head_, buffer_, last_id_;
  bool closed_ = false;
};

class Stream : public ::testing::Test {
 protected:
  void SetUp() override {
    udp_ = free_port();
    http_ = free_port();
    config_ = scratch_.path() / "receiver.toml";
    std::ofstream(config_) << "log_dir = \"" << logs_.path().string() << "\"\nlisten = [\"127.0.0.1:" << udp_
                           << "\"]\nhttp_listen = \"127.0.0.1:" << http_ << "\"\n";
    rx_ = std::make_unique<ReceiverProcess>(
        std::vector<std::string>{"--config", config_.string(), "--http", "127.0.0.1:" + std::to_string(http_)}, "for /");
  }
  std::string metrics() {
    SseClient c(http_, "/metrics", "Connection: close\r\n");
    c.status();
    return c.rest_to_close();
  }
  std::vector<std::string> texts(const std::vector<nlohmann::json>& records) {
    std::vector<std::string> out;
    for (const auto& r : records) out.push_back(r["text"]);
    return out;
  }

  TempDir logs_, scratch_;
  std::filesystem::path config_;
  std::uint16_t udp_ = 0, http_ = 0;
  std::unique_ptr<ReceiverProcess> rx_;
};

TEST_F(Stream, LiveRecordsAreTheJsonOfTailJson) {
  SseClient live(http_, "/api/stream");
  ASSERT_EQ(live.status(), 200);
  EXPECT_NE(live.head().find("Content-Type: text/event-stream"), std::string::npos) << live.head();
  UdpSender web("127.0.0.1", udp_, "127.0.0.21");
  web.send(ext(6, 1, "hello"));
  web.send(ext(3, 2, "disk <b>sda</b> \"quoted\" \\ back"));
  web.send(ext(0, 3, "Kernel panic - not syncing: gone"));
  std::vector<nlohmann::json> got = live.records(4);  // the three, and the receiver's panic line
  ASSERT_EQ(got.size(), 4u);
  ASSERT_TRUE(eventually([&] { return read_lines(logs_.path() / "127.0.0.21" / "console.log").size() == 4; }))
      << "the stream may be ahead of the file, which is written at the writer's next tick";
  std::string out;
  ASSERT_EQ(run_command({kReceiverBinary, "tail", "-o", "json", "-n", "4", "--log-dir", logs_.path().string()}, out), 0);
  std::vector<nlohmann::json> tailed;
  std::istringstream lines(out);
  for (std::string line; std::getline(lines, line);) tailed.push_back(nlohmann::json::parse(line));
  EXPECT_EQ(got, tailed);
  EXPECT_EQ(got[3]["event"], "panic");
  EXPECT_NE(live.last_id().find('-'), std::string::npos) << live.last_id();
}

TEST_F(Stream, TailsFiltersAreQueryParameters) {
  SseClient filtered(http_, "/api/stream?host=127.0.0.3%2A&level=err%2B&grep=disk%20%5Bsv%5Dd");
  SseClient everything(http_, "/api/stream");
  ASSERT_EQ(filtered.status(), 200);
  ASSERT_EQ(everything.status(), 200);
  UdpSender a("127.0.0.1", udp_, "127.0.0.31"), b("127.0.0.1", udp_, "127.0.0.41");
  a.send(ext(3, 1, "disk sda failed"));       // wanted
  a.send(ext(6, 2, "disk sdb is fine"));      // level too low
  a.send(ext(2, 3, "network down"));          // grep
  b.send(ext(3, 1, "disk sda failed on b"));  // host
  a.send(ext(2, 4, "disk vdc gone"));         // wanted
  EXPECT_EQ(everything.records(5).size(), 5u);  // all of them were written and handed on
  EXPECT_EQ(texts(filtered.records(2)), (std::vector<std::string>{"disk sda failed", "disk vdc gone"}));
  EXPECT_FALSE(filtered.next(300ms)) << "nothing else passed the filters";
  EXPECT_EQ(SseClient(http_, "/api/stream?level=bogus").status(), 400);
  EXPECT_EQ(SseClient(http_, "/api/stream?grep=%28").status(), 400);
  EXPECT_EQ(SseClient(http_, "/api/stream?since=sometime").status(), 400);
  EXPECT_EQ(SseClient(http_, "/api/stream?until=never").status(), 400);
  EXPECT_EQ(SseClient(http_, "/api/stream?since=yesterday&level=warning..err").status(), 200) << "journalctl's forms";
  EXPECT_EQ(SseClient(http_, "/api/stream?host=%zz").status(), 400);
}

TEST_F(Stream, NAndSinceReplayWhatTheRingHolds) {
  UdpSender web("127.0.0.1", udp_, "127.0.0.22");
  for (int i = 1; i <= 5; ++i) web.send(ext(6, i, "record " + std::to_string(i)));
  ASSERT_TRUE(eventually([&] { return read_lines(logs_.path() / "127.0.0.22" / "console.log").size() == 5; }));
  SseClient last_two(http_, "/api/stream?n=2");
  EXPECT_EQ(texts(last_two.records(2)), (std::vector<std::string>{"record 4", "record 5"}));
  SseClient since(http_, "/api/stream?since=10m");
  EXPECT_EQ(since.records(5).size(), 5u);
  SseClient from_now(http_, "/api/stream");
  ASSERT_EQ(from_now.status(), 200);
  EXPECT_FALSE(from_now.next(300ms)) << "without n, since or an id a stream begins with the next record";
  web.send(ext(6, 6, "record 6"));
  EXPECT_EQ(texts(from_now.records(1)), std::vector<std::string>{"record 6"});
}

TEST_F(Stream, LastEventIdResumesAndSaysWhatWentBy) {
  UdpSender web("127.0.0.1", udp_, "127.0.0.23");
  std::string resume_from;
  {
    SseClient first(http_, "/api/stream");
    ASSERT_EQ(first.status(), 200);
    web.send(ext(6, 1, "before 1"));
    web.send(ext(6, 2, "before 2"));
    ASSERT_EQ(first.records(2).size(), 2u);
    resume_from = first.last_id();
  }
  for (int i = 3; i <= 5; ++i) web.send(ext(6, i, "while away " + std::to_string(i)));
  ASSERT_TRUE(eventually([&] { return read_lines(logs_.path() / "127.0.0.23" / "console.log").size() == 5; }));
  SseClient again(http_, "/api/stream", "Last-Event-ID: " + resume_from + "\r\n");
  EXPECT_EQ(texts(again.records(3)),
            (std::vector<std::string>{"while away 3", "while away 4", "while away 5"}));
  EXPECT_FALSE(again.next(300ms)) << "nothing twice";

  // An id from before a restart: the ring cannot say how much went by, and says so.
  SseClient restarted(http_, "/api/stream", "Last-Event-ID: 0badc0de-7\r\n");
  auto lost = restarted.next();
  ASSERT_TRUE(lost);
  EXPECT_EQ(lost->type, "lost");
  EXPECT_TRUE(nlohmann::json::parse(lost->data)["missed"].is_null()) << lost->data;

  // Further back than the ring holds (32,768 records): how many were missed, then the newest,
  // and every record after the id is either missed or given.
  constexpr int kMore = 34000;
  auto logged = [&] { return read_lines(logs_.path() / "127.0.0.23" / "console.log").size(); };
  for (int i = 6; i < 6 + kMore; ++i) {
    web.send(ext(6, i, "flood " + std::to_string(i)));
    if (i % 2000 == 0) {  // paced: a burst this long would pass the socket's buffer
      ASSERT_TRUE(eventually([&] { return logged() >= static_cast<std::size_t>(i); }, 10s));
    }
  }
  ASSERT_TRUE(eventually([&] {
    return read_lines(logs_.path() / "127.0.0.23" / "console.log").size() >= 5 + kMore;
  }, 10s));
  SseClient behind(http_, "/api/stream", "Last-Event-ID: " + resume_from + "\r\n");
  auto missed = behind.next();
  ASSERT_TRUE(missed);
  ASSERT_EQ(missed->type, "lost") << missed->data;
  std::uint64_t missed_count = nlohmann::json::parse(missed->data)["missed"];
  std::size_t given = 0;
  std::string last_id;
  while (auto event = behind.next(500ms)) {
    ASSERT_EQ(event->type, "message");
    ++given;
    last_id = event->id;
  }
  auto number = [](const std::string& id) { return std::stoull(id.substr(id.find('-') + 1)); };
  EXPECT_GT(missed_count, 0u);
  EXPECT_GT(given, 0u);
  EXPECT_EQ(missed_count + given, number(last_id) - number(resume_from));
  EXPECT_EQ(read_lines(logs_.path() / "127.0.0.23" / "console.log").size(), 5u + kMore) << "the log has them all";
}

// A client that stops reading fills its queue and is let go, told why; a reading client and
// the log files get every record all the while.
// Faster than any queue: a burst far larger than a client's queue (256 KiB), all at once, yet
// within what the ring holds. A client that reads gets all of it; none is dropped.
TEST_F(Stream, ABurstLargerThanTheQueueReachesAReadingClientWhole) {
  SseClient reader(http_, "/api/stream");
  ASSERT_EQ(reader.status(), 200);
  ASSERT_TRUE(eventually([&] { return metrics().find("lastgasp_http_streams 1\n") != std::string::npos; }));
  UdpSender burst("127.0.0.1", udp_, "127.0.0.25");
  const std::string padding(400, 'y');
  constexpr std::size_t kRecords = 3500;  // about 2 MB of events: 8 queues' worth, a quarter of the ring's 8 MiB
  // A host the receiver knows: a new one's first 256 KiB is what waits while its log is opened.
  burst.send(ext(6, 1, "burst 1"));
  auto first = reader.next(10s);
  ASSERT_TRUE(first && first->type == "message");
  for (std::size_t i = 2; i <= kRecords; ++i) burst.send(ext(6, i, "burst " + std::to_string(i) + " " + padding));
  std::vector<std::uint64_t> seqs{1};
  while (seqs.size() < kRecords) {
    auto event = reader.next(10s);
    ASSERT_TRUE(event) << "after " << seqs.size() << " records";
    ASSERT_EQ(event->type, "message") << event->data;
    auto record = nlohmann::json::parse(event->data);
    ASSERT_TRUE(record["seq"].is_number()) << event->data;
    seqs.push_back(record["seq"]);
  }
  for (std::size_t i = 0; i < seqs.size(); ++i) ASSERT_EQ(seqs[i], i + 1);
  EXPECT_NE(metrics().find("lastgasp_http_streams_dropped_total{reason=\"too_slow\"} 0\n"), std::string::npos);
}

// Too slow is what the ring no longer holds: a client that stops reading keeps its place until
// the ring (8 MiB of lines here) has moved past it, and is then told so and let go.
TEST_F(Stream, ASlowClientIsDroppedWhileOthersAndTheLogsKeepEverything) {
  constexpr std::size_t kRecords = 10000;  // 10 MiB of lines: more than the daemon holds (8 MiB)
  SseClient slow(http_, "/api/stream", "", 4096);
  ASSERT_EQ(slow.status(), 200);
  std::atomic<std::size_t> seen{0};
  std::vector<nlohmann::json> fast_records;
  std::thread fast_reader([&] {
    SseClient fast(http_, "/api/stream");
    if (fast.status() != 200) return;
    while (auto event = fast.next(10s)) {
      if (event->type != "message") break;
      fast_records.push_back(nlohmann::json::parse(event->data));
      seen = fast_records.size();
      if (fast_records.size() == kRecords) break;
    }
  });
  ASSERT_TRUE(eventually([&] { return metrics().find("lastgasp_http_streams 2\n") != std::string::npos; }));
  UdpSender web("127.0.0.1", udp_, "127.0.0.24");
  const std::string padding(1000, 'x');
  for (std::size_t batch = 0; batch < kRecords / 100; ++batch) {  // paced by the fast reader, so only the slow one lags
    for (int i = 1; i <= 100; ++i) web.send(ext(6, batch * 100 + i, "record " + std::to_string(batch * 100 + i) + " " + padding));
    ASSERT_TRUE(eventually([&] { return seen.load() == static_cast<std::size_t>(batch + 1) * 100; }, 10s))
        << "the reading client has every record so far: " << seen.load();
  }
  fast_reader.join();
  ASSERT_EQ(fast_records.size(), kRecords);
  for (std::size_t i = 0; i < fast_records.size(); ++i) ASSERT_EQ(fast_records[i]["seq"], i + 1);
  EXPECT_TRUE(eventually([&] { return read_lines(logs_.path() / "127.0.0.24" / "console.log").size() == kRecords; }));
  // The slow client, reading at last: what was on its way, then why it was let go, then the end.
  std::size_t slow_records = 0;
  std::optional<Event> event;
  while ((event = slow.next(5s)) && event->type == "message") ++slow_records;
  ASSERT_TRUE(event) << "told why";
  EXPECT_EQ(event->type, "dropped") << event->data;
  EXPECT_GT(nlohmann::json::parse(event->data).value("missed", 0u), 0u) << event->data;
  EXPECT_LT(slow_records, kRecords / 2) << "the ring moved past it";
  EXPECT_FALSE(slow.next(2s));
  EXPECT_TRUE(slow.closed());
  std::string scrape = metrics();
  EXPECT_NE(scrape.find("lastgasp_http_streams_dropped_total{reason=\"too_slow\"} 1\n"), std::string::npos) << scrape;
}

TEST_F(Stream, OpenStreamsAreCappedAndAClosedOneFreesItsPlace) {
  std::vector<std::unique_ptr<SseClient>> open;
  for (int i = 0; i < 16; ++i) {
    open.push_back(std::make_unique<SseClient>(http_, "/api/stream"));
    ASSERT_EQ(open.back()->status(), 200) << i;
  }
  SseClient over(http_, "/api/stream");
  EXPECT_EQ(over.status(), 503);
  std::string scrape = metrics();
  EXPECT_NE(scrape.find("lastgasp_http_streams_dropped_total{reason=\"over_cap\"} 1\n"), std::string::npos) << scrape;
  EXPECT_NE(scrape.find("lastgasp_http_streams 16\n"), std::string::npos) << scrape;
  open.pop_back();
  ASSERT_TRUE(eventually([&] { return SseClient(http_, "/api/stream").status() == 200; }, 5000ms));
  EXPECT_EQ(rx_->stop(SIGTERM), 0) << "and it stops with streams open";
}

}  // namespace
}  // namespace lastgasp::test
