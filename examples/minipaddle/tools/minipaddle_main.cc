// minipaddle command line tool.
#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <iostream>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

#include "minipaddle/distributed.h"
#include "minipaddle/minipaddle.h"

namespace {

constexpr const char* kUsage =
    "usage: minipaddle <command> [args]\n"
    "\n"
    "commands:\n"
    "  --version, version        print version, CPU kernel and GPU support\n"
    "  dot A B                   dot product of two comma-separated vectors,\n"
    "                            e.g. `minipaddle dot 1,2,3 4,5,6` prints 32\n"
    "  train [--steps N] [--lr F] [--seed N] [--samples N] [--noise F]\n"
    "                            fit y = x.[2,-3,0.5] + 1 on synthetic data\n"
    "                            (defaults: 200 steps, lr 0.1, seed 42, 64 samples, noise 0.01);\n"
    "                            data-parallel when WORLD_SIZE > 1: each worker (RANK) takes its\n"
    "                            shard and they sum gradients through MASTER_ADDR:MASTER_PORT\n"
    "  gpu-info                  report CUDA support and device 0\n"
    "  --help, help              show this help\n";

struct UsageError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

float parse_float(const std::string& text) {
  errno = 0;
  char* end = nullptr;
  const float v = std::strtof(text.c_str(), &end);
  if (text.empty() || end != text.c_str() + text.size() || errno == ERANGE) {
    throw UsageError("not a number: '" + text + "'");
  }
  return v;
}

long parse_int(const std::string& text, long min_value) {
  errno = 0;
  char* end = nullptr;
  const long v = std::strtol(text.c_str(), &end, 10);
  if (text.empty() || end != text.c_str() + text.size() || errno == ERANGE || v < min_value) {
    throw UsageError("expected an integer >= " + std::to_string(min_value) + ", got '" + text + "'");
  }
  return v;
}

std::vector<float> parse_vector(const std::string& text) {
  std::vector<float> values;
  std::stringstream ss(text);
  std::string item;
  while (std::getline(ss, item, ',')) values.push_back(parse_float(item));
  if (values.empty() || (!text.empty() && text.back() == ',')) throw UsageError("bad vector: '" + text + "'");
  return values;
}

std::string version_line() {
  return std::string("minipaddle ") + minipaddle::version() + " (kernel: " + minipaddle::kernel() +
         ", gpu: " + (minipaddle::gpu_compiled() ? "on" : "off") + ")";
}

int cmd_dot(const std::vector<std::string>& args) {
  if (args.size() != 2) throw UsageError("dot needs exactly two vectors");
  const auto a = parse_vector(args[0]);
  const auto b = parse_vector(args[1]);
  if (a.size() != b.size()) throw UsageError("dot: vectors differ in length");
  std::cout << minipaddle::dot(minipaddle::Tensor::from_vector(a), minipaddle::Tensor::from_vector(b)) << "\n";
  return 0;
}

int cmd_train(const std::vector<std::string>& args) {
  minipaddle::TrainConfig cfg;
  for (std::size_t i = 0; i < args.size(); ++i) {
    const std::string& flag = args[i];
    if (i + 1 >= args.size()) throw UsageError("missing value for " + flag);
    const std::string& value = args[++i];
    if (flag == "--steps") {
      cfg.steps = static_cast<int>(parse_int(value, 0));
    } else if (flag == "--lr") {
      cfg.lr = parse_float(value);
    } else if (flag == "--seed") {
      cfg.seed = static_cast<std::uint32_t>(parse_int(value, 0));
    } else if (flag == "--samples") {
      cfg.samples = static_cast<std::size_t>(parse_int(value, 1));
    } else if (flag == "--noise") {
      cfg.noise = parse_float(value);
    } else {
      throw UsageError("unknown train option: " + flag);
    }
  }
  // Data-parallel when the environment says so (RANK, WORLD_SIZE, MASTER_ADDR, MASTER_PORT).
  const minipaddle::DistConfig dist = minipaddle::dist_config_from_env();
  minipaddle::Communicator comm(dist);
  const minipaddle::TrainResult r = minipaddle::train_linear_regression(cfg, &comm);
  if (dist.world_size > 1) std::printf("worker: %d of %d\n", dist.rank, dist.world_size);
  std::printf("steps: %d\n", r.steps);
  std::printf("initial_loss: %.4f\n", static_cast<double>(r.initial_loss));
  std::printf("final_loss: %.6f\n", static_cast<double>(r.final_loss));
  std::printf("weights: %.4f %.4f %.4f\n", static_cast<double>(r.weights[0]), static_cast<double>(r.weights[1]),
              static_cast<double>(r.weights[2]));
  std::printf("bias: %.4f\n", static_cast<double>(r.bias));
  return 0;
}

int cmd_gpu_info() {
  std::cout << "gpu compiled: " << (minipaddle::gpu_compiled() ? "yes" : "no") << "\n"
            << "gpu available: " << (minipaddle::gpu_available() ? "yes" : "no") << "\n"
            << "device: " << minipaddle::gpu_device_info() << "\n";
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  const std::vector<std::string> all(argv + 1, argv + argc);
  if (all.empty()) {
    std::cerr << kUsage;
    return 2;
  }
  const std::string& cmd = all[0];
  const std::vector<std::string> args(all.begin() + 1, all.end());
  try {
    if (cmd == "--version" || cmd == "version") {
      std::cout << version_line() << "\n";
      return 0;
    }
    if (cmd == "--help" || cmd == "-h" || cmd == "help") {
      std::cout << kUsage;
      return 0;
    }
    if (cmd == "dot") return cmd_dot(args);
    if (cmd == "train") return cmd_train(args);
    if (cmd == "gpu-info") return cmd_gpu_info();
    throw UsageError("unknown command: " + cmd);
  } catch (const UsageError& e) {
    std::cerr << "minipaddle: " << e.what() << "\n\n" << kUsage;
    return 2;
  } catch (const std::exception& e) {
    std::cerr << "minipaddle: error: " << e.what() << "\n";
    return 1;
  }
}
