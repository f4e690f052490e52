// pybind11 bindings: the compiled part of the `minipaddle` Python package.
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <cstdint>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "minipaddle/distributed.h"
#include "minipaddle/minipaddle.h"

namespace py = pybind11;
using namespace pybind11::literals;
using minipaddle::Shape;
using minipaddle::Tensor;

namespace {

// Nested Python lists following the tensor's shape.
py::object nested_list(const Tensor& t, std::size_t dim, std::size_t& offset) {
  if (t.ndim() == 0) return py::float_(t.size() ? t.data()[0] : 0.0f);
  py::list out;
  for (std::size_t i = 0; i < t.shape()[dim]; ++i) {
    if (dim + 1 == t.ndim()) {
      out.append(py::float_(t.data()[offset++]));
    } else {
      out.append(nested_list(t, dim + 1, offset));
    }
  }
  return std::move(out);
}

std::size_t flat_index(const Tensor& t, long i) {
  const long n = static_cast<long>(t.size());
  if (i < 0) i += n;
  if (i < 0 || i >= n) throw py::index_error("Tensor index out of range");
  return static_cast<std::size_t>(i);
}

}  // namespace

PYBIND11_MODULE(_core, m) {
  m.doc() = "minipaddle C++ core (compiled extension module)";
  m.attr("__version__") = minipaddle::version();

  m.def("version", &minipaddle::version, "Version string of libminipaddle.");
  m.def("kernel", &minipaddle::kernel, "Compiled CPU kernel: 'avx' or 'scalar'.");
  m.def("gpu_compiled", &minipaddle::gpu_compiled, "True if built with WITH_GPU=ON.");
  m.def("gpu_available", &minipaddle::gpu_available, "True if a usable CUDA device is present.");
  m.def("gpu_device_info", &minipaddle::gpu_device_info, "Description of CUDA device 0.");
  m.def(
      "dot",
      [](const std::vector<float>& a, const std::vector<float>& b) {
        if (a.size() != b.size()) throw std::invalid_argument("dot: sequences differ in length");
        return minipaddle::kernels::dot(a.data(), b.data(), a.size());
      },
      "a"_a, "b"_a, "Dot product of two equally long sequences of numbers.");
  m.def("saxpy_gpu",
        py::overload_cast<float, const std::vector<float>&, const std::vector<float>&>(&minipaddle::saxpy_gpu),
        "a"_a, "x"_a, "y"_a, "Return a*x + y computed on the GPU (RuntimeError without a GPU).");

  py::class_<Tensor>(m, "Tensor", "Dense float tensor with row-major storage.")
      .def(py::init<Shape, float>(), "shape"_a, "fill"_a = 0.0f)
      .def(py::init<Shape, std::vector<float>>(), "shape"_a, "data"_a)
      .def_static("zeros", &Tensor::zeros, "shape"_a)
      .def_static("ones", &Tensor::ones, "shape"_a)
      .def_property_readonly("shape", [](const Tensor& t) { return py::tuple(py::cast(t.shape())); })
      .def_property_readonly("ndim", &Tensor::ndim)
      .def_property_readonly("size", &Tensor::size)
      .def_property_readonly("data", &Tensor::values, "Flat row-major copy of the values.")
      .def("tolist",
           [](const Tensor& t) {
             std::size_t offset = 0;
             return nested_list(t, 0, offset);
           })
      .def("__len__", [](const Tensor& t) { return t.ndim() ? t.shape()[0] : 0; })
      .def("__getitem__", [](const Tensor& t, long i) { return t.at(flat_index(t, i)); }, "Flat index.")
      .def("__getitem__", [](const Tensor& t, std::pair<std::size_t, std::size_t> rc) { return t.at(rc.first, rc.second); })
      .def("__setitem__", [](Tensor& t, long i, float v) { t.at(flat_index(t, i)) = v; })
      .def("__setitem__",
           [](Tensor& t, std::pair<std::size_t, std::size_t> rc, float v) { t.at(rc.first, rc.second) = v; })
      .def("reshape", &Tensor::reshape, "shape"_a)
      .def("transpose", &Tensor::transpose)
      .def("sum", [](const Tensor& t) { return minipaddle::sum(t); })
      .def("relu", [](const Tensor& t) { return minipaddle::relu(t); })
      .def("dot", [](const Tensor& a, const Tensor& b) { return minipaddle::dot(a, b); })
      .def("__add__", [](const Tensor& a, const Tensor& b) { return minipaddle::add(a, b); })
      .def("__mul__", [](const Tensor& a, const Tensor& b) { return minipaddle::mul(a, b); })
      .def("__mul__", [](const Tensor& a, float s) { return minipaddle::scale(a, s); })
      .def("__rmul__", [](const Tensor& a, float s) { return minipaddle::scale(a, s); })
      .def("__matmul__", [](const Tensor& a, const Tensor& b) { return minipaddle::matmul(a, b); })
      .def("__repr__", &Tensor::to_string);

  m.def("add", &minipaddle::add, "a"_a, "b"_a);
  m.def("mul", &minipaddle::mul, "a"_a, "b"_a);
  m.def("matmul", &minipaddle::matmul, "a"_a, "b"_a);
  m.def("relu", py::overload_cast<const Tensor&>(&minipaddle::relu), "a"_a);
  m.def("sum", py::overload_cast<const Tensor&>(&minipaddle::sum), "a"_a);
  m.def("mse_loss", &minipaddle::mse_loss, "pred"_a, "target"_a);
  m.def("mse_loss_grad", &minipaddle::mse_loss_grad, "pred"_a, "target"_a);

  py::class_<minipaddle::Dense>(m, "Dense", "Fully connected layer y = x W + b.")
      .def(py::init<std::size_t, std::size_t, std::uint32_t>(), "in_features"_a, "out_features"_a, "seed"_a = 1)
      .def(py::init<Tensor, Tensor>(), "weight"_a, "bias"_a)
      .def("forward", &minipaddle::Dense::forward, "x"_a)
      .def("__call__", &minipaddle::Dense::forward, "x"_a)
      .def("backward", &minipaddle::Dense::backward, "grad_out"_a)
      .def_property("weight", py::overload_cast<>(&minipaddle::Dense::weight, py::const_),
                    [](minipaddle::Dense& d, const Tensor& w) {
                      if (w.shape() != d.weight().shape()) throw std::invalid_argument("weight: shape mismatch");
                      d.weight() = w;
                    })
      .def_property("bias", py::overload_cast<>(&minipaddle::Dense::bias, py::const_),
                    [](minipaddle::Dense& d, const Tensor& b) {
                      if (b.shape() != d.bias().shape()) throw std::invalid_argument("bias: shape mismatch");
                      d.bias() = b;
                    })
      .def_property_readonly("weight_grad", &minipaddle::Dense::weight_grad)
      .def_property_readonly("bias_grad", &minipaddle::Dense::bias_grad);

  py::class_<minipaddle::SGD>(m, "SGD", "Plain SGD: param -= lr * grad.")
      .def(py::init<float>(), "lr"_a)
      .def_property_readonly("lr", &minipaddle::SGD::lr)
      .def("step", py::overload_cast<minipaddle::Dense&>(&minipaddle::SGD::step, py::const_), "layer"_a);

  py::class_<minipaddle::TrainResult>(m, "TrainResult", "Outcome of train().")
      .def_readonly("steps", &minipaddle::TrainResult::steps)
      .def_readonly("initial_loss", &minipaddle::TrainResult::initial_loss)
      .def_readonly("final_loss", &minipaddle::TrainResult::final_loss)
      .def_readonly("weights", &minipaddle::TrainResult::weights)
      .def_readonly("bias", &minipaddle::TrainResult::bias)
      .def_readonly("true_weights", &minipaddle::TrainResult::true_weights)
      .def_readonly("true_bias", &minipaddle::TrainResult::true_bias)
      .def_readonly("loss_history", &minipaddle::TrainResult::loss_history)
      .def("__repr__", [](const minipaddle::TrainResult& r) {
        return "TrainResult(steps=" + std::to_string(r.steps) + ", final_loss=" + std::to_string(r.final_loss) +
               ", weights=[" + std::to_string(r.weights.at(0)) + ", " + std::to_string(r.weights.at(1)) + ", " +
               std::to_string(r.weights.at(2)) + "], bias=" + std::to_string(r.bias) + ")";
      });

  py::class_<minipaddle::Communicator>(m, "Communicator",
                                      "A group of data-parallel workers that meet over TCP (a star through rank 0).")
      .def(py::init([](int rank, int world_size, const std::string& master_addr, int master_port, int timeout) {
             minipaddle::DistConfig c;
             c.rank = rank;
             c.world_size = world_size;
             c.master_addr = master_addr;
             c.master_port = master_port;
             c.timeout_s = timeout;
             py::gil_scoped_release release;
             return std::make_unique<minipaddle::Communicator>(c);
           }),
           "rank"_a = 0, "world_size"_a = 1, "master_addr"_a = "127.0.0.1", "master_port"_a = 29500, "timeout"_a = 300,
           "Join the group: rank 0 listens on master_port, the others connect to master_addr:master_port.")
      .def_static(
          "from_env",
          []() {
            const minipaddle::DistConfig c = minipaddle::dist_config_from_env();
            py::gil_scoped_release release;
            return std::make_unique<minipaddle::Communicator>(c);
          },
          "Join the group the environment describes: RANK, WORLD_SIZE, MASTER_ADDR, MASTER_PORT (unset: one worker).")
      .def_property_readonly("rank", &minipaddle::Communicator::rank)
      .def_property_readonly("world_size", &minipaddle::Communicator::world_size)
      .def(
          "allreduce",
          [](minipaddle::Communicator& c, std::vector<float> values) {
            py::gil_scoped_release release;
            return c.allreduce_sum(std::move(values));
          },
          "values"_a, "The element-wise sum of `values` over every worker (each must pass as many).")
      .def("barrier", &minipaddle::Communicator::barrier, py::call_guard<py::gil_scoped_release>(),
           "Return when every worker has called barrier().")
      .def("close", &minipaddle::Communicator::close, "Close the connections.");

  m.def(
      "train",
      [](int steps, float lr, std::uint32_t seed, std::size_t samples, float noise, minipaddle::Communicator* comm) {
        minipaddle::TrainConfig cfg;
        cfg.steps = steps;
        cfg.lr = lr;
        cfg.seed = seed;
        cfg.samples = samples;
        cfg.noise = noise;
        py::gil_scoped_release release;
        return minipaddle::train_linear_regression(cfg, comm);
      },
      "steps"_a = 200, "lr"_a = 0.1f, "seed"_a = 42, "samples"_a = 64, "noise"_a = 0.01f, "comm"_a = nullptr,
      "Fit y = x.[2, -3, 0.5] + 1 on deterministic synthetic data; returns a TrainResult. With a Communicator of\n"
      "several workers, data-parallel: each worker trains on its shard and gradients are summed every step, so\n"
      "the result equals the single-worker one.");
}
