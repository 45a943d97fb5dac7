#include "forwarder.hpp"

#include <fnmatch.h>

#include "stream/incident.hpp"
#include "thread_name.hpp"

namespace lastgasp::forward {

bool passes(const config::Forward& settings, const std::string& host, const stream::Event& event) {
  bool own = event.type != stream::EventType::record;
  if (settings.events_only && !own) return false;
  if (!own && event.record.level() && *event.record.level() > settings.max_level) return false;
  return ::fnmatch(settings.hosts.c_str(), host.c_str(), 0) == 0;
}

Forwarder::Forwarder(config::Forward settings, const std::filesystem::path& spool_root)
    : settings_(std::move(settings)),
      spool_(spool_root / settings_.name, {.memory_bytes = settings_.queue_memory, .disk_bytes = settings_.spool_size}),
      link_(make_link(settings_, spool_)),
      thread_([this] {
        name_this_thread("lg-forward");
        link_->run();
      }),
      spiller_([this] {
        name_this_thread("lg-spill");
        spill_when_asked();
      }) {}

Forwarder::~Forwarder() {
  link_->stop();
  thread_.join();
  {
    std::lock_guard lock(spill_mutex_);
    spill_stopping_ = true;
    spill_wanted_.notify_one();
  }
  spiller_.join();
}

void Forwarder::spill_when_asked() {
  std::unique_lock lock(spill_mutex_);
  for (;;) {
    spill_wanted_.wait(lock, [this] { return spill_due_.load() || spill_stopping_; });
    if (spill_stopping_) return;
    spill_due_.store(false);
    lock.unlock();
    spool_.spill();
    lock.lock();
  }
}

void Forwarder::write(const std::string& host, std::uint64_t boot, std::optional<std::uint16_t> src,
                      const stream::Event& event) {
  if (!passes(settings_, host, event)) return;
  std::string message;
  formatter_.append(message, event, {host, boot, src});
  // What the spool keeps longest: our incident and pstore lines, and the kernel's trigger lines.
  bool priority = event.type == stream::EventType::incident || event.type == stream::EventType::pstore ||
                  (event.type == stream::EventType::record && stream::classify_trigger(event.record));
  if (spool_.push({std::move(message), priority}) && !spill_due_.exchange(true)) {
    std::lock_guard lock(spill_mutex_);
    spill_wanted_.notify_one();
  }
  link_->wake();
}

ForwardCounters Forwarder::counters() const {
  ForwardCounters c;
  static_cast<LinkCounters&>(c) = link_->counters();
  c.spool = spool_.counters();
  c.spooled_bytes = spool_.disk_bytes();
  c.queued_bytes = spool_.memory_bytes();
  return c;
}

}  // namespace lastgasp::forward
