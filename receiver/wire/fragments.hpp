// ncfrag reassembly for one stream. The kernel repeats the record's header in
// front of every slice ("hdr,ncfrag=<off>/<total>;<slice>"), so a slice says
// where its bytes go. Slices may come in any order and more than once; bytes
// already placed are never overwritten. A message whose slices never all come
// is released after a timeout with a visible mark for each hole.
//
// Memory is charged for what arrived, never for what a header declares: a
// 34-byte "ncfrag=0/131072;" would otherwise reserve 128 KiB. Each message and
// each run of placed bytes also costs a fixed overhead, so that empty or
// one-byte slices cannot hold memory for free.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "extended.hpp"
#include "record.hpp"

namespace lastgasp::wire {

inline constexpr std::uint32_t kMaxFragmentedTotal = 128 * 1024;

// Pending bytes under one cap: a host's budget (shared by all its source ports,
// so one address cannot multiply its share by using more ports) draws on the
// daemon-wide one, its parent.
struct ReassemblyBudget {
  std::uint64_t cap = 64u << 20;
  std::uint64_t used = 0;
  ReassemblyBudget* parent = nullptr;

  // Takes BYTES here and in every parent, or nothing when any of them is full.
  bool take(std::uint64_t bytes);
  void give(std::uint64_t bytes);
};

enum class FragmentStatus { partial, complete, duplicate, inconsistent, over_budget };

class FragmentAssembler {
 public:
  struct Limits {
    std::uint64_t stream_cap = 256u << 10;
  };

  // Reassembled (or released incomplete) messages: the header of their first
  // slice (re-parse it for the fields), and the body with holes already marked.
  struct Done {
    std::string header_text;
    std::string body;
    std::uint32_t missing_bytes = 0;
    Instant arrived;
  };

  FragmentAssembler(Limits limits, ReassemblyBudget& budget) : limits_(limits), budget_(&budget) {}
  FragmentAssembler(FragmentAssembler&& other) noexcept;
  FragmentAssembler& operator=(FragmentAssembler&& other) noexcept;
  ~FragmentAssembler();

  // Places one slice; the caller has checked offset + size <= total <= kMaxFragmentedTotal.
  // Completed messages, and ones pushed out to make room, go to DONE.
  FragmentStatus add(std::string_view datagram, const ExtendedHeader& header, Instant now,
                     std::vector<Done>& done);
  // Releases, incomplete, what started before STARTED_BEFORE.
  void expire(MonoTime started_before, std::vector<Done>& done);
  void drain(std::vector<Done>& done);

  bool empty() const { return pending_.empty(); }
  std::optional<MonoTime> oldest_start() const;
  // Gives back the memory of past messages, when none is pending.
  void compact() {
    if (pending_.empty()) std::vector<Pending>().swap(pending_);
  }

 private:
  // A run of placed bytes. A message's pieces are sorted and never touch: touching ones are one piece.
  struct Piece {
    std::uint32_t offset = 0;
    std::string bytes;
    std::uint32_t end() const { return offset + static_cast<std::uint32_t>(bytes.size()); }
  };
  struct Pending {
    std::string header_text;  // the first slice's header, up to and including ';'
    std::uint64_t seq, ts_usec;
    std::uint32_t total;
    std::vector<Piece> pieces;
    std::uint32_t have_bytes = 0;
    std::uint64_t charged = 0;  // what this message holds of the budgets
    Instant started;
  };

  Pending* find(const ExtendedHeader& header);
  bool recently_completed(const ExtendedHeader& header) const;
  bool reserve(std::uint64_t bytes, const Pending* keep, std::vector<Done>& done);
  void unreserve(std::uint64_t bytes);
  void release(std::size_t index, std::vector<Done>& done);
  Pending* start(std::string_view datagram, const ExtendedHeader& header, Instant now, std::vector<Done>& done);
  static std::uint32_t place(Pending& p, std::uint32_t offset, std::string_view slice);
  static std::uint64_t charge(const Pending& p);

  Limits limits_;
  ReassemblyBudget* budget_;
  std::vector<Pending> pending_;
  std::uint64_t used_ = 0;
  // The last few messages completed, so that a slice duplicated after the
  // message was whole is recognised instead of starting an empty twin.
  std::array<std::pair<std::uint64_t, std::uint64_t>, 4> completed_{};
  std::size_t completed_next_ = 0;
};

}  // namespace lastgasp::wire
