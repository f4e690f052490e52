"""Tests of the minipaddle Python package (run by ctest with PYTHONPATH set)."""

import os
import unittest

import minipaddle


class PythonApiTest(unittest.TestCase):
    def test_version_and_kernel(self):
        self.assertEqual(minipaddle.__version__, minipaddle.version())
        expected_version = os.environ.get("MINIPADDLE_EXPECTED_VERSION")
        if expected_version:
            self.assertEqual(minipaddle.__version__, expected_version)
        self.assertIn(minipaddle.kernel(), ("avx", "scalar"))
        expected_kernel = os.environ.get("MINIPADDLE_EXPECTED_KERNEL")
        if expected_kernel:
            self.assertEqual(minipaddle.kernel(), expected_kernel)
        info = minipaddle.build_info()
        self.assertEqual(info["kernel"], minipaddle.kernel())

    def test_dot(self):
        self.assertEqual(minipaddle.dot([1, 2, 3], [4, 5, 6]), 32.0)
        self.assertAlmostEqual(minipaddle.dot([0.5] * 33, [2.0] * 33), 33.0, places=4)
        with self.assertRaises(ValueError):
            minipaddle.dot([1, 2], [1])

    def test_tensor_basics(self):
        t = minipaddle.tensor([[1, 2, 3], [4, 5, 6]])
        self.assertEqual(t.shape, (2, 3))
        self.assertEqual(t.size, 6)
        self.assertEqual(len(t), 2)
        self.assertEqual(t.tolist(), [[1, 2, 3], [4, 5, 6]])
        self.assertEqual(t[(1, 2)], 6.0)
        self.assertEqual(t[-1], 6.0)
        self.assertEqual(t.transpose().tolist(), [[1, 4], [2, 5], [3, 6]])
        self.assertEqual((t + t).data, [2, 4, 6, 8, 10, 12])
        self.assertEqual((t * t).data, [1, 4, 9, 16, 25, 36])
        self.assertEqual((2.0 * t).data, [2, 4, 6, 8, 10, 12])
        self.assertEqual(t.sum(), 21.0)
        prod = t @ t.transpose()
        self.assertEqual(prod.tolist(), [[14, 32], [32, 77]])
        self.assertEqual(minipaddle.relu(minipaddle.tensor([-1, 2])).tolist(), [0, 2])
        self.assertEqual(minipaddle.Tensor([2, 2], 1.0).data, [1, 1, 1, 1])
        with self.assertRaises(ValueError):
            t + t.transpose()
        with self.assertRaises(ValueError):
            minipaddle.tensor([[1, 2], [3]])
        with self.assertRaises(IndexError):
            t[6]

    def test_dense_and_sgd(self):
        layer = minipaddle.Dense(minipaddle.tensor([[1, 2], [3, 4]]), minipaddle.tensor([0.5, -1]))
        y = layer(minipaddle.tensor([[1, 1]]))
        self.assertEqual(y.tolist(), [[4.5, 5.0]])
        target = minipaddle.tensor([[4.5, 4.0]])
        self.assertAlmostEqual(minipaddle.mse_loss(y, target), 0.5)
        layer.backward(minipaddle.mse_loss_grad(y, target))
        minipaddle.SGD(0.1).step(layer)
        self.assertLess(minipaddle.mse_loss(layer(minipaddle.tensor([[1, 1]])), target), 0.5)

    def test_train_converges(self):
        result = minipaddle.train(steps=200)
        self.assertEqual(result.steps, 200)
        self.assertEqual(len(result.loss_history), 200)
        self.assertLess(result.final_loss, 1e-4)
        for learned, true in zip(result.weights, result.true_weights):
            self.assertAlmostEqual(learned, true, delta=0.01)
        self.assertAlmostEqual(result.bias, 1.0, delta=0.01)

    def test_gpu_entry_points(self):
        self.assertIsInstance(minipaddle.gpu_compiled(), bool)
        if minipaddle.gpu_available():
            self.assertEqual(minipaddle.saxpy_gpu(2.0, [1, 2, 3], [10, 20, 30]), [12, 24, 36])
        else:
            with self.assertRaises(RuntimeError):
                minipaddle.saxpy_gpu(2.0, [1.0], [1.0])


if __name__ == "__main__":
    unittest.main()
