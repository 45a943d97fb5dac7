#include "certificates.hpp"

#include <stdexcept>

#include "receiver_process.hpp"

namespace lastgasp::test {

namespace {

void openssl_in(const std::filesystem::path& dir, const std::string& command) {
  std::filesystem::create_directories(dir);
  std::string output;
  if (run_command({"/bin/sh", "-c", "cd '" + dir.string() + "' && " + command + " 2>&1"}, output) != 0)
    throw std::runtime_error("openssl failed: " + command + "\n" + output);
}

}  // namespace

void make_certificates(const std::filesystem::path& dir) {
  for (std::string ca : {"ca", "other-ca"})
    openssl_in(dir, "openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=lastgasp-test-" + ca + " -keyout " +
                        ca + "-key.pem -out " + ca + ".pem");
  openssl_in(dir, "openssl req -newkey rsa:2048 -nodes -subj /CN=localhost -keyout key.pem -out cert.csr");
  openssl_in(dir,
             "printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\\n' > san.ext && "
             "openssl x509 -req -in cert.csr -CA ca.pem -CAkey ca-key.pem -CAcreateserial -days 2 -extfile san.ext "
             "-out cert.pem");
}

void make_self_signed(const std::filesystem::path& dir, const std::string& name) {
  openssl_in(dir, "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 -subj /CN=localhost "
                  "-addext subjectAltName=IP:127.0.0.1,DNS:localhost -keyout " + name + "-key.pem -out " + name + ".pem");
}

}  // namespace lastgasp::test
