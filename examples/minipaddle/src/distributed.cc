#include "minipaddle/distributed.h"

#include <arpa/inet.h>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdexcept>
#include <string>
#include <sys/socket.h>
#include <thread>
#include <unistd.h>

#include "nn_internal.h"

namespace minipaddle {
namespace {

using Clock = std::chrono::steady_clock;

// A handshake word, so a stray connection to the port is not taken for a worker.
constexpr std::uint32_t kMagic = 0x6d706464;  // "mpdd"

std::runtime_error sys_error(const std::string& what) {
  return std::runtime_error("minipaddle distributed: " + what + ": " + std::strerror(errno));
}

long env_int(const char* name, long fallback, long min_value, long max_value) {
  const char* text = std::getenv(name);
  if (text == nullptr || *text == '\0') return fallback;
  errno = 0;
  char* end = nullptr;
  const long v = std::strtol(text, &end, 10);
  if (*end != '\0' || errno == ERANGE || v < min_value || v > max_value) {
    throw std::invalid_argument(std::string(name) + " must be a whole number from " + std::to_string(min_value) +
                                " to " + std::to_string(max_value) + ", got '" + text + "'");
  }
  return v;
}

// Waits until fd is readable (events POLLIN) or writable (POLLOUT); throws after timeout_s.
void wait_fd(int fd, short events, int timeout_s, const std::string& what) {
  pollfd p{fd, events, 0};
  for (;;) {
    const int r = ::poll(&p, 1, timeout_s * 1000);
    if (r > 0) return;
    if (r == 0) throw std::runtime_error("minipaddle distributed: timed out after " + std::to_string(timeout_s) + " s " + what);
    if (errno != EINTR) throw sys_error("poll");
  }
}

void send_all(int fd, const void* data, std::size_t n, const std::string& peer) {
  const char* p = static_cast<const char*>(data);
  while (n > 0) {
    const ssize_t w = ::send(fd, p, n, MSG_NOSIGNAL);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) throw sys_error("lost " + peer + " (send)");
    p += w;
    n -= static_cast<std::size_t>(w);
  }
}

void recv_all(int fd, void* data, std::size_t n, int timeout_s, const std::string& peer) {
  char* p = static_cast<char*>(data);
  while (n > 0) {
    wait_fd(fd, POLLIN, timeout_s, "waiting for " + peer);
    const ssize_t r = ::recv(fd, p, n, 0);
    if (r < 0 && errno == EINTR) continue;
    if (r == 0) throw std::runtime_error("minipaddle distributed: lost " + peer + " (connection closed)");
    if (r < 0) throw sys_error("lost " + peer + " (recv)");
    p += r;
    n -= static_cast<std::size_t>(r);
  }
}

void no_delay(int fd) {
  int one = 1;
  ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
}

std::string rank_name(int r) { return "rank " + std::to_string(r); }

}  // namespace

DistConfig dist_config_from_env() {
  DistConfig c;
  c.world_size = static_cast<int>(env_int("WORLD_SIZE", 1, 1, 65536));
  c.rank = static_cast<int>(env_int("RANK", 0, 0, c.world_size - 1));
  if (const char* addr = std::getenv("MASTER_ADDR"); addr != nullptr && *addr != '\0') c.master_addr = addr;
  c.master_port = static_cast<int>(env_int("MASTER_PORT", c.master_port, 1, 65535));
  c.timeout_s = static_cast<int>(env_int("MINIPADDLE_DIST_TIMEOUT", c.timeout_s, 1, 86400));
  return c;
}

Communicator::Communicator(const DistConfig& config) : config_(config) {
  if (config.world_size < 1) throw std::invalid_argument("Communicator: world_size must be >= 1");
  if (config.rank < 0 || config.rank >= config.world_size) {
    throw std::invalid_argument("Communicator: rank " + std::to_string(config.rank) + " is outside 0.." +
                                std::to_string(config.world_size - 1));
  }
  if (config.world_size == 1) return;
  const auto deadline = Clock::now() + std::chrono::seconds(config.timeout_s);
  const std::string where = config.master_addr + ":" + std::to_string(config.master_port);

  if (config.rank == 0) {
    listen_fd_ = ::socket(AF_INET6, SOCK_STREAM | SOCK_CLOEXEC, 0);
    bool v6 = listen_fd_ >= 0;
    if (!v6) listen_fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (listen_fd_ < 0) throw sys_error("socket");
    int one = 1, zero = 0;
    ::setsockopt(listen_fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    int bound;
    if (v6) {
      ::setsockopt(listen_fd_, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof zero);  // IPv4 too
      sockaddr_in6 a{};
      a.sin6_family = AF_INET6;
      a.sin6_addr = in6addr_any;
      a.sin6_port = htons(static_cast<std::uint16_t>(config.master_port));
      bound = ::bind(listen_fd_, reinterpret_cast<sockaddr*>(&a), sizeof a);
    } else {
      sockaddr_in a{};
      a.sin_family = AF_INET;
      a.sin_addr.s_addr = htonl(INADDR_ANY);
      a.sin_port = htons(static_cast<std::uint16_t>(config.master_port));
      bound = ::bind(listen_fd_, reinterpret_cast<sockaddr*>(&a), sizeof a);
    }
    if (bound != 0) {
      const auto err = sys_error("rank 0 cannot listen on port " + std::to_string(config.master_port));
      close();
      throw err;
    }
    if (::listen(listen_fd_, config.world_size) != 0) throw sys_error("listen");
    peer_fds_.assign(static_cast<std::size_t>(config.world_size), -1);
    int joined = 1;
    while (joined < config.world_size) {
      const auto left = std::chrono::duration_cast<std::chrono::seconds>(deadline - Clock::now()).count();
      try {
        wait_fd(listen_fd_, POLLIN, static_cast<int>(left > 0 ? left : 1),
                "waiting for " + std::to_string(config.world_size - joined) + " worker(s) to join on port " +
                    std::to_string(config.master_port));
      } catch (...) {
        close();
        throw;
      }
      const int fd = ::accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
      if (fd < 0) continue;
      std::uint32_t hello[3];  // magic, rank, world size
      try {
        recv_all(fd, hello, sizeof hello, 10, "a joining worker");
      } catch (...) {
        ::close(fd);
        continue;
      }
      const int r = static_cast<int>(ntohl(hello[1]));
      if (ntohl(hello[0]) != kMagic || r <= 0 || r >= config.world_size || peer_fds_[static_cast<std::size_t>(r)] >= 0) {
        ::close(fd);
        continue;
      }
      if (static_cast<int>(ntohl(hello[2])) != config.world_size) {
        ::close(fd);
        close();
        throw std::runtime_error("minipaddle distributed: rank " + std::to_string(r) + " says WORLD_SIZE=" +
                                 std::to_string(ntohl(hello[2])) + ", rank 0 has " + std::to_string(config.world_size));
      }
      no_delay(fd);
      peer_fds_[static_cast<std::size_t>(r)] = fd;
      ++joined;
    }
    // Everyone is in: tell them.
    const std::uint32_t go = htonl(kMagic);
    for (int r = 1; r < config.world_size; ++r) send_all(peer_fds_[static_cast<std::size_t>(r)], &go, sizeof go, rank_name(r));
    return;
  }

  // rank > 0: connect, retrying until the master's name resolves and it listens.
  std::string last_error = "no attempt";
  while (Clock::now() < deadline) {
    addrinfo hints{};
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    addrinfo* found = nullptr;
    const std::string port = std::to_string(config.master_port);
    const int gai = ::getaddrinfo(config.master_addr.c_str(), port.c_str(), &hints, &found);
    if (gai != 0) {
      last_error = std::string("cannot resolve ") + config.master_addr + ": " + ::gai_strerror(gai);
    } else {
      for (addrinfo* ai = found; ai != nullptr && master_fd_ < 0; ai = ai->ai_next) {
        const int fd = ::socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, ai->ai_protocol);
        if (fd < 0) continue;
        if (::connect(fd, ai->ai_addr, ai->ai_addrlen) == 0) {
          master_fd_ = fd;
        } else {
          last_error = std::string("cannot connect to ") + where + ": " + std::strerror(errno);
          ::close(fd);
        }
      }
      ::freeaddrinfo(found);
    }
    if (master_fd_ >= 0) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
  if (master_fd_ < 0) {
    throw std::runtime_error("minipaddle distributed: rank " + std::to_string(config.rank) + " could not reach rank 0 at " +
                             where + " within " + std::to_string(config.timeout_s) + " s (" + last_error + ")");
  }
  no_delay(master_fd_);
  const std::uint32_t hello[3] = {htonl(kMagic), htonl(static_cast<std::uint32_t>(config.rank)),
                                  htonl(static_cast<std::uint32_t>(config.world_size))};
  send_all(master_fd_, hello, sizeof hello, rank_name(0));
  std::uint32_t go = 0;
  recv_all(master_fd_, &go, sizeof go, config.timeout_s, "rank 0 (waiting for every worker to join)");
  if (ntohl(go) != kMagic) throw std::runtime_error("minipaddle distributed: bad handshake from rank 0");
}

Communicator::~Communicator() { close(); }

void Communicator::close() noexcept {
  if (listen_fd_ >= 0) ::close(listen_fd_);
  if (master_fd_ >= 0) ::close(master_fd_);
  for (int fd : peer_fds_) {
    if (fd >= 0) ::close(fd);
  }
  listen_fd_ = master_fd_ = -1;
  peer_fds_.clear();
}

void Communicator::allreduce_sum(float* data, std::size_t n) {
  if (config_.world_size == 1) return;
  const std::uint64_t count = n;
  if (config_.rank == 0) {
    if (peer_fds_.empty()) throw std::runtime_error("minipaddle distributed: the communicator is closed");
    std::vector<float> sum(data, data + n), part(n);
    for (int r = 1; r < config_.world_size; ++r) {
      const int fd = peer_fds_[static_cast<std::size_t>(r)];
      std::uint64_t theirs = 0;
      recv_all(fd, &theirs, sizeof theirs, config_.timeout_s, rank_name(r));
      if (theirs != count) {
        throw std::runtime_error("minipaddle distributed: allreduce of " + std::to_string(count) + " values on rank 0 but " +
                                 std::to_string(theirs) + " on " + rank_name(r));
      }
      recv_all(fd, part.data(), n * sizeof(float), config_.timeout_s, rank_name(r));
      for (std::size_t i = 0; i < n; ++i) sum[i] += part[i];  // in rank order: the same bits every run
    }
    for (int r = 1; r < config_.world_size; ++r) {
      send_all(peer_fds_[static_cast<std::size_t>(r)], sum.data(), n * sizeof(float), rank_name(r));
    }
    std::memcpy(data, sum.data(), n * sizeof(float));
  } else {
    if (master_fd_ < 0) throw std::runtime_error("minipaddle distributed: the communicator is closed");
    send_all(master_fd_, &count, sizeof count, rank_name(0));
    send_all(master_fd_, data, n * sizeof(float), rank_name(0));
    recv_all(master_fd_, data, n * sizeof(float), config_.timeout_s, rank_name(0));
  }
}

std::vector<float> Communicator::allreduce_sum(std::vector<float> data) {
  allreduce_sum(data.data(), data.size());
  return data;
}

void Communicator::barrier() {
  float token = 0.0f;
  allreduce_sum(&token, 1);
}

TrainResult train_linear_regression(const TrainConfig& config, Communicator* comm) {
  if (comm == nullptr || comm->world_size() == 1) return train_linear_regression(config);
  if (config.steps < 0) throw std::invalid_argument("train: steps must be >= 0");
  const auto world = static_cast<std::size_t>(comm->world_size());
  const auto rank = static_cast<std::size_t>(comm->rank());
  if (config.samples < world) {
    throw std::invalid_argument("train: samples (" + std::to_string(config.samples) + ") must be at least the number of workers (" +
                                std::to_string(world) + ")");
  }
  // The same data on every worker (same seed); this worker's shard of its rows.
  Tensor all_x, all_y;
  detail::linear_regression_data(config, all_x, all_y);
  const std::size_t features = all_x.cols();
  const std::size_t lo = rank * config.samples / world, hi = (rank + 1) * config.samples / world;
  const std::size_t rows = hi - lo;
  Tensor x({rows, features}), y({rows, 1});
  for (std::size_t i = 0; i < rows; ++i) {
    for (std::size_t j = 0; j < features; ++j) x.at(i, j) = all_x.at(lo + i, j);
    y.at(i, 0) = all_y.at(lo + i, 0);
  }
  // The shard's share of the full batch: its mean times rows/samples, so the sum over workers is the global mean.
  const float share = static_cast<float>(rows) / static_cast<float>(config.samples);
  const auto global_loss = [&](const Tensor& pred) {
    float l = mse_loss(pred, y) * share;
    comm->allreduce_sum(&l, 1);
    return l;
  };

  Dense layer(features, 1, config.seed + 1);  // the same initial parameters everywhere
  SGD sgd(config.lr);
  TrainResult result;
  result.steps = config.steps;
  result.true_weights = detail::true_weights();
  result.true_bias = detail::kTrueBias;
  result.loss_history.reserve(static_cast<std::size_t>(config.steps));
  std::vector<float> buffer(features + 2);
  for (int step = 0; step < config.steps; ++step) {
    Tensor pred = layer.forward(x);
    layer.backward(scale(mse_loss_grad(pred, y), share));
    // One allreduce a step: the weight gradient, the bias gradient and the loss.
    for (std::size_t j = 0; j < features; ++j) buffer[j] = layer.weight_grad().data()[j];
    buffer[features] = layer.bias_grad().data()[0];
    buffer[features + 1] = mse_loss(pred, y) * share;
    comm->allreduce_sum(buffer.data(), buffer.size());
    result.loss_history.push_back(buffer[features + 1]);
    sgd.step(layer.weight(), Tensor({features, 1}, std::vector<float>(buffer.begin(), buffer.begin() + static_cast<long>(features))));
    sgd.step(layer.bias(), Tensor({1}, std::vector<float>{buffer[features]}));
  }
  result.initial_loss = result.loss_history.empty() ? global_loss(layer.forward(x)) : result.loss_history.front();
  result.final_loss = global_loss(layer.forward(x));
  result.weights = layer.weight().values();
  result.bias = layer.bias().at(0);
  return result;
}

}  // namespace minipaddle
