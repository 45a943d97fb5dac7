// TLS through OpenSSL and Asio, as every part of the receiver sets it up: the
// forwarder's client side, the HTTP server and the CLI asking it. TLS 1.2 or
// later; each file checked when the context is made, so that a wrong one stops
// the daemon at start with a message naming the config key that names it.
#pragma once

#include <boost/asio/ssl/context.hpp>
#include <filesystem>
#include <string>

namespace lastgasp::net {

// A PEM file and the config key that named it, for the messages.
struct NamedFile {
  std::string key;
  std::filesystem::path path;
};

// A client's: the server's certificate verified against CA (PEM certificates); CERT and KEY,
// when CERT's path is not empty, are the client's own. Throws std::runtime_error.
boost::asio::ssl::context client_context(const NamedFile& ca, const NamedFile& cert = {}, const NamedFile& key = {});

// A server's, presenting CERT (a PEM chain, the server's first) with KEY: AEAD ciphers with
// forward secrecy, and no renegotiation. Throws std::runtime_error.
boost::asio::ssl::context server_context(const NamedFile& cert, const NamedFile& key);

// Has the handshake of SSL check that the server's certificate is for HOST (a name, sent as SNI
// too, or an address).
void expect_peer(SSL* ssl, const std::string& host);

}  // namespace lastgasp::net
