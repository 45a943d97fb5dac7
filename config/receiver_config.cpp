#include "receiver_config.hpp"

#include <arpa/inet.h>
#include <unistd.h>

#include <cctype>
#include <charconv>

#include "cidr.hpp"
#include "levels.hpp"
#include "endpoint.hpp"
#include "numbers.hpp"
#include "toml_reader.hpp"

namespace lastgasp::config {

namespace {

bool is_ip_address(const std::string& text) {
  unsigned char buf[16];
  return inet_pton(AF_INET, text.c_str(), buf) == 1 || inet_pton(AF_INET6, text.c_str(), buf) == 1;
}

void read_listen(TableReader& root, ReceiverConfig& cfg) {
  auto listen = root.strings("listen");
  if (!listen) return;
  if (listen->empty()) root.fail("listen", "needs at least one ADDR:PORT");
  for (const std::string& item : *listen)
    if (std::string error = listen_address_error(item); !error.empty()) root.fail("listen", error);
  cfg.listen = *listen;
}

void read_hosts(TableReader& root, const std::filesystem::path& file, ReceiverConfig& cfg) {
  const toml::table* hosts = root.table("hosts");
  if (!hosts) return;
  TableReader reader(*hosts, file, "hosts");
  for (const auto& [key, node] : *hosts) {
    std::string address(key.str());
    if (!is_ip_address(address)) reader.fail(address, "expected an IP address as the key");
    auto name = reader.string(address);
    if (name->empty()) reader.fail(address, "the host name must not be empty");
    cfg.hosts[address] = *name;
  }
}

// "5%" of the filesystem, or a size ("1G").
void read_min_free(TableReader& root, ReceiverConfig& cfg) {
  auto text = root.string("min_free");
  if (!text) return;
  if (text->ends_with('%')) {
    auto percent = parse_number<unsigned>(std::string_view(*text).substr(0, text->size() - 1));
    if (!percent || *percent > 50)
      root.fail("min_free", "expected a share from \"0%\" to \"50%\", or a size such as \"1G\"");
    cfg.min_free_bytes = 0;
    cfg.min_free_percent = *percent;
    return;
  }
  auto bytes = parse_size(*text);
  if (!bytes) root.fail("min_free", "expected a size such as \"1G\", or a share such as \"5%\"");
  cfg.min_free_bytes = *bytes;
  cfg.min_free_percent = 0;
}

// The files themselves are read where they are used: the daemon at start, check-config, `hosts`.
void read_http_tls(TableReader& root, ReceiverConfig& cfg) {
  if (auto v = root.string("http_tls_cert_file")) cfg.http_tls_cert_file = *v;
  if (auto v = root.string("http_tls_key_file")) cfg.http_tls_key_file = *v;
  if (auto v = root.string("http_tls_ca_file")) cfg.http_tls_ca_file = *v;
  if (cfg.http_tls_cert_file.empty() != cfg.http_tls_key_file.empty())
    root.fail(cfg.http_tls_cert_file.empty() ? "http_tls_key_file" : "http_tls_cert_file",
              "http_tls_cert_file and http_tls_key_file go together: set both for HTTPS, or neither for HTTP");
  if (!cfg.http_tls_ca_file.empty() && !cfg.http_uses_tls())
    root.fail("http_tls_ca_file", "only with http_tls_cert_file and http_tls_key_file (it verifies that certificate)");
}

// "err", "3": the level the file names, as a number 0 (emerg) to 7 (debug).
std::optional<unsigned> parse_level(const std::string& text) {
  if (text.size() == 1 && text[0] >= '0' && text[0] <= '7') return unsigned(text[0] - '0');
  if (auto level = level_from_name(text)) return unsigned(*level);
  return std::nullopt;
}

// A [[forward]]'s name is a directory under spool_dir, a [[hook]]'s a metrics label and goes in
// notices: nothing but the plain.
bool is_plain_name(const std::string& name) {
  if (name.empty() || name.size() > 64 || name[0] == '.') return false;
  for (char c : name)
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '-' && c != '_' && c != '.') return false;
  return true;
}

// RFC 5426's and RFC 5425's ports; RELP has none of its own: rsyslog's documentation uses 20514.
std::uint16_t default_port(Forward::Protocol protocol) {
  switch (protocol) {
    case Forward::Protocol::tcp: return 514;
    case Forward::Protocol::tls: return 6514;
    case Forward::Protocol::relp:
    case Forward::Protocol::relp_tls: return 20514;
  }
  return 514;
}

// The [[KEY]] tables, each read by READ; a name given twice is refused, WHY saying what hangs on it.
template <typename Table>
std::vector<Table> read_named_tables(TableReader& root, const std::filesystem::path& file, const std::string& key,
                                     Table (*read)(TableReader&, std::size_t), const char* why) {
  std::vector<const toml::table*> tables = root.tables(key);
  std::vector<Table> read_so_far;
  for (std::size_t i = 0; i < tables.size(); ++i) {
    TableReader t(*tables[i], file, key + "[" + std::to_string(i) + "]");
    Table table = read(t, i);
    for (const Table& other : read_so_far)
      if (other.name == table.name) t.fail("name", "another [[" + key + "]] has this name: " + why);
    read_so_far.push_back(std::move(table));
  }
  return read_so_far;
}

Forward read_forward(TableReader& t, std::size_t index) {
  Forward f;
  f.name = t.string("name").value_or("forward-" + std::to_string(index + 1));
  if (!is_plain_name(f.name)) t.fail("name", "expected letters, digits, '-', '_' or '.' (it names a directory)");
  if (auto p = t.string("protocol")) {
    if (*p == "tcp") f.protocol = Forward::Protocol::tcp;
    else if (*p == "tls") f.protocol = Forward::Protocol::tls;
    else if (*p == "relp") f.protocol = Forward::Protocol::relp;
    else if (*p == "relp-tls") f.protocol = Forward::Protocol::relp_tls;
    else t.fail("protocol", "expected \"tcp\", \"tls\", \"relp\" or \"relp-tls\"");
  }
  auto to = t.string("to");
  if (!to) t.fail("to", "missing: the destination as HOST:PORT");
  std::string error;
  auto hp = parse_host_port(*to, default_port(f.protocol), error);
  if (!hp) t.fail("to", error);
  f.host = hp->host;
  f.port = hp->port;
  if (auto v = t.string("ca_file")) f.ca_file = *v;
  if (auto v = t.string("cert_file")) f.cert_file = *v;
  if (auto v = t.string("key_file")) f.key_file = *v;
  if (f.uses_tls() && f.ca_file.empty())
    t.fail("ca_file", "missing: tls verifies the destination's certificate against it");
  if (!f.uses_tls() && !(f.ca_file.empty() && f.cert_file.empty() && f.key_file.empty()))
    t.fail("ca_file", "only for protocol = \"tls\" or \"relp-tls\"");
  if (f.cert_file.empty() != f.key_file.empty()) t.fail("cert_file", "cert_file and key_file go together");
  if (f.protocol == Forward::Protocol::relp_tls && f.cert_file.empty())
    t.fail("cert_file", "missing: librelp checks the destination's certificate only when the receiver shows one");
  if (auto v = t.string("hosts")) f.hosts = *v;
  if (auto v = t.string("min_level")) {
    auto level = parse_level(*v);
    if (!level) t.fail("min_level", "expected emerg, alert, crit, err, warning, notice, info, debug, or 0-7");
    f.max_level = *level;
  }
  if (auto v = t.boolean("events_only")) f.events_only = *v;
  if (auto v = t.size("queue_memory", 64 << 10, 1ull << 32)) f.queue_memory = *v;
  if (auto v = t.size("spool_size", 1 << 20, 1ull << 44)) f.spool_size = *v;
  t.reject_unknown_keys();
  return f;
}

void read_forwards(TableReader& root, const std::filesystem::path& file, ReceiverConfig& cfg) {
  if (auto v = root.string("spool_dir")) {
    if (v->empty()) root.fail("spool_dir", "must not be empty");
    cfg.spool_dir = *v;
  }
  cfg.forwards = read_named_tables<Forward>(root, file, "forward", read_forward, "each has a spool of its own");
}

std::optional<HookOn> hook_on(const std::string& name) {
  for (std::size_t i = 0; i < kHookOnNames.size(); ++i)
    if (name == kHookOnNames[i]) return static_cast<HookOn>(i);
  return std::nullopt;
}

bool has_nul(const std::string& text) { return text.find('\0') != std::string::npos; }

unsigned read_hook_on(TableReader& t) {
  auto on = t.strings("on");
  if (!on || on->empty()) t.fail("on", "missing: one or more of \"panic\", \"incident\", \"silent\", \"reboot\", \"pstore\"");
  unsigned bits = 0;
  for (const std::string& name : *on) {
    auto event = hook_on(name);
    if (!event) t.fail("on", "expected \"panic\", \"incident\", \"silent\", \"reboot\" or \"pstore\"");
    bits |= 1u << static_cast<unsigned>(*event);
  }
  return bits;
}

// The program is run as it is named (no shell, no PATH search): an absolute path to an
// executable file, checked here so that a typo fails check-config rather than a panic's hook.
std::filesystem::path read_hook_program(TableReader& t) {
  auto program = t.string("program");
  if (!program) t.fail("program", "missing: the absolute path of the program to run");
  if (has_nul(*program) || !std::filesystem::path(*program).is_absolute())
    t.fail("program", "expected an absolute path (no shell and no PATH search: the program is run as named)");
  std::error_code ec;
  if (!std::filesystem::is_regular_file(*program, ec) || ::access(program->c_str(), X_OK) != 0)
    t.fail("program", "not an executable file");
  return *program;
}

Hook read_hook(TableReader& t, std::size_t index) {
  Hook h;
  h.name = t.string("name").value_or("hook-" + std::to_string(index + 1));
  if (!is_plain_name(h.name)) t.fail("name", "expected letters, digits, '-', '_' or '.'");
  h.on = read_hook_on(t);
  h.program = read_hook_program(t);
  if (auto args = t.strings("args")) {
    for (const std::string& arg : *args)
      if (has_nul(arg)) t.fail("args", "an argument cannot hold a NUL byte");
    h.args = *args;
  }
  if (auto v = t.string("hosts")) {
    if (v->empty()) t.fail("hosts", "must not be empty: \"*\" is every host");
    h.hosts = *v;
  }
  if (auto v = t.integer("timeout_s", 1, 3600)) h.timeout = seconds(*v);
  if (auto v = t.integer("concurrency", 1, 64)) h.concurrency = unsigned(*v);
  if (auto v = t.integer("queue", 0, 1024)) h.queue = unsigned(*v);
  if (auto v = t.integer("max_per_minute", 1, 10'000)) h.max_per_minute = unsigned(*v);
  t.reject_unknown_keys();
  return h;
}


}  // namespace

ReceiverConfig load_receiver_config(const std::filesystem::path& file, ReceiverConfig cfg) {
  toml::table table = parse_toml_file(file);
  TableReader root(table, file);
  read_listen(root, cfg);
  if (auto v = root.string("log_dir")) {
    if (v->empty()) root.fail("log_dir", "must not be empty");
    cfg.log_dir = *v;
  }
  if (auto v = root.size("receive_buffer", 4096, 1ull << 30)) cfg.receive_buffer = *v;
  if (auto v = root.integer("receive_threads", 0, 64)) cfg.receive_threads = unsigned(*v);
  if (auto v = root.millis("reorder_window_ms", 0, 10'000)) cfg.reorder_window = *v;
  if (auto v = root.millis("fragment_timeout_ms", 1, 10'000)) cfg.fragment_timeout = *v;
  if (auto v = root.millis("legacy_line_timeout_ms", 1, 10'000)) cfg.legacy_line_timeout = *v;
  if (auto v = root.millis("flush_interval_ms", 1, 1'000)) cfg.flush_interval = *v;
  if (auto v = root.integer("incident_context", 0, 100'000)) cfg.incident_context = unsigned(*v);
  if (auto v = root.integer("incident_quiet_s", 1, 86'400)) cfg.incident_quiet = seconds(*v);
  if (auto v = root.integer("incident_burst", 1, 1000)) cfg.incident_burst = unsigned(*v);
  if (auto v = root.integer("incident_refill_s", 1, 86'400)) cfg.incident_refill = seconds(*v);
  if (auto v = root.size("incident_max_size", 64 << 10, 1ull << 32)) cfg.incident_max_size = *v;
  if (auto v = root.integer("stream_idle_s", 1, 86'400 * 30)) cfg.stream_idle = seconds(*v);
  if (auto v = root.size("reassembly_stream_cap", 1 << 17, 1ull << 30)) cfg.reassembly_stream_cap = *v;
  if (auto v = root.size("reassembly_host_cap", 1 << 17, 1ull << 34)) cfg.reassembly_host_cap = *v;
  if (auto v = root.size("reassembly_global_cap", 1 << 17, 1ull << 34)) cfg.reassembly_global_cap = *v;
  if (auto v = root.integer("max_open_files", 16, 1 << 20)) cfg.max_open_files = unsigned(*v);
  if (auto v = root.integer("max_hosts", 1, 1 << 24)) cfg.max_hosts = unsigned(*v);
  if (auto v = root.integer("max_streams_per_host", 1, 65536)) cfg.max_streams_per_host = unsigned(*v);
  if (auto v = root.integer("new_hosts_per_second", 1, 1 << 20)) cfg.new_hosts_per_second = unsigned(*v);
  if (auto v = root.integer("new_hosts_burst", 1, 1 << 24)) cfg.new_hosts_burst = unsigned(*v);
  if (auto v = root.boolean("journal")) cfg.journal = *v;
  if (auto v = root.size("rotate_size", 0, 1ull << 40)) cfg.rotate_size = *v;
  if (auto v = root.integer("rotate_keep", 0, 1000)) cfg.rotate_keep = unsigned(*v);
  if (auto v = root.size("disk_quota", 0, 1ull << 50)) cfg.disk_quota = *v;
  if (auto v = root.size("host_quota", 0, 1ull << 50)) cfg.host_quota = *v;
  read_min_free(root, cfg);
  if (auto v = root.integer("silent_after_s", 1, 86'400 * 365)) cfg.silent_after = seconds(*v);
  if (auto v = root.strings("allow")) {
    std::string error;
    for (const std::string& cidr : *v)
      if (!parse_cidr(cidr, error)) root.fail("allow", error);
    cfg.allow = *v;
  }
  if (auto v = root.size("max_upload", 1024, 1ull << 30)) cfg.max_upload = *v;
  if (auto v = root.size("upload_memory", 1 << 20, 1ull << 34)) cfg.upload_memory = *v;
  if (cfg.upload_memory < cfg.max_upload) root.fail("upload_memory", "must be at least max_upload");
  if (auto v = root.size("pstore_quota", 0, 1ull << 50)) cfg.pstore_quota = *v;
  if (auto v = root.size("pstore_host_quota", 0, 1ull << 50)) cfg.pstore_host_quota = *v;
  if (auto v = root.integer("pstore_host_records", 0, 1 << 20)) cfg.pstore_host_records = unsigned(*v);
  if (auto v = root.string("http_listen")) {
    if (std::string error = v->empty() ? "" : listen_address_error(*v); !error.empty()) root.fail("http_listen", error);
    cfg.http_listen = *v;
  }
  if (auto v = root.string("http_token_file")) cfg.http_token_file = *v;
  read_http_tls(root, cfg);
  read_hosts(root, file, cfg);
  read_forwards(root, file, cfg);
  cfg.hooks = read_named_tables<Hook>(root, file, "hook", read_hook, "each is counted apart");
  root.reject_unknown_keys();
  return cfg;
}

std::string listen_address_error(const std::string& text) {
  std::string error;
  auto hp = parse_host_port(text, std::nullopt, error);
  if (!hp) return error;
  if (!is_ip_address(hp->host)) return "'" + text + "': the address must be numeric";
  return {};
}

}  // namespace lastgasp::config
