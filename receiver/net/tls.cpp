#include "tls.hpp"

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include <boost/asio/ip/address.hpp>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <memory>
#include <stdexcept>

namespace lastgasp::net {

namespace asio = boost::asio;

namespace {

// TLS 1.2's suites with forward secrecy and an AEAD cipher (TLS 1.3's are all of that kind).
constexpr const char* kServerCiphers = "ECDHE+AESGCM:ECDHE+CHACHA20";

[[noreturn]] void fail(const NamedFile& file, const std::string& what) {
  throw std::runtime_error(file.key + " " + file.path.string() + ": " + what);
}

// OpenSSL's reason for the last thing that failed; its queue is left empty.
std::string openssl_reason() {
  unsigned long last = 0;
  while (unsigned long e = ERR_get_error()) last = e;
  const char* reason = ERR_reason_error_string(last);
  return reason ? reason : "no reason given";
}

struct FileCloser {
  void operator()(std::FILE* f) const { std::fclose(f); }
};

// OpenSSL calls a file it cannot open "system lib": the system's own word is clearer.
std::unique_ptr<std::FILE, FileCloser> open_pem(const NamedFile& file) {
  std::unique_ptr<std::FILE, FileCloser> f(std::fopen(file.path.c_str(), "re"));
  if (!f) fail(file, std::string("cannot open it: ") + std::strerror(errno));
  return f;
}

// A key under a passphrase would have OpenSSL ask for it on the terminal: it is refused instead.
int no_passphrase(char*, int, int, void*) { return -1; }

struct KeyFree {
  void operator()(EVP_PKEY* key) const { EVP_PKEY_free(key); }
};

// CERT's chain, then KEY, checked against CERT's first certificate before OpenSSL takes it
// (which would otherwise put a key of another type beside the certificate, unmatched).
void use_identity(asio::ssl::context& context, const NamedFile& cert, const NamedFile& key) {
  SSL_CTX* ctx = context.native_handle();
  open_pem(cert);
  if (SSL_CTX_use_certificate_chain_file(ctx, cert.path.c_str()) != 1)
    fail(cert, "no PEM certificate in it (" + openssl_reason() + ")");
  auto file = open_pem(key);
  std::unique_ptr<EVP_PKEY, KeyFree> pkey(PEM_read_PrivateKey(file.get(), nullptr, no_passphrase, nullptr));
  if (!pkey)
    fail(key, "no PEM private key in it, or one under a passphrase (" + openssl_reason() +
                  "); 'openssl pkey -in KEY -out PLAIN' writes it without one");
  if (X509_check_private_key(SSL_CTX_get0_certificate(ctx), pkey.get()) != 1) {
    ERR_clear_error();
    fail(key, "not the private key of " + cert.key + " " + cert.path.string() +
                  ": give the key the certificate was made with");
  }
  if (SSL_CTX_use_PrivateKey(ctx, pkey.get()) != 1) fail(key, "cannot use it (" + openssl_reason() + ")");
}

void at_least_tls_1_2(asio::ssl::context& context) {
  SSL_CTX_set_min_proto_version(context.native_handle(), TLS1_2_VERSION);
}

}  // namespace

asio::ssl::context client_context(const NamedFile& ca, const NamedFile& cert, const NamedFile& key) {
  asio::ssl::context context(asio::ssl::context::tls_client);
  at_least_tls_1_2(context);
  context.set_verify_mode(asio::ssl::verify_peer);
  open_pem(ca);
  if (SSL_CTX_load_verify_locations(context.native_handle(), ca.path.c_str(), nullptr) != 1)
    fail(ca, "no PEM certificate in it (" + openssl_reason() + ")");
  if (!cert.path.empty()) use_identity(context, cert, key);
  return context;
}

asio::ssl::context server_context(const NamedFile& cert, const NamedFile& key) {
  asio::ssl::context context(asio::ssl::context::tls_server);
  at_least_tls_1_2(context);
  // A renegotiation is a handshake the session's deadlines and counters would not see.
  SSL_CTX_set_options(context.native_handle(), SSL_OP_NO_RENEGOTIATION);
  SSL_CTX_set_cipher_list(context.native_handle(), kServerCiphers);
  use_identity(context, cert, key);
  return context;
}

void expect_peer(SSL* ssl, const std::string& host) {
  X509_VERIFY_PARAM* verify = SSL_get0_param(ssl);
  boost::system::error_code not_an_address;
  asio::ip::make_address(host, not_an_address);
  if (!not_an_address) {
    X509_VERIFY_PARAM_set1_ip_asc(verify, host.c_str());
  } else {
    SSL_set_tlsext_host_name(ssl, host.c_str());
    X509_VERIFY_PARAM_set1_host(verify, host.c_str(), 0);
  }
}

}  // namespace lastgasp::net
