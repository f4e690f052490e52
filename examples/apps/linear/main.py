"""Linear regression on minipaddle, data-parallel.

Run alone (``docker run --rm linear:0.1.0``) it trains on the whole data set. Run as a job of N workers
(Kubernetes, or ``pipeline k8s --app --rehearse``), each worker reads RANK, WORLD_SIZE, MASTER_ADDR and
MASTER_PORT, trains on its shard of the same data, and the workers sum their gradients every step: every
worker ends with the parameters a single worker reaches.
"""
import json
import os
import sys

import minipaddle as mp


def main():
    with open(os.path.join(os.path.dirname(os.path.abspath(__file__)), "params.json")) as f:
        params = json.load(f)
    comm = mp.init_distributed()
    print(f"worker {comm.rank} of {comm.world_size}: training on minipaddle {mp.__version__} ({mp.kernel()})", flush=True)
    result = mp.train(comm=comm, **params)
    # Every worker must hold the same parameters: their sum over the workers is world_size times ours.
    summed = mp.allreduce(list(result.weights) + [result.bias])
    mine = [w * comm.world_size for w in list(result.weights) + [result.bias]]
    if any(abs(a - b) > 1e-5 * comm.world_size for a, b in zip(summed, mine)):
        print("workers disagree on the parameters", file=sys.stderr)
        return 1
    print(f"steps: {result.steps}")
    print(f"final_loss: {result.final_loss!r}")
    print("weights: " + " ".join(repr(w) for w in result.weights))
    print(f"bias: {result.bias!r}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
