/// @file
/// @brief Data-parallel training: workers that meet over TCP and sum (allreduce) their gradients each step.
///
/// The workers are told who they are the way Kubernetes Indexed Jobs and torchrun tell them: RANK (0 ..
/// WORLD_SIZE-1), WORLD_SIZE, and MASTER_ADDR:MASTER_PORT, where rank 0 listens. The allreduce is a star
/// through rank 0: every other rank sends its buffer to rank 0, which adds them in rank order (so every run
/// sums in the same order and gives the same bits) and sends the sum back. POSIX sockets, no dependency.
#pragma once

#include <cstddef>
#include <string>
#include <vector>

#include "minipaddle/nn.h"

namespace minipaddle {

/// Where a worker stands in the job.
struct DistConfig {
  int rank = 0;                              ///< This worker: 0 .. world_size - 1 (RANK).
  int world_size = 1;                        ///< The number of workers (WORLD_SIZE).
  std::string master_addr = "127.0.0.1";     ///< Where rank 0 listens (MASTER_ADDR).
  int master_port = 29500;                   ///< The port rank 0 listens on (MASTER_PORT).
  /// How long to wait for the other workers (to connect, to answer), in seconds.
  int timeout_s = 300;
};

/// Reads RANK, WORLD_SIZE, MASTER_ADDR, MASTER_PORT (and MINIPADDLE_DIST_TIMEOUT, seconds) from the
/// environment; unset means a single worker. Throws std::invalid_argument naming a malformed variable.
DistConfig dist_config_from_env();

/// A connected group of workers. With world_size 1 it opens no socket and allreduce is the identity.
class Communicator {
 public:
  /// Rank 0 listens on master_port (all interfaces) and waits for the others; the others connect to
  /// master_addr:master_port, retrying (the name may not resolve, nor rank 0 listen, yet) until timeout_s.
  /// Throws std::runtime_error when the group cannot form in time.
  explicit Communicator(const DistConfig& config);
  /// Closes the connections.
  ~Communicator();
  Communicator(const Communicator&) = delete;
  Communicator& operator=(const Communicator&) = delete;

  /// This worker's rank.
  int rank() const noexcept { return config_.rank; }
  /// The number of workers.
  int world_size() const noexcept { return config_.world_size; }

  /// Replaces data[0..n) on every worker with the element-wise sum over all workers (added in rank order).
  /// Every worker must call it with the same n. Throws std::runtime_error when a worker is lost.
  void allreduce_sum(float* data, std::size_t n);
  /// The element-wise sum of data over all workers (see allreduce_sum(float*, std::size_t)).
  std::vector<float> allreduce_sum(std::vector<float> data);
  /// Returns when every worker has called it.
  void barrier();
  /// Closes the connections (the destructor does too).
  void close() noexcept;

 private:
  DistConfig config_;
  int listen_fd_ = -1;
  int master_fd_ = -1;             ///< ranks > 0: the connection to rank 0
  std::vector<int> peer_fds_;      ///< rank 0: the connection to each rank (index 0 unused)
};

/// train_linear_regression, data-parallel: each worker takes its contiguous shard of the same synthetic data
/// set (rows [rank*samples/world, (rank+1)*samples/world)), computes its part of the full-batch gradient, and
/// the parts are summed with comm.allreduce_sum, so every worker applies the single-worker update: after K
/// steps the parameters equal those of train_linear_regression(config) up to float rounding. Needs
/// config.samples >= world size. With comm == nullptr or a world of 1 it is train_linear_regression(config).
TrainResult train_linear_regression(const TrainConfig& config, Communicator* comm);

}  // namespace minipaddle
