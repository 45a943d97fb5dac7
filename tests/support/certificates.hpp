// Certificates made with the openssl command for the test that needs them, each for 127.0.0.1
// and "localhost", valid for two days.
#pragma once

#include <filesystem>
#include <string>

namespace lastgasp::test {

// A CA and a certificate signed by it, in DIR: ca.pem, cert.pem, key.pem; and other-ca.pem, a
// CA that signed nothing here.
void make_certificates(const std::filesystem::path& dir);

// A self-signed certificate, as the README has an operator make one: DIR/NAME.pem and its key
// DIR/NAME-key.pem.
void make_self_signed(const std::filesystem::path& dir, const std::string& name);

}  // namespace lastgasp::test
