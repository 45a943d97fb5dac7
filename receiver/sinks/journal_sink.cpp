#include "journal_sink.hpp"

#include <sys/uio.h>
#include <systemd/sd-journal.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <vector>

#include "notice.hpp"

namespace lastgasp::sinks {

namespace {

constexpr int kHighestRemotePriority = 2;  // LOG_CRIT
constexpr std::int64_t kReportIntervalSeconds = 10;

const char* message_id(const stream::Event& event) {
  switch (event.type) {
    case stream::EventType::gap: return kGapMessageId;
    case stream::EventType::reboot: return kRebootMessageId;
    case stream::EventType::incident:
    case stream::EventType::pstore: return event.incident == stream::IncidentKind::panic ? kPanicMessageId : nullptr;
    case stream::EventType::record: return nullptr;
  }
  return nullptr;
}

}  // namespace

int journal_priority(const stream::Event& event) {
  switch (event.type) {
    case stream::EventType::record: return std::max(kHighestRemotePriority, static_cast<int>(event.record.level().value_or(6)));
    case stream::EventType::gap: return 4;
    case stream::EventType::reboot: return 5;
    case stream::EventType::incident: return event.incident == stream::IncidentKind::panic ? 2 : 3;
    case stream::EventType::pstore: return event.incident == stream::IncidentKind::panic ? 2 : 5;
  }
  return 6;
}

void JournalSink::write(const std::string& host, std::uint64_t boot, const stream::Event& event) {
  const wire::Record& r = event.record;
  std::vector<std::string> fields;
  fields.reserve(12);
  fields.push_back("MESSAGE=" + r.text);
  fields.push_back("PRIORITY=" + std::to_string(journal_priority(event)));
  fields.push_back("SYSLOG_IDENTIFIER=" + host);
  fields.push_back("LASTGASP_HOST=" + host);
  fields.push_back("LASTGASP_BOOT=" + std::to_string(boot));
  if (auto level = r.level()) fields.push_back("LASTGASP_LEVEL=" + std::to_string(*level));
  if (auto facility = r.facility()) fields.push_back("SYSLOG_FACILITY=" + std::to_string(*facility));
  if (r.seq) fields.push_back("LASTGASP_SEQ=" + std::to_string(*r.seq));
  if (r.ts_usec) fields.push_back("LASTGASP_KTIME_USEC=" + std::to_string(*r.ts_usec));
  if (const char* id = message_id(event)) fields.push_back(std::string("MESSAGE_ID=") + id);
  std::vector<iovec> iov;
  iov.reserve(fields.size());
  for (std::string& f : fields) iov.push_back({f.data(), f.size()});
  int rc = sd_journal_sendv(iov.data(), static_cast<int>(iov.size()));
  if (rc >= 0) return;
  ++errors_;
  auto now = std::chrono::duration_cast<std::chrono::seconds>(std::chrono::steady_clock::now().time_since_epoch()).count();
  if (last_report_ != 0 && now - last_report_ < kReportIntervalSeconds) return;
  last_report_ = now;
  notice(Severity::warning, std::string("cannot write to the journal: ") + std::strerror(-rc) +
                                " (file logging goes on; " + std::to_string(errors_) + " entries missed so far)");
}

}  // namespace lastgasp::sinks
