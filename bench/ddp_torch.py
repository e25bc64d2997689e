#!/usr/bin/env python3
"""bench_ddp's peer: PyTorch's DistributedDataParallel (gloo, CPU) on the same MLP
(1024-1024-1024-1024-10, float32, SGD), one thread per rank, the same per-rank batches and
bucket caps; "alone" are the same steps without DDP, run on every rank at the same time.
Prints the slowest rank's median ms per step.

  python3 bench/ddp_torch.py [world_size] [rounds] [steps] [batch...]   (apt-get install python3-torch)
"""
import os
import statistics
import sys
import time

# One thread per rank, also in the BLAS under torch (torch.set_num_threads alone leaves it two).
for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(var, "1")

import torch  # noqa: E402
import torch.distributed as dist  # noqa: E402
import torch.multiprocessing as mp  # noqa: E402

WIDTH, CLASSES, CAPS = 1024, 10, (25.0, 4.0, 1.0)


def make_model():
    torch.manual_seed(1)
    layers = []
    for _ in range(3):
        layers += [torch.nn.Linear(WIDTH, WIDTH), torch.nn.ReLU()]
    layers.append(torch.nn.Linear(WIDTH, CLASSES))
    return torch.nn.Sequential(*layers)


def run(model, x, y, steps):
    opt = torch.optim.SGD(model.parameters(), lr=1e-3)
    times = []
    for s in range(-2, steps):
        t0 = time.perf_counter()
        opt.zero_grad()
        torch.nn.functional.cross_entropy(model(x), y).backward()  # DDP's allreduce ends in backward
        opt.step()
        if s >= 0:
            times.append(time.perf_counter() - t0)
    return statistics.median(times)


def worst(value):
    t = torch.tensor([value], dtype=torch.float64)
    dist.all_reduce(t, op=dist.ReduceOp.MAX)
    return t.item()


def main(rank, world, rounds, steps, batches):
    torch.set_num_threads(1)
    os.environ.setdefault("MASTER_ADDR", "127.0.0.1")
    os.environ.setdefault("MASTER_PORT", "29533")
    os.environ.setdefault("GLOO_SOCKET_IFNAME", "lo")  # loopback: without it gloo may wait on another interface
    dist.init_process_group("gloo", rank=rank, world_size=world)
    ddps = [torch.nn.parallel.DistributedDataParallel(make_model(), bucket_cap_mb=cap) for cap in CAPS]
    alone_model = make_model()
    if rank == 0:
        print(f"ddp_torch: PyTorch {torch.__version__} DDP (gloo), MLP {WIDTH}x3-{CLASSES}, SGD, {world} rank(s), "
              f"1 thread each; median of {rounds} x {steps} steps")
    for batch in batches:
        g = torch.Generator().manual_seed(100 + rank)
        x = torch.randn(batch, WIDTH, generator=g)
        y = torch.randint(0, CLASSES, (batch,), generator=g)
        alone, dp = [], [[] for _ in CAPS]
        for _ in range(rounds):
            dist.barrier()
            alone.append(run(alone_model, x, y, steps))
            dist.barrier()
            for c, m in enumerate(ddps):
                dp[c].append(run(m, x, y, steps))
        a = worst(statistics.median(alone)) * 1e3
        rows = [worst(statistics.median(d)) * 1e3 for d in dp]
        if rank == 0:
            print(f"batch {batch} per rank")
            print(f"  alone           {a:8.2f}")
            for cap, ms in zip(CAPS, rows):
                print(f"  ddp cap {cap:4.0f} MB {ms:8.2f} {ms / a:8.2f}x")
    dist.destroy_process_group()


if __name__ == "__main__":
    world = int(sys.argv[1]) if len(sys.argv) > 1 else 2
    rounds = int(sys.argv[2]) if len(sys.argv) > 2 else 3
    steps = int(sys.argv[3]) if len(sys.argv) > 3 else 20
    batches = [int(b) for b in sys.argv[4:]] or [64, 256]
    mp.spawn(main, args=(world, rounds, steps, batches), nprocs=world)
