#!/usr/bin/env python3
"""bench_ddp's peer: PyTorch's DistributedDataParallel (gloo, CPU) on the same models (the MLP
1024-1024-1024-1024-10 and the LeNet CNN, float32, SGD), one thread per rank, the same per-rank
batches and bucket caps; "alone" are the same steps without DDP, run on every rank at the same
time. Prints the slowest rank's median ms per step.

  python3 bench/ddp_torch.py [world_size] [rounds] [steps] [mlp|cnn]   (apt-get install python3-torch)
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

WIDTH, CLASSES = 1024, 10


def make_mlp():
    torch.manual_seed(1)
    layers = []
    for _ in range(3):
        layers += [torch.nn.Linear(WIDTH, WIDTH), torch.nn.ReLU()]
    layers.append(torch.nn.Linear(WIDTH, CLASSES))
    return torch.nn.Sequential(*layers)


def make_lenet():
    torch.manual_seed(1)
    nn = torch.nn
    return nn.Sequential(nn.Conv2d(1, 6, 5), nn.ReLU(), nn.MaxPool2d(2), nn.Conv2d(6, 16, 5), nn.ReLU(),
                         nn.MaxPool2d(2), nn.Flatten(), nn.Linear(256, 120), nn.ReLU(), nn.Linear(120, 84),
                         nn.ReLU(), nn.Linear(84, CLASSES))


# name, builder, one sample's shape, per-rank batches, bucket caps (MB), as bench_ddp.
MODELS = [("mlp", make_mlp, (WIDTH,), (64, 256), (25.0, 4.0, 1.0)),
          ("cnn", make_lenet, (1, 28, 28), (64, 256), (25.0, 64 / 1024, 16 / 1024))]


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


def main(rank, world, rounds, steps, only):
    torch.set_num_threads(1)
    os.environ.setdefault("MASTER_ADDR", "127.0.0.1")
    os.environ.setdefault("MASTER_PORT", "29533")
    os.environ.setdefault("GLOO_SOCKET_IFNAME", "lo")  # loopback: without it gloo may wait on another interface
    dist.init_process_group("gloo", rank=rank, world_size=world)
    for name, make, sample, batches, caps in MODELS:
        if only and only != name:
            continue
        ddps = [torch.nn.parallel.DistributedDataParallel(make(), bucket_cap_mb=cap) for cap in caps]
        alone_model = make()
        if rank == 0:
            print(f"ddp_torch: PyTorch {torch.__version__} DDP (gloo), {name}, SGD, {world} rank(s), 1 thread each; "
                  f"median of {rounds} x {steps} steps")
        for batch in batches:
            g = torch.Generator().manual_seed(100 + rank)
            x = torch.randn(batch, *sample, generator=g)
            y = torch.randint(0, CLASSES, (batch,), generator=g)
            alone, dp = [], [[] for _ in caps]
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
                print(f"  alone              {a:8.2f}")
                for cap, ms in zip(caps, rows):
                    label = f"{cap:4.0f} MB" if cap >= 1 else f"{cap * 1024:4.0f} kB"
                    print(f"  ddp cap {label}    {ms:8.2f} {ms / a:8.2f}x")
    dist.destroy_process_group()


if __name__ == "__main__":
    world = int(sys.argv[1]) if len(sys.argv) > 1 else 2
    rounds = int(sys.argv[2]) if len(sys.argv) > 2 else 3
    steps = int(sys.argv[3]) if len(sys.argv) > 3 else 20
    only = sys.argv[4] if len(sys.argv) > 4 else ""
    mp.spawn(main, args=(world, rounds, steps, only), nprocs=world)
