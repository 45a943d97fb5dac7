// ncfrag reassembly for one stream. The kernel repeats the record's header in
// front of every slice ("hdr,ncfrag=<off>/<total>;<slice>"), so a slice says
// where its bytes go. Slices may come in any order and more than once; bytes
// already placed are never overwritten. A message whose slices never all come
// is released after a timeout with a visible mark for each hole.
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

// Pending bytes across all streams, so that one cap bounds the whole daemon.
struct ReassemblyBudget {
  std::uint64_t cap = 64u << 20;
  std::uint64_t used = 0;
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
  FragmentAssembler& operator=(FragmentAssembler&&) = delete;
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

 private:
  struct Pending {
    std::string header_text;  // the first slice's header, up to and including ';'
    std::uint64_t seq, ts_usec;
    std::uint32_t total;
    std::string bytes;
    std::vector<std::pair<std::uint32_t, std::uint32_t>> have;  // sorted, merged [begin, end)
    std::uint32_t have_bytes = 0;
    Instant started;
  };

  Pending* find(const ExtendedHeader& header);
  bool recently_completed(const ExtendedHeader& header) const;
  bool reserve(std::uint32_t total, std::vector<Done>& done);
  void release(std::size_t index, std::vector<Done>& done);
  static std::uint32_t place(Pending& p, std::uint32_t offset, std::string_view slice);

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
