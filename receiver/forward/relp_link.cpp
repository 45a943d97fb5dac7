#include "relp_link.hpp"

extern "C" {  // librelp.h declares C functions without saying so
#include <librelp.h>
}
#include <netdb.h>
#include <pthread.h>
#include <signal.h>
#include <sys/socket.h>

#include <condition_variable>
#include <deque>
#include <fstream>
#include <functional>
#include <mutex>
#include <stdexcept>
#include <string_view>

#include "notice.hpp"

namespace lastgasp::forward {

namespace {

unsigned char* as_relp(std::string& text) { return reinterpret_cast<unsigned char*>(text.data()); }

// librelp's callbacks carry the session's user pointer: the link.
void on_session_error(void* user, char* /*objinfo*/, char* message, relpRetVal code);

// librelp calls its debug printer unconditionally: it must be set.
void no_debug_output(char*, ...) {}

class RelpLink : public Link {
 public:
  RelpLink(const config::Forward& settings, Spool& spool) : settings_(settings), spool_(spool) {
    if (relpEngineConstruct(&engine_) != RELP_RET_OK) throw std::runtime_error(describe(settings_) + ": librelp failed");
    relpEngineSetDbgprint(engine_, no_debug_output);
    std::string syslog = "syslog";
    relpEngineSetEnableCmd(engine_, as_relp(syslog), eRelpCmdState_Required);
    relpEngineSetOnErr(engine_, on_session_error);
    relpEngineSetOnAuthErr(engine_, [](void* user, char*, char* message, relpRetVal code) {
      on_session_error(user, nullptr, message, code);
    });
    if (!settings_.uses_tls()) return;
    if (relpEngineSetTLSLibByName(engine_, "openssl") != RELP_RET_OK) {
      relpEngineDestruct(&engine_);
      throw std::runtime_error(describe(settings_) + ": this librelp has no OpenSSL driver");
    }
    // librelp reads them at each connect, and would only fail there, again and again.
    for (const auto& file : {settings_.ca_file, settings_.cert_file, settings_.key_file})
      if (!file.empty() && !std::ifstream(file)) {
        relpEngineDestruct(&engine_);
        throw std::runtime_error(describe(settings_) + ": cannot read its TLS file " + file.string());
      }
  }

  ~RelpLink() override {
    if (client_) relpEngineCltDestruct(engine_, &client_);
    relpEngineDestruct(&engine_);
  }

  void run() override {
    block_sigpipe();
    bool waited = false;  // for more, since the last send
    while (!stopping_) {
      // No peek without a session, as the stream link: while the destination is away, the spool
      // spills to disk.
      if (!client_) {
        if (spool_.empty()) wait_for_more();
        else if (!open_session()) wait_while_down();
        continue;
      }
      const std::vector<Message>& batch = spool_.peek(kBatchBytes);
      std::size_t sent_before = align(batch);
      if (sent_before < batch.size()) {
        send(batch, sent_before);
        waited = false;
      } else if (!waited) {
        waited = true;
        wait_for_more();
      } else if (!unconfirmed_.empty()) {
        confirm_by_closing();
      } else {
        wait_for_more();
      }
    }
    if (client_) confirm_by_closing();
  }

  void stop() override {
    std::lock_guard lock(mutex_);
    stopping_ = true;
    wakeup_.notify_one();
  }

  void wake() override {
    if (!idle_.exchange(false)) return;
    std::lock_guard lock(mutex_);
    woken_ = true;
    wakeup_.notify_one();
  }

  void session_error(std::string_view message, relpRetVal code) {
    session_error_ = std::string(message) + " (librelp error " + std::to_string(code) + ")";
  }

 private:
  struct Unconfirmed {
    std::uint64_t number;  // in the session, from 0
    std::size_t fingerprint;
  };

  static std::size_t fingerprint(const std::string& bytes) {
    return std::hash<std::string_view>{}(bytes) ^ bytes.size();
  }

  static void block_sigpipe() {
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGPIPE);
    pthread_sigmask(SIG_BLOCK, &set, nullptr);
  }

  // How many of BATCH's first messages this session sent already. unconfirmed_ holds them in
  // order, but the spool may have dropped some since, for room: those are forgotten here.
  std::size_t align(const std::vector<Message>& batch) {
    std::size_t matched = 0;
    auto it = unconfirmed_.begin();
    while (it != unconfirmed_.end() && matched < batch.size()) {
      if (it->fingerprint == fingerprint(batch[matched].bytes)) {
        ++matched;
        ++it;
      } else {
        it = unconfirmed_.erase(it);
      }
    }
    return matched;
  }

  bool open_session() {
    std::vector<std::string> addresses = resolve();
    if (addresses.empty()) return failed("cannot resolve " + settings_.host);
    for (std::string& address : addresses)
      if (connect_to(address)) {
        next_number_ = 0;
        backoff_ = kFirstBackoff;
        connects_.fetch_add(1, std::memory_order_relaxed);
        connected_.store(true, std::memory_order_relaxed);
        if (reported_down_) notice(Severity::info, describe(settings_) + ": connected again");
        reported_down_ = false;
        return true;
      }
    return failed(session_error_);
  }

  // Every address of the host `to` names: librelp would try only the first.
  std::vector<std::string> resolve() const {
    addrinfo hints{};
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    addrinfo* found = nullptr;
    if (::getaddrinfo(settings_.host.c_str(), nullptr, &hints, &found) != 0) return {};
    std::vector<std::string> out;
    for (addrinfo* a = found; a; a = a->ai_next) {
      char text[NI_MAXHOST];
      if (::getnameinfo(a->ai_addr, a->ai_addrlen, text, sizeof text, nullptr, 0, NI_NUMERICHOST) == 0)
        out.emplace_back(text);
    }
    ::freeaddrinfo(found);
    return out;
  }

  bool connect_to(std::string& address) {
    session_error_.clear();
    if (relpEngineCltConstruct(engine_, &client_) != RELP_RET_OK) {
      session_error_ = "librelp failed";
      return false;
    }
    relpCltSetTimeout(client_, kRelpTimeout);
    relpCltSetConnTimeout(client_, static_cast<int>(kRelpTimeout));
    relpCltSetWindowSize(client_, kRelpWindow);
    relpCltSetUsrPtr(client_, this);
    if (settings_.uses_tls()) set_up_tls();
    std::string port = std::to_string(settings_.port);
    relpRetVal code = relpCltConnect(client_, AF_UNSPEC, as_relp(port), as_relp(address));
    if (code == RELP_RET_OK) return true;
    if (session_error_.empty()) session_error("cannot connect to " + address, code);
    relpEngineCltDestruct(engine_, &client_);
    return false;
  }

  // The destination's certificate: signed by ca_file, and naming the host `to` names.
  void set_up_tls() {
    std::string ca = settings_.ca_file.string(), cert = settings_.cert_file.string(),
                key = settings_.key_file.string(), mode = "name", peer = settings_.host;
    relpCltEnableTLS(client_);
    relpCltSetCACert(client_, ca.data());
    if (!cert.empty()) {
      relpCltSetOwnCert(client_, cert.data());
      relpCltSetPrivKey(client_, key.data());
    }
    relpCltSetAuthMode(client_, mode.data());
    relpCltAddPermittedPeer(client_, peer.data());
  }

  // Sends BATCH from FIRST on; what the window tells was answered leaves the spool.
  void send(const std::vector<Message>& batch, std::size_t first) {
    std::size_t answered = 0;  // BATCH's first messages: committed after the loop, which reads BATCH
    for (std::size_t i = first; i < batch.size() && !stopping_; ++i) {
      std::string bytes = batch[i].bytes;  // librelp takes a mutable pointer
      relpRetVal code = relpCltSendSyslog(client_, as_relp(bytes), bytes.size());
      if (code != RELP_RET_OK) {
        if (session_error_.empty()) session_error("cannot send", code);
        commit(answered);
        return lost();
      }
      std::uint64_t number = next_number_++;
      unconfirmed_.push_back({number, fingerprint(bytes)});
      if (number >= static_cast<std::uint64_t>(kRelpWindow)) answered += forget_up_to(number - kRelpWindow);
    }
    commit(answered);
  }

  // Messages up to NUMBER in this session were answered; returns how many of them were waiting.
  std::size_t forget_up_to(std::uint64_t number) {
    std::size_t count = 0;
    while (!unconfirmed_.empty() && unconfirmed_.front().number <= number) {
      unconfirmed_.pop_front();
      ++count;
    }
    return count;
  }

  // The first COUNT messages of the last peek were answered.
  void commit(std::size_t count) {
    spool_.commit(count);
    sent_.fetch_add(count, std::memory_order_relaxed);
  }

  // The spool ran dry: a clean close confirms the last window; a close that fails leaves it
  // to be sent again.
  void confirm_by_closing() {
    relpEngineCltDestruct(engine_, &client_);
    connected_.store(false, std::memory_order_relaxed);
    if (!session_error_.empty()) return lost();
    while (!unconfirmed_.empty()) {
      std::size_t matched = align(spool_.peek(kBatchBytes));
      if (matched == 0) break;
      commit(forget_up_to(unconfirmed_[matched - 1].number));
    }
    unconfirmed_.clear();
  }

  void lost() {
    disconnects_.fetch_add(1, std::memory_order_relaxed);
    if (!reported_down_)
      notice(Severity::warning, describe(settings_) + ": session lost (" + session_error_ + "); spooling");
    reported_down_ = true;
    drop_session();
  }

  bool failed(const std::string& what) {
    connect_errors_.fetch_add(1, std::memory_order_relaxed);
    if (!reported_down_) notice(Severity::warning, unreachable_notice(settings_, what, false));
    reported_down_ = true;
    drop_session();
    return false;
  }

  // What was sent and not confirmed is sent again by the next session.
  void drop_session() {
    if (client_) relpEngineCltDestruct(engine_, &client_);  // broken: librelp only frees it
    client_ = nullptr;
    connected_.store(false, std::memory_order_relaxed);
    unconfirmed_.clear();
  }

  // While the destination is away, what the writer pushes goes to disk.
  void wait_while_down() {
    auto until = std::chrono::steady_clock::now() + backoff_;
    backoff_ = std::min(backoff_ * 2, kMaxBackoff);
    while (!stopping_ && std::chrono::steady_clock::now() < until) {
      spool_.spill();
      std::unique_lock lock(mutex_);
      wakeup_.wait_for(lock, kTick, [this] { return stopping_.load(); });
    }
  }

  // Until the writer pushes, stop() is called, or a tick passes.
  void wait_for_more() {
    idle_.store(true);
    std::unique_lock lock(mutex_);
    wakeup_.wait_for(lock, kTick, [this] { return woken_ || stopping_; });
    woken_ = false;
    idle_.store(false);
  }

  const config::Forward& settings_;
  Spool& spool_;
  relpEngine_t* engine_ = nullptr;
  relpClt_t* client_ = nullptr;  // a session, while there is one
  std::uint64_t next_number_ = 0;
  std::deque<Unconfirmed> unconfirmed_;  // sent in this session, not known to be answered
  std::string session_error_;            // what librelp reported in this session: a close then fails
  std::chrono::seconds backoff_ = kFirstBackoff;
  bool reported_down_ = false;

  std::mutex mutex_;  // woken_, and the wait for it
  std::condition_variable wakeup_;
  bool woken_ = false;
  std::atomic<bool> stopping_{false}, idle_{false};
};

void on_session_error(void* user, char* /*objinfo*/, char* message, relpRetVal code) {
  if (user) static_cast<RelpLink*>(user)->session_error(message ? message : "", code);
}

}  // namespace

std::unique_ptr<Link> make_relp_link(const config::Forward& settings, Spool& spool) {
  return std::make_unique<RelpLink>(settings, spool);
}

}  // namespace lastgasp::forward
