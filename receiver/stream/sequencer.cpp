#include "sequencer.hpp"

#include <algorithm>
#include <string>

namespace lastgasp::stream {

namespace {

wire::Record own_line(std::string text, const wire::Record& near) {
  wire::Record line;
  line.text = std::move(text);
  line.arrived = near.arrived;
  return line;
}

std::string range(std::uint64_t first, std::uint64_t last) {
  return first == last ? std::to_string(first) : std::to_string(first) + "-" + std::to_string(last);
}

// What msgid (which counts only what the target really sent) says about a gap.
std::string gap_cause(std::optional<std::uint32_t> before, std::optional<std::uint32_t> after,
                      std::uint64_t missing, std::string& sentence) {
  if (!before || !after) return "unknown";
  std::uint64_t sent = static_cast<std::uint32_t>(*after - *before - 1);  // u32 wraps like the kernel's
  if (sent == 0) {
    sentence = "; the kernel never sent them (msgid " + std::to_string(*before) + " is followed by " +
               std::to_string(*after) + ")";
    return "kernel";
  }
  if (sent >= missing) {
    sentence = "; the network lost them (msgid " + range(*before + 1u, *after - 1u) + " missing)";
    return "network";
  }
  sentence = "; the network lost " + std::to_string(sent) + " and the kernel never sent " +
             std::to_string(missing - sent);
  return "mixed";
}

}  // namespace

SequenceCounters& SequenceCounters::operator+=(const SequenceCounters& o) {
  records += o.records;
  duplicates += o.duplicates;
  gaps += o.gaps;
  lost += o.lost;
  late += o.late;
  reboots += o.reboots;
  for (std::size_t i = 0; i < incidents.size(); ++i) incidents[i] += o.incidents[i];
  return *this;
}

void Sequencer::remember_late(Position p) {
  if (!recent_) recent_ = std::make_unique<Position[]>(kRecent);
  Position& slot = recent_[p.seq % kRecent];
  if (slot.seq < p.seq) slot = p;  // never displace a newer record's entry
}

const Position* Sequencer::recalled(std::uint64_t seq) const {
  if (!recent_) return nullptr;
  const Position& slot = recent_[seq % kRecent];
  return slot.seq == seq && (slot.seq != 0 || slot.ts_usec != 0) ? &slot : nullptr;
}

void Sequencer::remember(Position p) {
  if (!recent_) recent_ = std::make_unique<Position[]>(kRecent);
  recent_[p.seq % kRecent] = p;
}

Sequencer::Verdict Sequencer::judge(Position p, wire::MonoTime arrived) const {
  if (last_) {
    if (p.seq <= last_->seq) {
      if (const Position* seen = recalled(p.seq)) return seen->ts_usec == p.ts_usec ? Verdict::duplicate : Verdict::new_boot;
      if (p.seq == last_->seq && p.ts_usec == last_->ts_usec) return Verdict::duplicate;  // compacted
      for (const Gap& gap : gaps_)
        if (p.seq >= gap.first && p.seq <= gap.last && p.ts_usec >= gap.ts_before && p.ts_usec <= gap.ts_after)
          return Verdict::late;
      return Verdict::new_boot;
    }
    if (p.ts_usec < last_->ts_usec) return Verdict::new_boot;
  }
  auto begin = held_.begin() + static_cast<std::ptrdiff_t>(held_head_);
  auto it = std::lower_bound(begin, held_.end(), p.seq, [](const wire::Record& r, std::uint64_t s) { return *r.seq < s; });
  if (it != held_.end() && *it->seq == p.seq) return *it->ts_usec == p.ts_usec ? Verdict::duplicate : Verdict::new_boot;
  if (it != begin && *std::prev(it)->ts_usec > p.ts_usec) return Verdict::new_boot;
  if (it != held_.end() && *it->ts_usec < p.ts_usec) return Verdict::new_boot;
  if (it != held_.end() && began_after(*it, p, arrived)) return Verdict::new_boot;
  return Verdict::hold;
}

// Whether P, below HELD in seq and in ts though it arrived after it, is of a boot that began
// after HELD's (the header says why arrival time decides).
bool Sequencer::began_after(const wire::Record& held, Position p, wire::MonoTime arrived) {
  if (*held.seq - p.seq <= kMaxReorder) return false;
  auto came_after = std::chrono::duration_cast<std::chrono::microseconds>(arrived - held.arrived.mono).count();
  if (came_after < 0) return false;
  return *held.ts_usec - p.ts_usec > static_cast<std::uint64_t>(came_after) + kMaxDelayUsec;
}

void Sequencer::push(wire::Record record, wire::MonoTime now, std::vector<Event>& out,
                     SequenceCounters& counters) {
  if (!record.seq || !record.ts_usec) {
    write(std::move(record), false, out, counters);  // legacy: no seq, so arrival order is all there is
    return;
  }
  switch (judge({*record.seq, *record.ts_usec}, record.arrived.mono)) {
    case Verdict::duplicate:
      ++counters.duplicates;
      return;
    case Verdict::late:
      ++counters.late;
      record.fields.push_back({"late", "1"});
      write(std::move(record), false, out, counters);
      return;
    case Verdict::new_boot:
      start_boot(std::move(record), out, counters);
      break;
    case Verdict::hold:
      hold(std::move(record));
      break;
  }
  release(now, false, out, counters);
}

void Sequencer::hold(wire::Record record) {
  arrivals_.push_back({record.arrived.mono, *record.seq});
  auto begin = held_.begin() + static_cast<std::ptrdiff_t>(held_head_);
  auto it = std::upper_bound(begin, held_.end(), *record.seq,
                             [](std::uint64_t s, const wire::Record& r) { return s < *r.seq; });
  held_.insert(it, std::move(record));
}

void Sequencer::trim_arrivals() const {
  while (arrivals_head_ < arrivals_.size() && last_ && arrivals_[arrivals_head_].seq <= last_->seq) ++arrivals_head_;
  if (arrivals_head_ == arrivals_.size()) {
    arrivals_.clear();
    arrivals_head_ = 0;
  }
}

std::optional<wire::MonoTime> Sequencer::oldest_arrival() const {
  trim_arrivals();
  if (arrivals_head_ == arrivals_.size()) return std::nullopt;
  return arrivals_[arrivals_head_].at;
}

void Sequencer::release(wire::MonoTime now, bool everything, std::vector<Event>& out,
                        SequenceCounters& counters) {
  while (held_head_ < held_.size()) {
    wire::Record& front = held_[held_head_];
    bool next = last_ && *front.seq == last_->seq + 1;
    if (!next && !everything && held_.size() - held_head_ <= kMaxHeld) {
      auto oldest = oldest_arrival();
      if (oldest && *oldest + window_ > now) break;
    }
    if (last_ && !next) write_gap(front, out, counters);
    wire::Record record = std::move(front);
    ++held_head_;
    write(std::move(record), true, out, counters);
  }
  if (held_head_ == held_.size()) {
    held_.clear();
    held_head_ = 0;
    trim_arrivals();
  } else if (held_head_ > 64 && held_head_ * 2 > held_.size()) {
    held_.erase(held_.begin(), held_.begin() + static_cast<std::ptrdiff_t>(held_head_));
    held_head_ = 0;
  }
}

void Sequencer::write_gap(const wire::Record& next, std::vector<Event>& out, SequenceCounters& counters) {
  std::uint64_t first = last_->seq + 1, last = *next.seq - 1;
  std::uint64_t missing = last - first + 1;
  std::string because;
  std::string cause = gap_cause(last_msgid_, next.msgid, missing, because);
  Event& gap = out.emplace_back();
  gap.type = EventType::gap;
  gap.record = own_line("lastgasp: lost " + std::to_string(missing) + (missing == 1 ? " message" : " messages") +
                            " (seq " + range(first, last) + ")" + because,
                        next);
  gap.record.fields = {{"gap_first", std::to_string(first)}, {"gap_last", std::to_string(last)},
                       {"lost", std::to_string(missing)}, {"cause", cause}};
  if (gaps_.size() == kGaps) gaps_.erase(gaps_.begin());
  gaps_.push_back({first, last, last_->ts_usec, *next.ts_usec});
  ++counters.gaps;
  counters.lost += missing;
}

void Sequencer::write(wire::Record record, bool advance, std::vector<Event>& out, SequenceCounters& counters) {
  ++counters.records;
  if (advance) {
    last_ = Position{*record.seq, *record.ts_usec};
    last_msgid_ = record.msgid;
    remember(*last_);
  } else if (record.seq && record.ts_usec) {
    remember_late({*record.seq, *record.ts_usec});  // so that its own duplicate is caught
  }
  auto trigger = classify_trigger(record);
  Event& event = out.emplace_back();
  event.record = std::move(record);
  if (!trigger) return;

  ++counters.incidents[static_cast<std::size_t>(*trigger)];
  const wire::Record& cause = event.record;
  Event incident;
  incident.type = EventType::incident;
  incident.incident = *trigger;
  incident.record = own_line(incident_sentence(*trigger, cause.text), cause);
  incident.record.fields = {{"kind", incident_name(*trigger)}};
  if (cause.seq) incident.record.fields.push_back({"trigger_seq", std::to_string(*cause.seq)});
  out.push_back(std::move(incident));
}

void Sequencer::start_boot(wire::Record record, std::vector<Event>& out, SequenceCounters& counters) {
  release({}, true, out, counters);
  std::string before = last_ ? " after seq " + std::to_string(last_->seq) : "";
  Event& reboot = out.emplace_back();
  reboot.type = EventType::reboot;
  reboot.record = own_line("lastgasp: reboot: a new boot begins at seq " + std::to_string(*record.seq) + before, record);
  reboot.record.fields = {{"seq", std::to_string(*record.seq)}};
  if (last_) reboot.record.fields.push_back({"prev_seq", std::to_string(last_->seq)});
  ++counters.reboots;
  last_.reset();
  last_msgid_.reset();
  recent_.reset();
  gaps_.clear();
  arrivals_.clear();
  arrivals_head_ = 0;
  hold(std::move(record));
}

void Sequencer::expire(wire::MonoTime now, std::vector<Event>& out, SequenceCounters& counters) {
  release(now, false, out, counters);
}

void Sequencer::drain(std::vector<Event>& out, SequenceCounters& counters) {
  release({}, true, out, counters);
}

void Sequencer::compact() {
  if (held_head_ != held_.size()) return;
  recent_.reset();
  std::vector<wire::Record>().swap(held_);
  held_head_ = 0;
  std::vector<Arrival>().swap(arrivals_);
  arrivals_head_ = 0;
}

std::optional<wire::MonoTime> Sequencer::next_deadline() const {
  if (held_head_ == held_.size()) return std::nullopt;
  auto oldest = oldest_arrival();
  return oldest ? std::optional(*oldest + window_) : std::nullopt;
}

}  // namespace lastgasp::stream
