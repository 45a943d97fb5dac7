// Which receive thread a sender belongs to. Every host's datagrams must be
// handled by one thread, so that its records stay in order with no lock on the
// hot path (as netconsd hashes hosts to its workers). The kernel does the
// steering: a classic BPF program on the SO_REUSEPORT group hashes the source
// address and picks the socket, so a datagram lands on its host's thread with
// no copy. The same hash in C++ catches what the kernel could not steer (a
// socket systemd passed, a kernel that refused the program): such datagrams are
// handed to their thread.
//
// The hash takes the source address as 32-bit big-endian words, the IPv4
// address alone, or the four words of an IPv6 address XORed together; then
// (word * 0x9E3779B1) >> 16, modulo the number of threads.
#pragma once

#include <cstdint>

#include "hosts/sender_address.hpp"

namespace lastgasp::net {

unsigned steer(const hosts::SenderAddress& sender, unsigned threads);

// Attaches the program to FD's SO_REUSEPORT group of THREADS sockets, bound in
// thread order. Returns 0, or the errno of a kernel that refused it.
int attach_steering(int fd, unsigned threads);

}  // namespace lastgasp::net
