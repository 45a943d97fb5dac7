#include "tcp_endpoint.hpp"

#include <sys/socket.h>

#include <array>
#include <boost/asio/post.hpp>
#include <boost/asio/write.hpp>

#include "accepting.hpp"

namespace lastgasp::net {

namespace asio = boost::asio;
using asio::ip::tcp;

namespace {

std::optional<hosts::SenderAddress> peer_of(const tcp::socket& socket) {
  boost::system::error_code ec;
  auto remote = socket.remote_endpoint(ec);
  if (ec) return std::nullopt;
  return hosts::SenderAddress::from_sockaddr(remote.data(), static_cast<socklen_t>(remote.size()));
}

}  // namespace

// One connection: moves bytes between its socket and its ProtocolSession, one
// read or write at a time, and closes after an ERR, at the idle deadline of a
// request, or when the endpoint closes.
class TcpSession : public Session, public std::enable_shared_from_this<TcpSession> {
 public:
  TcpSession(tcp::socket socket, const hosts::SenderAddress& peer, TcpHandler& handler,
             std::shared_ptr<TcpBudget> budget)
      : socket_(std::move(socket)), idle_(socket_.get_executor()), peer_(peer), handler_(handler),
        budget_(std::move(budget)), protocol_(handler, peer, budget_->limits, budget_->upload_memory) {}
  ~TcpSession() { budget_->give_slot(peer_); }

  void start() { pump(); }

  void close() override {
    idle_.cancel();
    boost::system::error_code ignored;
    socket_.shutdown(tcp::socket::shutdown_both, ignored);
    socket_.close(ignored);
  }

 private:
  // Does the next thing the protocol needs: put a query, send output, close, or read.
  void pump() {
    if (in_flight_ || !socket_.is_open()) return;
    if (auto query = protocol_.take_verify()) ask(std::move(*query));
    if (std::string output = protocol_.take_output(); !output.empty()) return write(std::move(output));
    if (protocol_.done()) return close();
    if (protocol_.wants_input()) read();
    // Otherwise a verify query waits for its answer, which pumps again.
  }

  void read() {
    if (protocol_.stage() != idle_stage_) arm_idle_deadline();
    in_flight_ = true;
    socket_.async_read_some(asio::buffer(input_), [self = shared_from_this()](const boost::system::error_code& ec,
                                                                               std::size_t n) {
      self->in_flight_ = false;
      if (ec) return self->close();
      self->protocol_.feed({self->input_.data(), n});
      self->pump();
    });
  }

  void write(std::string output) {
    in_flight_ = true;
    auto text = std::make_shared<std::string>(std::move(output));
    asio::async_write(socket_, asio::buffer(*text),
                      [self = shared_from_this(), text](const boost::system::error_code& ec, std::size_t) {
                        self->in_flight_ = false;
                        if (ec) return self->close();
                        self->pump();
                      });
  }

  void ask(VerifyQuery query) {
    idle_.cancel();  // the query has a deadline of its own
    idle_stage_ = ~0u;
    handler_.on_verify(peer_, query.token, query.wait, [self = shared_from_this()](std::string reply) {
      asio::post(self->socket_.get_executor(), [self, reply = std::move(reply)] {
        self->protocol_.answer(reply);
        self->pump();
      });
    });
  }

  // Each header, and each body, must arrive within the idle time: a peer that
  // trickles a byte now and then cannot hold its session for long.
  void arm_idle_deadline() {
    idle_stage_ = protocol_.stage();
    idle_.expires_after(budget_->limits.idle);
    idle_.async_wait([self = shared_from_this()](const boost::system::error_code& ec) {
      if (!ec) self->close();
    });
  }

  tcp::socket socket_;
  asio::steady_timer idle_;
  hosts::SenderAddress peer_;
  TcpHandler& handler_;
  std::shared_ptr<TcpBudget> budget_;  // before protocol_, which holds its upload memory
  ProtocolSession protocol_;
  std::array<char, 16384> input_;
  unsigned idle_stage_ = ~0u;
  bool in_flight_ = false;  // a read or a write; its handler pumps again
};

bool TcpBudget::take_slot(const hosts::SenderAddress& peer) {
  unsigned& mine = per_address_[peer.bytes];
  if (sessions_ >= limits.max_sessions || mine >= limits.max_sessions_per_address) {
    if (mine == 0) per_address_.erase(peer.bytes);
    return false;
  }
  ++sessions_;
  ++mine;
  return true;
}

void TcpBudget::give_slot(const hosts::SenderAddress& peer) {
  --sessions_;
  if (--per_address_[peer.bytes] == 0) per_address_.erase(peer.bytes);
}

std::string TcpBudget::summary() const {
  return std::to_string(counters.refused) + " tcp connections from outside the allow list, " +
         std::to_string(counters.busy) + " with no session slot, " + std::to_string(upload_memory.refusals) +
         " uploads over upload_memory, " + std::to_string(counters.accept_pauses) + " accept pauses (no descriptors)";
}

TcpEndpoint::TcpEndpoint(asio::io_context& io, const std::string& address, TcpHandler& handler,
                         std::shared_ptr<TcpBudget> budget)
    : loop_(io), handler_(handler), budget_(std::move(budget)) {
  loop_.listen(address, "tcp");
}

TcpEndpoint::TcpEndpoint(asio::io_context& io, int fd, TcpHandler& handler, std::shared_ptr<TcpBudget> budget)
    : loop_(io), handler_(handler), budget_(std::move(budget)) {
  loop_.adopt(fd);
}

std::string TcpEndpoint::name() const { return loop_.name("tcp"); }

void TcpEndpoint::start() {
  loop_.start([this](tcp::socket socket) { return admit(std::move(socket)); },
              [budget = budget_] { ++budget->counters.accept_pauses; });
}

void TcpEndpoint::close() { loop_.close(); }

// The allow list and the slots are checked before a byte is read: a refused
// or surplus peer never holds a session.
std::shared_ptr<Session> TcpEndpoint::admit(tcp::socket socket) {
  auto peer = peer_of(socket);
  if (!peer) return nullptr;
  if (!handler_.allows(*peer)) {
    ++budget_->counters.refused;
    turn_away(socket, "ERR refused\n");
    return nullptr;
  }
  if (!budget_->take_slot(*peer)) {
    ++budget_->counters.busy;
    turn_away(socket, "ERR busy\n");
    return nullptr;
  }
  auto session = std::make_shared<TcpSession>(std::move(socket), *peer, handler_, budget_);
  session->start();
  return session;
}

}  // namespace lastgasp::net
