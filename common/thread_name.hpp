// Names the calling thread, as `top -H`, `ps -L` and perf show it. Linux keeps 15 bytes.
#pragma once

#include <pthread.h>

#include <string>

namespace lastgasp {

inline void name_this_thread(const std::string& name) { ::pthread_setname_np(::pthread_self(), name.substr(0, 15).c_str()); }

}  // namespace lastgasp
