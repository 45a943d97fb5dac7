#include "spool.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstdio>
#include <optional>
#include <system_error>
#include <utility>

#include "fd.hpp"
#include "sinks/log_directory.hpp"

namespace lastgasp::forward {

namespace {

constexpr std::size_t kHeader = 5;  // u32 length, u8 priority
constexpr std::string_view kSuffix = ".seg";
constexpr std::size_t kDigits = 16;

std::uint64_t record_size(const Message& m) { return kHeader + m.bytes.size(); }

void append_record(std::string& out, const Message& m) {
  auto n = static_cast<std::uint32_t>(m.bytes.size());
  for (int i = 0; i < 4; ++i) out += static_cast<char>((n >> (8 * i)) & 0xff);
  out += m.priority ? '\1' : '\0';
  out += m.bytes;
}

// The records of DATA up to the first one cut short; END is where that one began.
std::vector<Message> parse_records(std::string_view data, std::size_t& end) {
  std::vector<Message> out;
  std::size_t at = 0;
  while (data.size() - at >= kHeader) {
    std::uint32_t n = 0;
    for (int i = 0; i < 4; ++i) n |= static_cast<std::uint32_t>(static_cast<unsigned char>(data[at + i])) << (8 * i);
    unsigned char flag = static_cast<unsigned char>(data[at + 4]);
    if (flag > 1 || data.size() - at - kHeader < n) break;
    out.push_back({std::string(data.substr(at + kHeader, n)), flag == 1});
    at += kHeader + n;
  }
  end = at;
  return out;
}

std::optional<std::uint64_t> segment_number(const std::string& name) {
  if (name.size() != kDigits + kSuffix.size() || !name.ends_with(kSuffix)) return std::nullopt;
  std::uint64_t n = 0;
  auto [end, ec] = std::from_chars(name.data(), name.data() + kDigits, n);
  if (ec != std::errc() || end != name.data() + kDigits) return std::nullopt;
  return n;
}

std::string read_all(int fd) {
  std::string data;
  char buf[65536];
  for (;;) {
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return data;
    data.append(buf, static_cast<std::size_t>(n));
  }
}

}  // namespace

Spool::Spool(const std::filesystem::path& dir, SpoolLimits limits) : limits_(limits) {
  std::filesystem::create_directories(dir);
  dir_fd_ = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dir_fd_ < 0) throw std::system_error(errno, std::generic_category(), "cannot open the spool " + dir.string());
  load_segments();
}

// What memory holds is sent after the restart, in order: what a peek handed out first.
Spool::~Spool() {
  {
    std::lock_guard disk(disk_mutex_);
    write_handed_out_first();
    spill_locked();
  }
  ::close(dir_fd_);
}

// What went out in a peek and was not committed is older than the disk: it goes in front of the head.
void Spool::write_handed_out_first() {
  std::deque<Queued> handed_out;
  {
    std::lock_guard lock(mutex_);
    while (!memory_.empty() && memory_.front().id < handed_out_) {
      memory_bytes_ -= memory_.front().message.bytes.size();
      handed_out.push_back(std::move(memory_.front()));
      memory_.pop_front();
    }
    handed_out_ = 0;
  }
  if (handed_out.empty()) return;
  if (segments_.empty()) {
    {
      std::lock_guard lock(mutex_);
      for (const Queued& q : handed_out) spilling_bytes_ += q.message.bytes.size();  // as a spill's
    }
    return append_to_disk(handed_out);
  }
  std::vector<Message> keep;
  for (Queued& q : handed_out) keep.push_back(std::move(q.message));
  std::vector<Message> rest = head_.empty() ? read_segment(segments_.front())
                                            : std::vector<Message>(head_.begin() + static_cast<std::ptrdiff_t>(head_next_), head_.end());
  std::move(rest.begin(), rest.end(), std::back_inserter(keep));
  head_.clear();
  head_next_ = 0;
  rewrite(0, std::move(keep));
}

std::string Spool::segment_name(std::uint64_t number) const {
  char name[kDigits + 8];
  std::snprintf(name, sizeof name, "%016llu.seg", static_cast<unsigned long long>(number));
  return name;
}

// Segments are opened under the spool's descriptor with O_NOFOLLOW: a link
// planted in the spool is refused, never followed out of it.
void Spool::load_segments() {
  std::vector<std::uint64_t> numbers;
  sinks::for_each_entry(dir_fd_, [&](const std::string& name) {
    if (auto n = segment_number(name)) numbers.push_back(*n);
    else if (name.ends_with(".seg.tmp")) ::unlinkat(dir_fd_, name.c_str(), 0);  // a rewrite cut short
  });
  std::sort(numbers.begin(), numbers.end());
  for (std::uint64_t n : numbers) {
    Segment s = scan(n);
    next_segment_ = n + 1;
    if (s.messages == 0) {
      ::unlinkat(dir_fd_, segment_name(n).c_str(), 0);
      continue;
    }
    disk_bytes_ += s.size;
    segments_.push_back(s);
  }
}

// Counts a segment's records, and cuts off a record a crash left half written,
// so that what is appended next is not glued to it.
Spool::Segment Spool::scan(std::uint64_t number) const {
  Segment s{number};
  Fd fd(::openat(dir_fd_, segment_name(number).c_str(), O_RDWR | O_NOFOLLOW | O_CLOEXEC));
  struct stat st{};
  if (!fd || ::fstat(fd.get(), &st) != 0 || !S_ISREG(st.st_mode)) return s;
  std::string data = read_all(fd.get());
  std::size_t end = 0;
  for (const Message& m : parse_records(data, end)) {
    ++s.messages;
    if (!m.priority) ++s.ordinary;
  }
  if (end < data.size()) (void)::ftruncate(fd.get(), static_cast<off_t>(end));
  s.size = end;
  return s;
}

std::vector<Message> Spool::read_segment(const Segment& segment) const {
  Fd fd(::openat(dir_fd_, segment_name(segment.number).c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC));
  if (!fd) return {};
  std::string data = read_all(fd.get());
  std::size_t end = 0;
  return parse_records(data, end);
}

bool Spool::push(Message message) {
  std::lock_guard lock(mutex_);
  memory_bytes_ += message.bytes.size();
  memory_.push_back({next_id_++, std::move(message)});
  while (memory_bytes_ > limits_.memory_bytes && !memory_.empty()) {
    auto victim = std::find_if(memory_.begin(), memory_.end(), [](const Queued& q) { return !q.message.priority; });
    if (victim == memory_.end()) {
      victim = memory_.begin();
      ++counters_.dropped_priority;
    } else {
      ++counters_.dropped;
    }
    memory_bytes_ -= victim->message.bytes.size();
    memory_.erase(victim);
  }
  // Early: a spill under a loaded disk can take a second, while memory fills behind it.
  return memory_bytes_ > limits_.memory_bytes / 4;
}

// In order: what an earlier peek handed out from memory, then the disk's head segment, or, with
// nothing on disk, the rest of memory.
const std::vector<Message>& Spool::peek(std::size_t max_bytes) {
  // What a peek hands out from memory stays there until committed: an eighth of the bound at
  // most, so that a spill, from a quarter, finds room to make.
  max_bytes = std::min(max_bytes, limits_.memory_bytes / 8);
  peeked_.clear();
  peeked_ids_.clear();
  std::unique_lock disk(disk_mutex_);
  std::size_t bytes = 0;
  take_from_memory(bytes, max_bytes, false);
  while (!segments_.empty() && head_.empty()) load_head(disk);
  if (head_.empty()) {
    take_from_memory(bytes, max_bytes, true);
    return peeked_;
  }
  peeked_generation_ = head_generation_;
  for (std::size_t i = head_next_; i < head_.size() && (peeked_.empty() || bytes + head_[i].bytes.size() <= max_bytes);
       ++i) {
    bytes += head_[i].bytes.size();
    peeked_.push_back(head_[i]);
    peeked_ids_.push_back(kFromDisk);
  }
  return peeked_;
}

// Reads the oldest segment whole, without the disk lock: a spill meanwhile (which memory's bound
// may be waiting on) starts a segment of its own rather than append to this one. If room was
// made in it meanwhile, it is read again.
void Spool::load_head(std::unique_lock<std::mutex>& disk) {
  const Segment front = segments_.front();
  const std::uint64_t generation = head_generation_;
  loading_head_ = front.number;
  disk.unlock();
  std::vector<Message> read = read_segment(front);
  disk.lock();
  loading_head_.reset();
  if (segments_.empty() || segments_.front().number != front.number || head_generation_ != generation) return;
  head_ = std::move(read);
  head_next_ = 0;
  if (head_.empty()) remove_segment(0);  // unreadable now: nothing in it can be sent
}

// Adds memory's messages to the peek: those handed out already, or (PAST_HANDED_OUT) those after.
void Spool::take_from_memory(std::size_t& bytes, std::size_t max_bytes, bool past_handed_out) {
  std::lock_guard lock(mutex_);
  for (const Queued& q : memory_) {
    if (q.id < handed_out_ && past_handed_out) continue;
    if (q.id >= handed_out_ && !past_handed_out) break;
    if (!peeked_.empty() && bytes + q.message.bytes.size() > max_bytes) break;
    bytes += q.message.bytes.size();
    peeked_.push_back(q.message);
    peeked_ids_.push_back(q.id);
    if (past_handed_out) handed_out_ = q.id + 1;
  }
}

void Spool::commit(std::size_t count) {
  count = std::min(count, peeked_.size());
  if (count == 0) return;
  std::lock_guard disk(disk_mutex_);
  std::size_t from_disk = 0;
  std::optional<std::uint64_t> last_from_memory;
  for (std::size_t i = 0; i < count; ++i)
    if (peeked_ids_[i] == kFromDisk) ++from_disk;
    else last_from_memory = peeked_ids_[i];
  if (last_from_memory) {
    std::lock_guard lock(mutex_);
    // Up to the last committed, by id: push may have dropped some of them since.
    while (!memory_.empty() && memory_.front().id <= *last_from_memory) {
      memory_bytes_ -= memory_.front().message.bytes.size();
      memory_.pop_front();
    }
  }
  // Room made in the head since the peek took those messages off already (or kept its panics,
  // which go again).
  if (from_disk > 0 && peeked_generation_ == head_generation_ && !head_.empty()) {
    head_next_ += from_disk;
    if (head_next_ >= head_.size()) {
      head_.clear();
      head_next_ = 0;
      remove_segment(0);
    }
  }
  peeked_.erase(peeked_.begin(), peeked_.begin() + static_cast<std::ptrdiff_t>(count));
  peeked_ids_.erase(peeked_ids_.begin(), peeked_ids_.begin() + static_cast<std::ptrdiff_t>(count));
}

void Spool::spill() {
  std::lock_guard disk(disk_mutex_);
  spill_locked();
}

void Spool::spill_locked() {
  std::deque<Queued> batch;
  {
    std::lock_guard lock(mutex_);
    auto newer = std::find_if(memory_.begin(), memory_.end(), [this](const Queued& q) { return q.id >= handed_out_; });
    std::size_t bytes = 0;
    for (auto it = newer; it != memory_.end(); ++it) bytes += it->message.bytes.size();
    batch.assign(std::make_move_iterator(newer), std::make_move_iterator(memory_.end()));
    memory_.erase(newer, memory_.end());
    memory_bytes_ -= bytes;
    spilling_bytes_ = bytes;
  }
  append_to_disk(batch);
  if (!batch.empty()) put_back(batch);
}

// What could not be written goes back in front of what was pushed meanwhile.
void Spool::put_back(std::deque<Queued>& unwritten) {
  std::lock_guard lock(mutex_);
  auto newer = std::find_if(memory_.begin(), memory_.end(), [this](const Queued& q) { return q.id >= handed_out_; });
  memory_.insert(newer, std::make_move_iterator(unwritten.begin()), std::make_move_iterator(unwritten.end()));
  spilling_bytes_ = 0;
  memory_bytes_ = 0;
  for (const Queued& q : memory_) memory_bytes_ += q.message.bytes.size();
}

// Appends BATCH's messages to the newest segment (a new one when it is full, or
// when it is the head being delivered, which is read once, or being read). Takes off BATCH
// what it wrote; what is left could not be written.
void Spool::append_to_disk(std::deque<Queued>& batch) {
  const std::uint64_t segment_bytes = std::min<std::uint64_t>(limits_.segment_bytes, limits_.disk_bytes / 2);
  while (!batch.empty()) {
    bool head_read = segments_.size() == 1 && (!head_.empty() || loading_head_ == segments_.back().number);
    if (segments_.empty() || head_read || segments_.back().size >= segment_bytes)
      segments_.push_back({next_segment_++});
    std::string chunk;
    std::size_t taken = 0, taken_bytes = 0;
    std::uint64_t ordinary = 0;
    for (; taken < batch.size(); ++taken) {
      const Message& m = batch[taken].message;
      if (taken > 0 && segments_.back().size + chunk.size() + record_size(m) > segment_bytes) break;
      append_record(chunk, m);
      taken_bytes += m.bytes.size();
      if (!m.priority) ++ordinary;
    }
    make_room_on_disk(chunk.size());
    if (segments_.empty()) segments_.push_back({next_segment_++});  // room was made by removing it
    Segment& tail = segments_.back();
    Fd fd(::openat(dir_fd_, segment_name(tail.number).c_str(),
                          O_WRONLY | O_APPEND | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600));
    if (!fd || sinks::write_all(fd.get(), chunk.data(), chunk.size()) != chunk.size()) {
      if (fd) (void)::ftruncate(fd.get(), static_cast<off_t>(tail.size));
      std::lock_guard lock(mutex_);
      ++counters_.disk_errors;
      if (tail.messages == 0) segments_.pop_back();
      return;
    }
    tail.size += chunk.size();
    tail.messages += taken;
    tail.ordinary += ordinary;
    disk_bytes_ += chunk.size();
    batch.erase(batch.begin(), batch.begin() + static_cast<std::ptrdiff_t>(taken));
    std::lock_guard lock(mutex_);
    counters_.spilled += taken;
    spilling_bytes_ -= taken_bytes;
  }
}

// The oldest ordinary messages go first, a segment at a time; the priority
// ones only when nothing else is left on disk.
void Spool::make_room_on_disk(std::uint64_t incoming) {
  while (!segments_.empty() && disk_bytes_ + incoming > limits_.disk_bytes) {
    auto with_ordinary =
        std::find_if(segments_.begin(), segments_.end(), [](const Segment& s) { return s.ordinary > 0; });
    std::size_t index = with_ordinary == segments_.end() ? 0 : static_cast<std::size_t>(with_ordinary - segments_.begin());
    bool is_head = index == 0 && !head_.empty();
    std::vector<Message> undelivered =
        is_head ? std::vector<Message>(head_.begin() + static_cast<std::ptrdiff_t>(head_next_), head_.end())
                : read_segment(segments_[index]);
    if (is_head) {
      head_.clear();
      head_next_ = 0;
      ++head_generation_;
    }
    std::vector<Message> keep;
    std::uint64_t dropped = 0, dropped_priority = 0;
    for (Message& m : undelivered) {
      if (with_ordinary == segments_.end()) ++dropped_priority;
      else if (!m.priority) ++dropped;
      else keep.push_back(std::move(m));
    }
    {
      std::lock_guard lock(mutex_);
      counters_.dropped += dropped;
      counters_.dropped_priority += dropped_priority;
    }
    if (keep.empty()) remove_segment(index);
    else rewrite(index, std::move(keep));
  }
}

// Replaces SEGMENT's file with KEEP's records: a temporary, then a rename.
void Spool::rewrite(std::size_t index, std::vector<Message> keep) {
  Segment& segment = segments_[index];
  std::string data;
  Segment fresh{segment.number};
  for (const Message& m : keep) {
    append_record(data, m);
    ++fresh.messages;
    if (!m.priority) ++fresh.ordinary;
  }
  fresh.size = data.size();
  std::string name = segment_name(segment.number), temporary = name + ".tmp";
  ::unlinkat(dir_fd_, temporary.c_str(), 0);
  Fd fd(::openat(dir_fd_, temporary.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600));
  bool ok = fd && sinks::write_all(fd.get(), data.data(), data.size()) == data.size() &&
            ::renameat(dir_fd_, temporary.c_str(), dir_fd_, name.c_str()) == 0;
  if (!ok) {
    // The old file stays as it was, and its ordinary messages would be counted dropped twice:
    // drop the segment instead, so that the bound holds.
    ::unlinkat(dir_fd_, temporary.c_str(), 0);
    std::lock_guard lock(mutex_);
    ++counters_.disk_errors;
    counters_.dropped_priority += fresh.messages;
    remove_segment(index);
    return;
  }
  disk_bytes_ += fresh.size;
  disk_bytes_ -= segment.size;
  segment = fresh;
  if (index == 0) ++head_generation_;  // a head being read meanwhile is read again
}

void Spool::remove_segment(std::size_t index) {
  ::unlinkat(dir_fd_, segment_name(segments_[index].number).c_str(), 0);
  disk_bytes_ -= segments_[index].size;
  segments_.erase(segments_.begin() + static_cast<std::ptrdiff_t>(index));
}

bool Spool::empty() const {
  std::lock_guard disk(disk_mutex_);
  std::lock_guard lock(mutex_);
  return segments_.empty() && memory_.empty();
}

std::size_t Spool::memory_bytes() const {
  std::lock_guard lock(mutex_);
  return memory_bytes_ + spilling_bytes_;
}

SpoolCounters Spool::counters() const {
  std::lock_guard lock(mutex_);
  return counters_;
}

}  // namespace lastgasp::forward
