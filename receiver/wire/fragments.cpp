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

FragmentAssembler& FragmentAssembler::operator=(FragmentAssembler&& other) noexcept {
  if (this == &other) return *this;
  budget_->give(used_);  // what this one held goes with its messages
  limits_ = other.limits_;
  budget_ = other.budget_;
  pending_ = std::move(other.pending_);
  used_ = std::exchange(other.used_, 0);
  completed_ = other.completed_;
  completed_next_ = other.completed_next_;
  return *this;
}

namespace {

// What a message and a piece cost beyond their bytes: the bookkeeping a sender can make us hold.
constexpr std::uint64_t kMessageOverhead = 256;
constexpr std::uint64_t kPieceOverhead = 64;

}  // namespace

std::uint64_t FragmentAssembler::charge(const Pending& p) {
  return kMessageOverhead + p.header_text.size() + p.have_bytes + p.pieces.size() * kPieceOverhead;
}

bool ReassemblyBudget::take(std::uint64_t bytes) {
  for (const ReassemblyBudget* b = this; b; b = b->parent)
    if (b->used + bytes > b->cap) return false;
  for (ReassemblyBudget* b = this; b; b = b->parent) b->used += bytes;
  return true;
}

void ReassemblyBudget::give(std::uint64_t bytes) {
  for (ReassemblyBudget* b = this; b; b = b->parent) b->used -= bytes;
}

// Pending bytes leave the shared budget with their assembler.
FragmentAssembler::~FragmentAssembler() { budget_->give(used_); }

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

// Takes BYTES of the budgets, pushing out this stream's oldest messages (but
// never KEEP) to stay under the stream's cap. False when the host's or the
// daemon's budget has no room left. Pushing out moves messages: re-find after.
bool FragmentAssembler::reserve(std::uint64_t bytes, const Pending* keep, std::vector<Done>& done) {
  std::size_t victim = 0;
  while (used_ + bytes > limits_.stream_cap && victim < pending_.size()) {
    if (&pending_[victim] == keep) {
      ++victim;
      continue;
    }
    if (keep && &pending_[victim] < keep) --keep;  // the erase below moves KEEP down by one
    release(victim, done);
  }
  if (used_ + bytes > limits_.stream_cap || !budget_->take(bytes)) return false;
  used_ += bytes;
  return true;
}

void FragmentAssembler::unreserve(std::uint64_t bytes) {
  used_ -= bytes;
  budget_->give(bytes);
}

// Pieces touching [offset, end] become one piece: the slice fills only what they leave open.
std::uint32_t FragmentAssembler::place(Pending& p, std::uint32_t offset, std::string_view slice) {
  const auto end = static_cast<std::uint32_t>(offset + slice.size());
  auto first = std::find_if(p.pieces.begin(), p.pieces.end(), [&](const Piece& x) { return x.end() >= offset; });
  auto last = first;
  while (last != p.pieces.end() && last->offset <= end) ++last;
  Piece merged{offset, {}};
  auto next = first;
  if (first != last && first->offset <= offset) merged = std::move(*next++);  // the slice extends it
  std::size_t kept = merged.bytes.size();
  for (; next != last; ++next) {
    merged.bytes.append(slice.substr(merged.end() - offset, next->offset - merged.end()));
    merged.bytes.append(next->bytes);
    kept += next->bytes.size();
  }
  if (merged.end() < end) merged.bytes.append(slice.substr(merged.end() - offset));
  auto added = static_cast<std::uint32_t>(merged.bytes.size() - kept);
  auto at = p.pieces.erase(first, last);
  p.pieces.insert(at, std::move(merged));
  p.have_bytes += added;
  return added;
}

FragmentAssembler::Pending* FragmentAssembler::start(std::string_view datagram, const ExtendedHeader& header,
                                                     Instant now, std::vector<Done>& done) {
  const std::uint64_t cost = kMessageOverhead + header.header_size;
  if (!reserve(cost, nullptr, done)) return nullptr;
  Pending& fresh = pending_.emplace_back();
  fresh.header_text.assign(datagram.substr(0, header.header_size));
  fresh.seq = header.seq;
  fresh.ts_usec = header.ts_usec;
  fresh.total = header.frag_total;
  fresh.charged = cost;
  fresh.started = now;
  return &fresh;
}

FragmentStatus FragmentAssembler::add(std::string_view datagram, const ExtendedHeader& header,
                                      Instant now, std::vector<Done>& done) {
  Pending* p = find(header);
  if (p && p->total != header.frag_total) return FragmentStatus::inconsistent;
  if (!p && recently_completed(header)) return FragmentStatus::duplicate;
  if (!p && !(p = start(datagram, header, now, done))) return FragmentStatus::over_budget;
  if (header.body.empty()) return FragmentStatus::partial;
  // A slice adds at most its bytes and one piece; what it did not add goes back.
  const std::uint64_t most = header.body.size() + kPieceOverhead;
  if (!reserve(most, p, done)) return FragmentStatus::over_budget;
  p = find(header);
  std::uint32_t added = place(*p, header.frag_offset, header.body);
  const std::uint64_t before = p->charged;
  p->charged = charge(*p);
  unreserve(most + before - p->charged);
  if (added == 0) return FragmentStatus::duplicate;
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
    out.body = std::move(p.pieces.front().bytes);
  } else {
    // Each hole becomes a mark, so the text never comes out silently short or with NULs.
    std::uint32_t cursor = 0;
    auto mark = [&](std::uint32_t upto) {
      if (upto > cursor)
        out.body += "[lastgasp: " + std::to_string(upto - cursor) + " bytes missing]";
    };
    for (Piece& piece : p.pieces) {
      mark(piece.offset);
      out.body += piece.bytes;
      cursor = piece.end();
    }
    mark(p.total);
  }
  unreserve(p.charged);
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
