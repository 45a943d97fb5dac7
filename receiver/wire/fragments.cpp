#include "fragments.hpp"

#include <algorithm>

namespace lastgasp::wire {

FragmentAssembler::FragmentAssembler(FragmentAssembler&& other) noexcept
    : limits_(other.limits_),
      budget_(other.budget_),
      pending_(std::move(other.pending_)),
      used_(std::exchange(other.used_, 0)),
      completed_(other.completed_),
      completed_next_(other.completed_next_) {}

// Pending bytes leave the shared budget with their assembler.
FragmentAssembler::~FragmentAssembler() { budget_->used -= used_; }

std::optional<MonoTime> FragmentAssembler::oldest_start() const {
  std::optional<MonoTime> oldest;
  for (const Pending& p : pending_)
    if (!oldest || p.started.mono < *oldest) oldest = p.started.mono;
  return oldest;
}

FragmentAssembler::Pending* FragmentAssembler::find(const ExtendedHeader& header) {
  for (Pending& p : pending_)
    if (p.seq == header.seq && p.ts_usec == header.ts_usec) return &p;
  return nullptr;
}

bool FragmentAssembler::recently_completed(const ExtendedHeader& header) const {
  for (auto [seq, ts] : completed_)
    if (seq == header.seq && ts == header.ts_usec && (seq | ts) != 0) return true;
  return false;
}

// Makes room for TOTAL more bytes, pushing out the oldest of this stream's
// messages first. False when the daemon-wide budget has no room left.
bool FragmentAssembler::reserve(std::uint32_t total, std::vector<Done>& done) {
  while (!pending_.empty() && used_ + total > limits_.stream_cap) release(0, done);
  if (used_ + total > limits_.stream_cap || budget_->used + total > budget_->cap) return false;
  used_ += total;
  budget_->used += total;
  return true;
}

std::uint32_t FragmentAssembler::place(Pending& p, std::uint32_t offset, std::string_view slice) {
  const auto end = static_cast<std::uint32_t>(offset + slice.size());
  std::uint32_t added = 0;
  std::uint32_t cursor = offset;
  auto it = std::lower_bound(p.have.begin(), p.have.end(), std::pair{offset, 0u},
                             [](auto a, auto b) { return a.second < b.first; });
  // Copy only the bytes no earlier slice has placed.
  for (auto walk = it; cursor < end; ++walk) {
    std::uint32_t gap_end = walk == p.have.end() ? end : std::min(end, walk->first);
    if (gap_end > cursor) {
      std::copy_n(slice.data() + (cursor - offset), gap_end - cursor, p.bytes.begin() + cursor);
      added += gap_end - cursor;
    }
    if (walk == p.have.end()) break;
    cursor = std::max(cursor, walk->second);
  }
  // Merge [offset, end) into the sorted interval list.
  std::uint32_t lo = offset, hi = end;
  auto first = it;
  auto last = it;
  while (last != p.have.end() && last->first <= hi) {
    lo = std::min(lo, last->first);
    hi = std::max(hi, last->second);
    ++last;
  }
  it = p.have.erase(first, last);
  p.have.insert(it, {lo, hi});
  p.have_bytes += added;
  return added;
}

FragmentStatus FragmentAssembler::add(std::string_view datagram, const ExtendedHeader& header,
                                      Instant now, std::vector<Done>& done) {
  Pending* p = find(header);
  if (p && p->total != header.frag_total) return FragmentStatus::inconsistent;
  if (!p && recently_completed(header)) return FragmentStatus::duplicate;
  if (!p) {
    if (!reserve(header.frag_total, done)) return FragmentStatus::over_budget;
    Pending fresh;
    fresh.header_text.assign(datagram.substr(0, header.header_size));
    fresh.seq = header.seq;
    fresh.ts_usec = header.ts_usec;
    fresh.total = header.frag_total;
    fresh.bytes.assign(header.frag_total, '\0');
    fresh.started = now;
    pending_.push_back(std::move(fresh));
    p = &pending_.back();
  }
  if (header.body.empty()) return FragmentStatus::partial;
  if (place(*p, header.frag_offset, header.body) == 0) return FragmentStatus::duplicate;
  if (p->have_bytes < p->total) return FragmentStatus::partial;
  completed_[completed_next_++ % completed_.size()] = {p->seq, p->ts_usec};
  release(static_cast<std::size_t>(p - pending_.data()), done);
  return FragmentStatus::complete;
}

void FragmentAssembler::release(std::size_t index, std::vector<Done>& done) {
  Pending& p = pending_[index];
  Done out;
  out.header_text = std::move(p.header_text);
  out.arrived = p.started;
  out.missing_bytes = p.total - p.have_bytes;
  if (out.missing_bytes == 0) {
    out.body = std::move(p.bytes);
  } else {
    // Each hole becomes a mark, so the text never comes out silently short or with NULs.
    std::uint32_t cursor = 0;
    auto mark = [&](std::uint32_t upto) {
      if (upto > cursor)
        out.body += "[lastgasp: " + std::to_string(upto - cursor) + " bytes missing]";
    };
    for (auto [lo, hi] : p.have) {
      mark(lo);
      out.body.append(p.bytes, lo, hi - lo);
      cursor = hi;
    }
    mark(p.total);
  }
  used_ -= p.total;
  budget_->used -= p.total;
  pending_.erase(pending_.begin() + static_cast<std::ptrdiff_t>(index));
  done.push_back(std::move(out));
}

void FragmentAssembler::expire(MonoTime started_before, std::vector<Done>& done) {
  for (std::size_t i = 0; i < pending_.size();) {
    if (pending_[i].started.mono <= started_before) release(i, done);
    else ++i;
  }
}

void FragmentAssembler::drain(std::vector<Done>& done) {
  while (!pending_.empty()) release(0, done);
}

}  // namespace lastgasp::wire
